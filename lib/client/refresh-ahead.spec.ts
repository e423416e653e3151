import { refreshAhead } from './index.js';

describe('refreshAhead: when to refresh before a session ends', () => {
  it('is 10% of the lifetime, clamped to 5 s – 5 min', () => {
    expect(refreshAhead(15 * 60_000)).toBe(90_000);
    expect(refreshAhead(24 * 3600_000)).toBe(300_000);
    expect(refreshAhead(20_000)).toBe(5_000);
  });

  it('is never more than half the lifetime: a 4-second token hears about it 2 s in', () => {
    expect(refreshAhead(4_000)).toBe(2_000);
    expect(refreshAhead(60_000, 50_000)).toBe(30_000);
  });

  it('takes a fixed lead when given one, and is never negative', () => {
    expect(refreshAhead(60_000, 1_000)).toBe(1_000);
    expect(refreshAhead(-5)).toBe(0);
  });
});
