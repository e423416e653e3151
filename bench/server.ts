/**
 * One server under test, started by harness.ts (pinned to its own core) with
 * `<variant> <options JSON>`. Controlled over IPC; every reply carries the
 * request id. Server CPU is read here, in the server's own process, because
 * wall-clock throughput mostly measures the load generator.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { createBenchApp, type AppOptions, type Variant } from './app.js';

const [variant, rawOptions] = process.argv.slice(2) as [Variant, string?];
const options: AppOptions = JSON.parse(rawOptions ?? '{}');
const PAYLOAD = { text: 'x'.repeat(64) };
const now = (): number => performance.timeOrigin + performance.now();

function heap(): number {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

const app = await createBenchApp(variant, options);

type Message = { id: number; cmd: string; k?: number; principal?: string };
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
