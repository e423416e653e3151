/**
 * The results of a run: each goal's median, interval, verdict, and the
 * samples behind them. Scenarios record here; run.ts writes them out.
 */
import {
  bootstrap,
  goalText,
  median,
  pairedDiffs,
  pairedRatios,
  verdict,
  type Estimate,
  type Goal,
  type Verdict,
} from './stats.js';

export interface Result {
  name: string;
  variant?: string;
  n: number;
  unit: string;
  /** Median of each variant's samples. */
  variants: Record<string, number>;
  baseline: string;
  /** The median of the per-round ratios (or differences, or the statistic itself; see `unit`). */
  ratio: number;
  ci: [number, number];
  rounds: number;
  /** How the interval was made: a bootstrap of the median, Student's t on the mean for few rounds, or none (a count). */
  interval: 'bootstrap' | 't' | 'count';
  goal: string;
  verdict: Verdict | 'no goal';
  met: boolean;
  /** Figures kept for the report (wall clock beside server CPU, heap per N …). */
  extra?: Record<string, unknown>;
  /** Sets of fresh server processes the rounds were spread over; the interval is over their per-set medians. */
  generations?: number;
  /** Every variant's raw per-round figures, in round order, for whoever wants to look closer. */
  samples?: Record<string, number[]>;
}

export const results: Result[] = [];
const sig = (x: number): number =>
  Math.abs(x) >= 100 ? Math.round(x) : Math.abs(x) >= 1 ? Math.round(x * 1000) / 1000 : Number(x.toPrecision(4));

export function record(
  r: Omit<Result, 'ratio' | 'ci' | 'rounds' | 'interval' | 'goal' | 'verdict' | 'met' | 'variants'> & {
    samples: Record<string, number[]>;
  },
  estimate: Estimate,
  goal?: Goal,
  goalUnit = '',
): Result {
  const v = goal ? verdict(estimate.ci, goal, estimate.rounds) : 'no goal';
  const { samples, ...rest } = r;
  const result: Result = {
    ...rest,
    variants: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, sig(median(xs))])),
    ratio: sig(estimate.value),
    ci: [sig(estimate.ci[0]), sig(estimate.ci[1])],
    rounds: estimate.rounds,
    interval: estimate.method,
    goal: goal ? goalText(goal, goalUnit) : '—',
    verdict: v,
    met: v === 'met',
    samples: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, xs.map(sig)])),
  };
  results.push(result);
  const mark = v === 'met' ? 'met' : v === 'missed' ? 'MISSED' : v;
  const perProcess = (result.extra?.perProcessRatios as number[] | undefined)?.join(' ');
  console.error(
    `  ${result.name}${result.variant ? ` (${result.variant})` : ''} n=${result.n}: ${result.ratio} [${result.ci.join(', ')}] ${result.goal} → ${mark}${perProcess ? ` (per set of processes: ${perProcess})` : ''}; ` +
      Object.entries(result.variants)
        .map(([k, x]) => `${k} ${x}`)
        .join(' · '),
  );
  return result;
}

/** A ratio ours/baseline taken round by round. */
export function recordRatio(
  r: Omit<Result, 'ratio' | 'ci' | 'rounds' | 'interval' | 'goal' | 'verdict' | 'met' | 'variants' | 'baseline'> & {
    samples: Record<string, number[]>;
  },
  ours: string,
  baseline: string,
  goal?: Goal,
  generation?: number[],
): Result {
  const ratios = pairedRatios(r.samples[ours], r.samples[baseline]);
  const count = generation ? new Set(generation).size : 1;
  if (!generation || count < 2) return record({ ...r, baseline }, bootstrap(ratios), goal);
  // Each set of processes gives one median ratio; the interval is over those, so it covers process-to-process noise.
  const perProcess = [...new Set(generation)].map((g) => median(ratios.filter((_, i) => generation[i] === g)));
  const estimate = bootstrap(perProcess);
  const extra = { ...r.extra, perProcessRatios: perProcess.map((x) => Number(x.toFixed(3))) };
  return record(
    { ...r, baseline, generations: count, extra },
    { ...estimate, value: median(ratios), rounds: ratios.length },
    goal,
  );
}

/** A difference ours − baseline taken round by round (bytes per socket). */
export function recordDiff(
  r: Omit<Result, 'ratio' | 'ci' | 'rounds' | 'interval' | 'goal' | 'verdict' | 'met' | 'variants' | 'baseline'> & {
    samples: Record<string, number[]>;
  },
  ours: string,
  baseline: string,
  goal?: Goal,
  goalUnit = '',
): Result {
  return record(
    { ...r, baseline: `${baseline} (${ours} − ${baseline})` },
    bootstrap(pairedDiffs(r.samples[ours], r.samples[baseline])),
    goal,
    goalUnit,
  );
}

export function pick(samples: Record<string, number[]>, keys: string[]): Record<string, number[]> {
  return Object.fromEntries(keys.filter((k) => samples[k]).map((k) => [k, samples[k]]));
}

/**
 * A total observed over the run (messages missed, `unauthorized` received),
 * whose goal is a bound on the total itself, usually zero: one miss is a miss,
 * so there is nothing to estimate. `perUnit` is the count per client; the
 * row's `rounds` says how many clients it covers.
 */
export function recordCount(
  r: Omit<
    Result,
    'ratio' | 'ci' | 'rounds' | 'interval' | 'goal' | 'verdict' | 'met' | 'variants' | 'baseline' | 'samples'
  >,
  perUnit: Record<string, number[]>,
  counted: string,
  goal?: Goal,
  goalUnit = '',
): Result {
  const total = perUnit[counted].reduce((a, b) => a + b, 0);
  const result = record(
    { ...r, baseline: 'n/a (count)', samples: perUnit },
    { value: total, ci: [total, total], rounds: perUnit[counted].length, method: 'count' },
    goal,
    goalUnit,
  );
  // Totals, not medians: the median client of a zero goal says nothing.
  result.variants = Object.fromEntries(Object.entries(perUnit).map(([k, xs]) => [k, xs.reduce((a, b) => a + b, 0)]));
  return result;
}
