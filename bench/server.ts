/**
 * One server under test, started by harness.ts (pinned to its own core) with
 * `<variant> <options JSON>`. Controlled over IPC; every reply carries the
 * request id. Server CPU is read here, in the server's own process, because
 * wall-clock throughput mostly measures the load generator.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { createBenchApp, StrategyCalls, type AppOptions, type Variant } from './app.js';

const [variant, rawOptions] = process.argv.slice(2) as [Variant, string?];
const options: AppOptions = JSON.parse(rawOptions ?? '{}');
const PAYLOAD = { text: 'x'.repeat(64) };
const now = (): number => performance.timeOrigin + performance.now();

function heap(): number {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

const app = await createBenchApp(variant, options);

/** The numbered broadcast stream of refresh_stream: `seq` events at `rate` per second, on average, however late timers fire. */
let stream: { timer: ReturnType<typeof setInterval>; first: number; sent: number } | undefined;
let seq = 0;
function startStream(rate: number): number {
  const t0 = performance.now();
  const s = { first: seq + 1, sent: 0, timer: undefined as unknown as ReturnType<typeof setInterval> };
  const tick = (): void => {
    const due = Math.floor(((performance.now() - t0) * rate) / 1000) + 1;
    while (s.sent < due) {
      app.io.emit('seq', { seq: ++seq });
      s.sent++;
    }
  };
  s.timer = setInterval(tick, 1000 / rate);
  tick();
  stream = s;
  return s.first;
}

type Message = {
  id: number;
  cmd: string;
  k?: number;
  principal?: string;
  rate?: number;
  from?: number;
  to?: number;
  prefix?: string;
  n?: number;
};
process.on('message', async (msg: Message) => {
  const reply = (value: unknown): void => void process.send!({ id: msg.id, value });
  switch (msg.cmd) {
    case 'broadcast':
      for (let i = 0; i < msg.k!; i++) app.io.emit('b', PAYLOAD);
      return reply(true);
    case 'stamped': // one broadcast carrying its send time, for delivery latency
      app.io.emit('b', { t: now(), ...PAYLOAD });
      return reply(true);
    case 'heap':
      return reply(heap());
    case 'count':
      return reply(app.io.of('/').sockets.size);
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return reply(user + system);
    }
    case 'snapshot': // for heap.ts: where the bytes per socket go
      heap();
      return reply(writeHeapSnapshot(join(tmpdir(), `nsa-bench-${variant}-${process.pid}-${msg.id}.heapsnapshot`)));
    case 'stream-start':
      return reply(startStream(msg.rate!));
    case 'stream-stop': {
      clearInterval(stream!.timer);
      const last = stream!.first + stream!.sent - 1;
      stream = undefined;
      return reply(last);
    }
    case 'calls': {
      // LifecycleStrategy's counts, and its authenticate() calls per 100 ms from `from` to `to`.
      const { authenticate, refreshes, revalidate } = app.calls!;
      const buckets = msg.from === undefined ? [] : app.calls!.between(msg.from, msg.to!);
      return reply({ authenticate, refreshes, revalidate, buckets, bucketMs: StrategyCalls.BUCKET_MS });
    }
    case 'revalidate': {
      // AuthSocketService.revalidate() for principals `<prefix>0` … `<prefix>n−1`, all at once; answers the sessions.
      const ids = Array.from({ length: msg.n! }, (_, i) => `${msg.prefix}${i}`);
      const answers = await Promise.all(ids.map((id) => app.auth!.revalidate(id)));
      return reply(answers.reduce((sum, a) => sum + a.sessions, 0));
    }
    case 'revoke': {
      const t0 = now();
      await app.auth!.revoke(msg.principal!);
      return reply({ t0, t1: now() });
    }
  }
});

// Exit cleanly on SIGINT so --cpu-prof can write its profile.
process.on('SIGINT', () => process.exit(0));
process.send!({ ready: app.port });
