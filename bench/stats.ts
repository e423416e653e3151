/**
 * Medians, bootstrap confidence intervals and verdicts. Pure functions: the
 * only file here a unit test could cover without a server.
 *
 * A verdict is decided on the interval, never on the point estimate: `met`
 * needs the whole 95% interval inside the goal, `missed` needs it wholly
 * outside, anything else is `inconclusive`.
 */

export type Verdict = 'met' | 'missed' | 'inconclusive';

/** `≥ 0.97`, `≤ 1.10`, or `within 0.95–1.05`. */
export type Goal = { op: '>='; value: number } | { op: '<='; value: number } | { op: 'within'; lo: number; hi: number };

export interface Estimate {
  /** The statistic on all samples (the median of the per-round values, unless stated). */
  value: number;
  ci: [number, number];
  /** How many samples (rounds, or events for latency percentiles) it rests on. */
  rounds: number;
  /**
   * `bootstrap`, or `t` below BOOTSTRAP_MIN rounds (see bootstrap()), or
   * `count`: a total observed over the whole run (messages missed), not
   * estimated from samples, so its interval is the count itself.
   */
  method: 'bootstrap' | 't' | 'count';
}

/**
 * Below this many rounds a percentile bootstrap of the median is far too
 * narrow (with 3 rounds it is [min, max], which covers the true median only
 * 75% of the time), so the interval is Student's t on the mean instead:
 * wide for noisy figures, still tight for steady ones such as heap per socket.
 */
export const BOOTSTRAP_MIN = 8;
/** Two-sided 95% Student t critical values by degrees of freedom. */
const T95 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262];

function tInterval(xs: readonly number[]): [number, number] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = T95[Math.min(n - 1, T95.length - 1)] * (sd / Math.sqrt(n));
  return [mean - half, mean + half];
}

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/** A small seeded PRNG (mulberry32), so the same samples always give the same interval. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Percentile bootstrap of `statistic` over `samples` (resampled with
 * replacement), 95% by default. With one sample the interval is that sample:
 * the verdict logic then refuses to call it anything but what it is.
 */
export function bootstrap(
  samples: readonly number[],
  statistic: (xs: number[]) => number = median,
  resamples = 4000,
  level = 0.95,
): Estimate {
  const value = statistic([...samples]);
  if (samples.length < 2) return { value, ci: [value, value], rounds: samples.length, method: 't' };
  if (samples.length < BOOTSTRAP_MIN && statistic === median)
    return { value, ci: tInterval(samples), rounds: samples.length, method: 't' };
  const random = prng(samples.length * 7919 + Math.round(Math.abs(value) * 1e6));
  const stats: number[] = new Array(resamples);
  const draw: number[] = new Array(samples.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < samples.length; i++) draw[i] = samples[Math.floor(random() * samples.length)];
    stats[r] = statistic(draw);
  }
  const alpha = (1 - level) / 2;
  return {
    value,
    ci: [quantile(stats, alpha), quantile(stats, 1 - alpha)],
    rounds: samples.length,
    method: 'bootstrap',
  };
}

/** Paired per-round ratios ours/baseline: each round's noise cancels within the round. */
export function pairedRatios(ours: readonly number[], baseline: readonly number[]): number[] {
  return ours.map((x, i) => x / baseline[i]);
}

export function pairedDiffs(ours: readonly number[], baseline: readonly number[]): number[] {
  return ours.map((x, i) => x - baseline[i]);
}

export function verdict([lo, hi]: [number, number], goal: Goal, rounds: number): Verdict {
  // Two samples cannot bound anything worth a verdict.
  if (rounds < 3 || !Number.isFinite(lo) || !Number.isFinite(hi)) return 'inconclusive';
  switch (goal.op) {
    case '>=':
      return lo >= goal.value ? 'met' : hi < goal.value ? 'missed' : 'inconclusive';
    case '<=':
      return hi <= goal.value ? 'met' : lo > goal.value ? 'missed' : 'inconclusive';
    case 'within':
      return lo >= goal.lo && hi <= goal.hi ? 'met' : hi < goal.lo || lo > goal.hi ? 'missed' : 'inconclusive';
  }
}

export function goalText(goal: Goal, unit = ''): string {
  const u = unit ? ` ${unit}` : '';
  if (goal.op === 'within') return `within ${goal.lo}–${goal.hi}${u}`;
  return `${goal.op === '>=' ? '≥' : '≤'} ${goal.value}${u}`;
}
