/**
 * One server under test, started by harness.ts (pinned to its own core) with
 * `<variant> <options JSON>`. Controlled over IPC; every reply carries the
 * request id. Server CPU is read here, in the server's own process, because
 * wall-clock throughput mostly measures the load generator.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { createBenchApp, ROOMS, StrategyCalls, type AppOptions, type Variant } from './app.js';

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

/** scenarios/storm.ts: the event loop's lateness for a timer of this period, while a storm lasts. */
const ELD_RESOLUTION_MS = 10;
let eld: IntervalHistogram | undefined;

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
  how?: JoinHow;
  passes?: number;
  room?: string;
  rooms?: string[];
};

/** scenarios/rooms.ts: plain `socket.join()`, `await socket.join()`, or `await AuthSocketService.join()`. */
type JoinHow = 'join' | 'await join' | 'service join';

/**
 * policed_join: every connected socket joins `<prefix>0` … `<prefix>k−1`, one
 * join at a time, `passes` times over, timed here (no I/O is involved, so this
 * is the server's own work). Before the first pass a full collection, and a
 * pause for the sweeper threads it leaves running on this same core, so no
 * variant pays for another's garbage. Untimed, after each pass: every join is
 * checked to have entered and the rooms are left; at the end, one join per
 * socket to the control room must be refused.
 */
async function joins(prefix: string, k: number, how: JoinHow, passes: number) {
  const sockets = [...app.io.of('/').sockets.values()];
  const rooms = Array.from({ length: k }, (_, j) => `${prefix}${j}`);
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
  let ms = 0;
  let cpuUs = 0;
  let missing = 0;
  for (let pass = 0; pass < passes; pass++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (how === 'join') for (const s of sockets) for (const room of rooms) void s.join(room);
    else if (how === 'await join') for (const s of sockets) for (const room of rooms) await s.join(room);
    else for (const s of sockets) for (const room of rooms) await app.auth!.join(s, room);
    ms += performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    cpuUs += cpu.user + cpu.system;
    for (const s of sockets) for (const room of rooms) if (!s.rooms.has(room)) missing++;
    for (const s of sockets) for (const room of rooms) void s.leave(room);
  }
  const count = sockets.length * k * passes;
  let admitted = 0;
  for (const s of sockets) {
    await s.join(`${ROOMS.refused}${prefix}`);
    if (s.rooms.has(`${ROOMS.refused}${prefix}`)) admitted++;
  }
  return { joins: count, ns: (ms * 1e6) / count, cpuNs: (cpuUs * 1e3) / count, missing, admitted };
}
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
    case 'cpuSplit': // profile.ts: where the CPU goes, user (JS, GC) or system (syscalls, loopback TCP)
      return reply(process.cpuUsage());
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
    case 'joins':
      return reply(await joins(msg.prefix!, msg.n!, msg.how!, msg.passes!));
    case 'room-fill': {
      // policed_broadcast: every socket into each room (policed ones through their policy); answers each room's size.
      for (const s of app.io.of('/').sockets.values()) for (const room of msg.rooms!) await s.join(room);
      const { rooms } = app.io.of('/').adapter;
      return reply(msg.rooms!.map((room) => rooms.get(room)?.size ?? 0));
    }
    case 'room-broadcast':
      for (let i = 0; i < msg.k!; i++) app.io.to(msg.room!).emit('b', PAYLOAD);
      return reply(true);
    case 'eld-start':
      eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
      eld.enable();
      return reply(true);
    case 'eld-stop': {
      // The histogram records the time between the timer's ticks, period included: what is reported is the lateness.
      eld!.disable();
      const late = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
      const out = { maxMs: late(eld!.max), p99Ms: late(eld!.percentile(99)), resolutionMs: ELD_RESOLUTION_MS };
      eld = undefined;
      return reply(out);
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
