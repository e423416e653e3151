/**
 * A client worker for scale_10k: one load-generator process cannot drive
 * 10,000 sockets fast enough, so several of these share the work, pinned to
 * the load generator's core. Records the delivery latency of stamped broadcasts.
 * scenarios/storm.ts uses them too (`storm`): every socket opened at once.
 */
import type { Socket } from 'socket.io-client';
import { now, open, openMany, type Mode } from './harness.js';

let sockets: Socket[] = [];
let latencies: number[] = [];
let stamped = 0;
const waiters: { count: number; resolve: () => void }[] = [];

function onBroadcast(body: { t?: number }): void {
  if (body.t === undefined) return;
  latencies.push(now() - body.t);
  stamped++;
  for (const w of waiters.filter((x) => stamped >= x.count)) {
    waiters.splice(waiters.indexOf(w), 1);
    w.resolve();
  }
}

type Message = { id: number; cmd: string; url?: string; n?: number; mode?: Mode; count?: number };
process.on('message', async (msg: Message) => {
  const reply = (value: unknown): void => void process.send!({ id: msg.id, value });
  switch (msg.cmd) {
    case 'open':
      sockets = await openMany(msg.url!, msg.n!, msg.mode!, 50);
      sockets.forEach((s) => s.on('b', onBroadcast));
      return reply(sockets.length);
    case 'await': // resolves once every socket here got `count` stamped broadcasts in all
      if (stamped >= msg.count! * sockets.length) return reply(true);
      return waiters.push({ count: msg.count! * sockets.length, resolve: () => reply(true) });
    case 'latencies': {
      const out = latencies;
      latencies = [];
      return reply(out);
    }
    case 'storm': {
      // All n at once, none waiting for another (a reconnect storm); failures are counted, not thrown.
      // `times`: each socket's ms from the storm's start here until it was ready.
      const t0 = performance.now();
      const times: number[] = [];
      const opened = await Promise.allSettled(
        Array.from({ length: msg.n! }, () =>
          open(msg.url!, msg.mode!).then((s) => (times.push(performance.now() - t0), s)),
        ),
      );
      sockets = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = opened.filter((r) => r.status === 'rejected');
      return reply({
        opened: sockets.length,
        failed: failed.length,
        error: failed.length ? String((failed[0] as PromiseRejectedResult).reason) : undefined,
        times,
      });
    }
    case 'close':
      sockets.forEach((s) => s.disconnect());
      sockets = [];
      stamped = 0;
      return reply(true);
  }
});
process.send!({ ready: true });
