/**
 * flood_recovery: the heap returns to where it was after a flood of sockets
 * that never authenticate and time out.
 * flood_latency: p99 round trip of authenticated chatters while idle
 * unauthenticated sockets sit on the server, against the same without them.
 */
import { C, quick } from '../config.js';
import { BenchServer, closeAll, open, openMany, progress, sleep } from '../harness.js';
import { record } from '../record.js';
import { bootstrap, pairedRatios, quantile } from '../stats.js';
import type { Socket } from 'socket.io-client';

export async function floodRecovery(): Promise<void> {
  const server = await BenchServer.start('ours', { timeout: C.flood.timeout });
  const before: number[] = [];
  const after: number[] = [];
  const t0 = performance.now();
  try {
    await closeAll(await openMany(server.url, Math.min(200, C.flood.n), 'plain'), server); // warm-up
    for (let round = 0; round < C.flood.rounds; round++) {
      before.push(await server.call<number>('heap'));
      const flood = await openMany(server.url, C.flood.n, 'plain'); // never authenticate
      await Promise.all(flood.map((s) => (s.connected ? new Promise((r) => s.once('disconnect', r)) : undefined)));
      await server.settle();
      after.push(await server.call<number>('heap'));
      progress(`flood_recovery: round ${round + 1}/${C.flood.rounds}`, t0);
    }
  } finally {
    server.stop();
  }
  record(
    {
      name: 'flood_recovery',
      n: C.flood.n,
      unit: 'heap after / heap before',
      baseline: 'before',
      samples: { before, after },
    },
    bootstrap(pairedRatios(after, before)),
    { op: 'within', lo: 0.95, hi: 1.05 },
  );
}

async function p99RoundTrip(sockets: Socket[], ms: number): Promise<number> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(
    sockets.map(async (s) => {
      while (performance.now() < end) {
        const t = performance.now();
        await s.emitWithAck('echo', 1);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return quantile(latencies, 0.99);
}

export async function floodLatency(): Promise<void> {
  const server = await BenchServer.start('ours', { timeout: 120_000 });
  const quiet: number[] = [];
  const flooded: number[] = [];
  const t0 = performance.now();
  try {
    const chatters = await Promise.all(Array.from({ length: C.latency.clients }, () => open(server.url, 'message')));
    await p99RoundTrip(chatters, quick ? 50 : 300);
    for (let round = 0; round < C.latency.rounds; round++) {
      quiet.push(await p99RoundTrip(chatters, C.latency.ms));
      const idle = await openMany(server.url, C.latency.idle, 'plain');
      flooded.push(await p99RoundTrip(chatters, C.latency.ms));
      await closeAll(idle, server, C.latency.clients);
      await sleep(50);
      progress(`flood_latency: round ${round + 1}/${C.latency.rounds}`, t0);
    }
    chatters.forEach((s) => s.disconnect());
  } finally {
    server.stop();
  }
  record(
    {
      name: 'flood_latency',
      n: C.latency.idle,
      unit: 'p99 round trip, ms',
      baseline: 'no flood',
      samples: { 'no flood': quiet, flood: flooded },
    },
    bootstrap(pairedRatios(flooded, quiet)),
    { op: '<=', value: 1.5 },
  );
}
