/**
 * connect_auth: opening and authenticating N sockets, each variant
 * authenticating the way it does in production, `handwritten` being message
 * mode with nothing else (app.ts). Per round and variant: the wall-clock time
 * to open all N, the server's own CPU per connection over the same window
 * (process.cpuUsage() in the server, as the throughput goals), and the
 * server's heap per socket (for the chart).
 *
 * The goals are decided on server CPU per connection (rows "…, server CPU"):
 * wall-clock connect time on a loaded 2-core machine measures the scheduler
 * and the load generator as much as the server. The wall-clock rows keep
 * their meaning (ms to open all N, ours ÷ the baseline) and are reported
 * beside them without a goal; each CPU row also carries its wall-clock ratio
 * in `extra.wall`.
 */
import { C } from '../config.js';
import { closeAll, serversFor, interleave, MODE, openMany, sleep } from '../harness.js';
import { pick, recordRatio } from '../record.js';
import { bootstrap, median, pairedRatios } from '../stats.js';
import type { Variant } from '../app.js';

const VARIANTS: Variant[] = ['nest', 'middleware', 'ours', 'ours-handshake', 'handwritten'];
const CPU_UNIT = 'server CPU µs per connection';
/** After the heap reading's forced GCs, before the CPU window (see below). */
const QUIET_MS = 300;
const WALL_UNIT = 'ms to open all';

const wallRatio = (samples: Record<string, number[]>, ours: string, base: string) => {
  const e = bootstrap(pairedRatios(samples[ours], samples[base]));
  return { ratio: Number(e.value.toFixed(3)), ci: e.ci.map((x) => Number(x.toFixed(3))) };
};

/** The comparisons, each recorded on server CPU (with its goal) and on wall clock (without). */
const COMPARISONS: { variant: string; ours: Variant; baseline: Variant; shown: Variant[]; goal: number }[] = [
  { variant: 'message mode', ours: 'ours', baseline: 'middleware', shown: ['nest', 'middleware', 'ours'], goal: 1.1 },
  {
    variant: 'handshake mode',
    ours: 'ours-handshake',
    baseline: 'middleware',
    shown: ['middleware', 'ours-handshake'],
    goal: 1.05,
  },
  {
    variant: 'message mode vs hand-written',
    ours: 'ours',
    baseline: 'handwritten',
    shown: ['handwritten', 'ours'],
    goal: 1.05,
  },
];

export async function connectAuth(): Promise<void> {
  const { servers, release } = await serversFor(VARIANTS);
  try {
    for (const { n, rounds } of C.connect) {
      const samples = await interleave(
        `connect_auth n=${n}`,
        VARIANTS,
        rounds,
        async (variant) => {
          const server = servers.get(variant)!;
          const heap0 = await server.call<number>('heap');
          // The forced full GCs of heap() go on in V8's background threads (sweeping, unmapping) for a while, and
          // process CPU counts every thread: start the window once they are done, not inside their tail.
          await sleep(QUIET_MS);
          const cpu0 = await server.cpu();
          const t0 = performance.now();
          const sockets = await openMany(server.url, n, MODE[variant]);
          const ms = performance.now() - t0;
          const cpu = (await server.cpu()) - cpu0;
          const heap = ((await server.call<number>('heap')) - heap0) / n;
          await closeAll(sockets, server);
          return { ms, cpuMs: cpu / 1000, cpuUs: cpu / n, heap };
        },
        n === C.connect[0].n ? 1 : 0,
      ); // the servers are warm after the first N
      const extra = {
        serverCpuMs: Object.fromEntries(
          Object.entries(samples.cpuMs).map(([k, xs]) => [k, Math.round(median(xs) * 10) / 10]),
        ),
        heapPerSocket: Object.fromEntries(Object.entries(samples.heap).map(([k, xs]) => [k, Math.round(median(xs))])),
      };
      for (const { variant, ours, baseline, shown, goal } of COMPARISONS)
        recordRatio(
          {
            name: 'connect_auth',
            variant: `${variant}, server CPU`,
            n,
            unit: CPU_UNIT,
            samples: pick(samples.cpuUs, shown),
            extra: { wall: wallRatio(samples.ms, ours, baseline) },
          },
          ours,
          baseline,
          { op: '<=', value: goal },
        );
      // Wall clock, as these rows always were; no goal now. The message-mode row carries every variant (the chart).
      for (const { variant, ours, baseline, shown } of COMPARISONS)
        recordRatio(
          {
            name: 'connect_auth',
            variant,
            n,
            unit: WALL_UNIT,
            samples: pick(samples.ms, variant === 'message mode' ? [...shown, 'handwritten'] : shown),
            ...(variant === 'message mode' ? { extra } : {}),
          },
          ours,
          baseline,
        );
    }
  } finally {
    release();
  }
}
