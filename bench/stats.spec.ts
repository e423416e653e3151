import { bootstrap, median, pairedRatios, verdict } from './stats.js';

/** Deterministic noise: a few percent either side of 1, like bare socket.io's CPU per message from round to round. */
const noisy = (n: number, spread: number, seed = 1): number[] =>
  Array.from({ length: n }, (_, i) => 1 + spread * Math.sin(seed * 12.9898 + i * 78.233));

describe('verdicts are decided on the interval, never on the median', () => {
  it('an interval that straddles the goal is inconclusive even when its median is inside it', () => {
    expect(verdict([0.95, 1.02], { op: '>=', value: 0.97 }, 20)).toBe('inconclusive');
    expect(verdict([1.05, 1.2], { op: '<=', value: 1.1 }, 20)).toBe('inconclusive');
    expect(verdict([0.94, 1.01], { op: 'within', lo: 0.95, hi: 1.05 }, 20)).toBe('inconclusive');
  });

  it('met needs the whole interval inside the goal, missed needs it wholly outside', () => {
    expect(verdict([0.98, 1.03], { op: '>=', value: 0.97 }, 20)).toBe('met');
    expect(verdict([0.9, 0.96], { op: '>=', value: 0.97 }, 20)).toBe('missed');
    expect(verdict([0.9, 1.1], { op: '<=', value: 1.1 }, 20)).toBe('met');
    expect(verdict([1.11, 1.3], { op: '<=', value: 1.1 }, 20)).toBe('missed');
    expect(verdict([0.96, 1.04], { op: 'within', lo: 0.95, hi: 1.05 }, 20)).toBe('met');
    expect(verdict([1.06, 1.1], { op: 'within', lo: 0.95, hi: 1.05 }, 20)).toBe('missed');
  });

  it('fewer than three rounds decide nothing', () => {
    expect(verdict([0.99, 1.0], { op: '>=', value: 0.97 }, 2)).toBe('inconclusive');
  });
});

describe('intervals', () => {
  it('twenty rounds with ±5% round-to-round noise bound the median to within ±3%', () => {
    const e = bootstrap(noisy(20, 0.05));
    expect(e.method).toBe('bootstrap');
    expect(e.ci[0]).toBeLessThanOrEqual(e.value);
    expect(e.ci[1]).toBeGreaterThanOrEqual(e.value);
    expect(e.ci[1] - e.ci[0]).toBeLessThan(0.06);
    expect(verdict(e.ci, { op: '>=', value: 0.9 }, e.rounds)).toBe('met');
  });

  it('three noisy rounds get an interval wider than their range, so a median inside the goal is not called met', () => {
    const xs = [0.99, 1.03, 1.06];
    const e = bootstrap(xs);
    expect(e.method).toBe('t');
    expect(e.ci[0]).toBeLessThan(Math.min(...xs));
    expect(e.ci[1]).toBeGreaterThan(Math.max(...xs));
    expect(median(xs)).toBeGreaterThanOrEqual(0.97);
    expect(verdict(e.ci, { op: '>=', value: 0.97 }, e.rounds)).toBe('inconclusive');
  });

  it('the same samples always give the same interval', () => {
    const xs = noisy(16, 0.1, 3);
    expect(bootstrap(xs)).toEqual(bootstrap(xs));
  });

  it('pairing by round cancels load that slows both variants of a round alike', () => {
    // The machine's load multiplies a round's figures by anything from 0.5 to 2; ours is 2% slower in every round.
    const load = noisy(20, 0.6, 7).map((x) => x * x);
    const baseline = load.map((l) => 1000 * l);
    const ours = load.map((l) => 980 * l);
    const paired = bootstrap(pairedRatios(ours, baseline));
    expect(paired.ci[0]).toBeCloseTo(0.98, 6);
    expect(paired.ci[1]).toBeCloseTo(0.98, 6);
    expect(verdict(paired.ci, { op: '>=', value: 0.97 }, paired.rounds)).toBe('met');
  });
});
