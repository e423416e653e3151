/**
 * Sizes and round counts. Full: under 15 minutes on a loaded 2-core machine.
 * Quick (`-- --quick`, run in CI): under a minute with the build, proves the
 * harness works and decides nothing.
 */
export const quick = process.argv.includes('--quick');

export const C = quick
  ? {
      connect: [{ n: 50, rounds: 3 }],
      fanout: { ns: [50], generations: 1, rounds: 3, deliveries: 2_000 },
      rt: { clients: 10, ms: 150, generations: 1, rounds: 3 },
      scale: { n: 400, workers: 2, rounds: 1, broadcasts: 3 },
      cluster: { perNode: 20, rounds: 3, deliveries: 1_500 },
      revoke: { samples: 8 },
      flood: { n: 100, timeout: 400, rounds: 1 },
      latency: { clients: 5, ms: 200, idle: 100, rounds: 1 },
      micro: { rounds: 3, time: 20, sockets: 50 },
      // scenarios/jwks.ts: rounds of tinybench runs of `time` ms per side (fewer than 8 rounds: a t interval).
      jwks: { rounds: 3, time: 50 },
      // scenarios/lifecycle.ts: n clients (sessions) of each kind. storm: with 8 s tokens the helper refreshes 2–4 s
      // after being handed one, so no storm refresh falls within the 1 s over which the tokens are handed out.
      stream: { n: 10, seconds: 6, lifetimeMs: 2000, rate: 50, control: 2 },
      storm: { n: 300, lifetimeMs: 8000, rounds: 1 },
      revalidate: { m: 100, rounds: 3 },
      // scenarios/rooms.ts: `sockets` each joining `joins` rooms, `passes` times per measurement; broadcasts to rooms
      // of `n` sockets. Rounds a multiple of the variants (4 and 3), so each goes first equally often.
      roomJoin: { sockets: 20, joins: 20, passes: 2, generations: 1, rounds: 4 },
      roomBroadcast: { n: 50, generations: 1, rounds: 3, deliveries: 2_000 },
      // scenarios/storm.ts: n clients opened at once by `workers` client workers, against a 2 ms token check, while
      // `pingers` authenticated users ping every `pingMs`. Rounds a multiple of the variants (2).
      connectStorm: { n: 300, workers: 2, rounds: 2, pingers: 10, pingMs: 50, delayMs: 2 },
      // scenarios/telemetry.ts: `clients` doing guarded round trips for `ms`, then `n` connect + authenticate. Rounds
      // a multiple of the variants (4), so each goes first equally often.
      telemetry: { clients: 10, ms: 150, n: 50, generations: 1, rounds: 4, inProcess: { rounds: 4, time: 50 } },
    }
  : {
      connect: [
        { n: 250, rounds: 16 },
        { n: 1000, rounds: 6 },
      ],
      // rounds per set of fresh processes (see acrossProcesses in harness.ts)
      fanout: { ns: [250, 2000], generations: 6, rounds: 3, deliveries: 20_000 },
      rt: { clients: 100, ms: 500, generations: 8, rounds: 3 },
      scale: {
        n: Number(process.env.NSA_BENCH_SCALE_N ?? 10_000),
        workers: 4,
        rounds: Number(process.env.NSA_BENCH_SCALE_ROUNDS ?? 5),
        broadcasts: 10,
      },
      cluster: { perNode: 300, rounds: 20, deliveries: 18_000 },
      revoke: { samples: 60 },
      flood: { n: 2000, timeout: 1000, rounds: 5 },
      latency: { clients: 50, ms: 1000, idle: 2000, rounds: 6 },
      micro: { rounds: 12, time: 100, sockets: 1000 },
      jwks: { rounds: 12, time: 200 },
      stream: { n: 100, seconds: 30, lifetimeMs: 2000, rate: 50, control: 5 },
      // 12 s: `refreshAhead` 'auto' is then 5 s for every session, as for lifetimes up to 50 s.
      storm: { n: 5000, lifetimeMs: 12_000, rounds: 5 },
      revalidate: { m: 1000, rounds: 20 },
      // rounds per set of fresh processes, as fanout: 8 sets, so the interval over their medians is a bootstrap;
      // rounds a multiple of the variants (4 and 3), so each goes first equally often.
      roomJoin: { sockets: 300, joins: 40, passes: 5, generations: 8, rounds: 4 },
      roomBroadcast: { n: 1000, generations: 8, rounds: 6, deliveries: 20_000 },
      // 16 rounds, each variant first in half of them: with 8, server CPU per connection was inconclusive in two runs in
      // a row (1.25 [1.09, 1.5], 1.29 [1.05, 1.48]); a bootstrap interval over 16 medians is about a third narrower.
      connectStorm: {
        n: Number(process.env.NSA_BENCH_STORM_N ?? 10_000),
        workers: 4,
        rounds: Number(process.env.NSA_BENCH_STORM_ROUNDS ?? 16),
        pingers: 50,
        pingMs: 100,
        delayMs: 2,
      },
      // rounds per set of fresh processes (a multiple of the 4 variants), 6 sets: a bootstrap over their medians.
      telemetry: { clients: 100, ms: 500, n: 250, generations: 6, rounds: 4, inProcess: { rounds: 12, time: 200 } },
    };
