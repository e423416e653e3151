/**
 * A client worker for scale_10k: one load-generator process cannot drive
 * 10,000 sockets fast enough, so several of these share the work, pinned to
 * the load generator's core. Records the delivery latency of stamped broadcasts.
 */
import type { Socket } from 'socket.io-client';
import { now, openMany, type Mode } from './harness.js';

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
    case 'close':
      sockets.forEach((s) => s.disconnect());
      sockets = [];
      stamped = 0;
      return reply(true);
  }
});
process.send!({ ready: true });
