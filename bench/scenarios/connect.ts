/**
 * connect_auth: the time to open and authenticate N sockets, each variant
 * authenticating the way it does in production. The same rounds also give
 * the server's heap per socket at each N (for the chart).
 */
import { C } from '../config.js';
import { closeAll, serversFor, interleave, MODE, openMany } from '../harness.js';
import { pick, recordRatio } from '../record.js';
import { median } from '../stats.js';
import type { Variant } from '../app.js';

const VARIANTS: Variant[] = ['nest', 'middleware', 'ours', 'ours-handshake'];

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
          const cpu0 = await server.cpu();
          const t0 = performance.now();
          const sockets = await openMany(server.url, n, MODE[variant]);
          const ms = performance.now() - t0;
          const cpu = (await server.cpu()) - cpu0;
          const heap = ((await server.call<number>('heap')) - heap0) / n;
          await closeAll(sockets, server);
          return { ms, cpuMs: cpu / 1000, heap };
        },
        n === C.connect[0].n ? 1 : 0,
      ); // the servers are warm after the first N
      const extra = {
        serverCpuMs: Object.fromEntries(
          Object.entries(samples.cpuMs).map(([k, xs]) => [k, Math.round(median(xs) * 10) / 10]),
        ),
        heapPerSocket: Object.fromEntries(Object.entries(samples.heap).map(([k, xs]) => [k, Math.round(median(xs))])),
      };
      const ms = samples.ms;
      recordRatio(
        {
          name: 'connect_auth',
          variant: 'message mode',
          n,
          unit: 'ms to open all',
          samples: pick(ms, ['nest', 'middleware', 'ours']),
          extra,
        },
        'ours',
        'middleware',
        { op: '<=', value: 1.1 },
      );
      recordRatio(
        {
          name: 'connect_auth',
          variant: 'handshake mode',
          n,
          unit: 'ms to open all',
          samples: pick(ms, ['middleware', 'ours-handshake']),
        },
        'ours-handshake',
        'middleware',
        { op: '<=', value: 1.05 },
      );
    }
  } finally {
    release();
  }
}
