/**
 * scale_10k: 10,000 authenticated sockets on one server process, opened by
 * several pinned client workers. Per round and variant: the time to connect
 * and authenticate all of them and the server's CPU per connection over it
 * (which decides the goal), the server heap per socket, and the p99 delivery
 * latency of a broadcast to all of them.
 */
import type { Variant } from '../app.js';
import { C } from '../config.js';
import { interleave, serversFor, Ipc, live, LOAD_CORE, MODE, pin, sleep, spawnNode } from '../harness.js';
import { pick, record, recordDiff, recordRatio } from '../record.js';
import { bootstrap, pairedRatios, quantile } from '../stats.js';

const VARIANTS: Variant[] = ['nest', 'middleware', 'ours'];

export async function scale10k(): Promise<void> {
  const { n, workers: w, rounds, broadcasts } = C.scale;
  const workers: Ipc[] = [];
  const children = Array.from({ length: w }, () => spawnNode('./clients.js', []));
  children.forEach((c) => (live.add(c), workers.push(new Ipc(c))));
  const [{ servers, release }] = await Promise.all([
    serversFor(VARIANTS),
    ...children.map((c) => Ipc.ready(c, 'client worker')),
  ]);
  try {
    children.forEach((c) => pin(c, LOAD_CORE));
    const all = <T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T[]> =>
      Promise.all(workers.map((x) => x.call<T>(cmd, extra)));
    // A short warm-up on every server: code that runs for the first time (and what it allocates once) is then not
    // counted as bytes per socket in the first round. A fifth of N, so it costs far less than a round.
    for (const v of VARIANTS) {
      const server = servers.get(v)!;
      await all('open', { url: server.url, n: n / 5 / w, mode: MODE[v] });
      await all('close');
      await server.settle();
    }
    const samples = await interleave(
      `scale_10k n=${n}`,
      VARIANTS,
      rounds,
      async (v) => {
        const server = servers.get(v)!;
        const heap0 = await server.call<number>('heap');
        const cpu0 = await server.cpu();
        const t0 = performance.now();
        await all('open', { url: server.url, n: n / w, mode: MODE[v] });
        const connectMs = performance.now() - t0;
        const connectCpuUs = ((await server.cpu()) - cpu0) / n;
        const heap = ((await server.call<number>('heap')) - heap0) / n;
        for (let i = 1; i <= broadcasts; i++) {
          await server.call('stamped');
          await all('await', { count: i });
          await sleep(20);
        }
        const p99 = quantile((await all<number[]>('latencies')).flat(), 0.99);
        await all('close');
        await server.settle();
        return { connectMs, connectCpuUs, heap, p99 };
      },
      0, // a whole warm-up round of 10,000 sockets would cost as much as a round: the short one above does
    );
    const extra = {
      heapPerSocket: Object.fromEntries(
        Object.entries(samples.heap).map(([k, xs]) => [k, Math.round(quantile(xs, 0.5))]),
      ),
    };
    recordDiff(
      { name: 'scale_10k', variant: 'heap per socket', n, unit: 'bytes per socket', samples: samples.heap, extra },
      'ours',
      'nest',
      { op: '<=', value: 768 },
      'B',
    );
    recordDiff(
      {
        name: 'scale_10k',
        variant: 'heap per socket vs middleware',
        n,
        unit: 'bytes per socket',
        samples: pick(samples.heap, ['middleware', 'ours']),
      },
      'ours',
      'middleware',
    );
    // Decided on server CPU, as connect_auth: the wall clock of 10,000 opens mostly measures the client workers.
    recordRatio(
      {
        name: 'scale_10k',
        variant: 'connect+auth all, server CPU',
        n,
        unit: 'server CPU µs per connection',
        samples: samples.connectCpuUs,
      },
      'ours',
      'middleware',
      { op: '<=', value: 1.1 },
    );
    recordRatio(
      { name: 'scale_10k', variant: 'connect+auth all', n, unit: 'ms to open all', samples: samples.connectMs },
      'ours',
      'middleware',
    );
    record(
      {
        name: 'scale_10k',
        variant: 'broadcast p99 latency',
        n,
        unit: 'p99 ms, broadcast to all',
        baseline: 'nest',
        samples: samples.p99,
      },
      bootstrap(pairedRatios(samples.p99.ours, samples.p99.nest)),
    );
  } finally {
    release();
    workers.forEach((x) => x.child.kill('SIGKILL'));
  }
}
