/**
 * `npm run bench [-- --quick]`: what authentication costs, measured against
 * bare socket.io and Nest. This process is the load generator; each variant's
 * server runs in its own forked process (bench/server.ts). Variants are
 * measured interleaved (A B A B …) and the median of the rounds is reported,
 * because only ratios taken side by side mean anything on a noisy machine.
 */
import { fork, type ChildProcess, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';

const quick = process.argv.includes('--quick');
const C = quick
  ? { rounds: 2, ns: [100], n: 100, k: 10, rtClients: 20, rtMs: 300, heapN: 100, floodN: 200, floodTimeout: 500, latClients: 10, latMs: 400, idle: 200 }
  : { rounds: 3, ns: [250, 500, 1000, 2000], n: 1000, k: 20, rtClients: 200, rtMs: 2000, heapN: 1000, floodN: 2000, floodTimeout: 1000, latClients: 50, latMs: 2000, idle: 2000 };

type Variant = 'bare' | 'nest' | 'middleware' | 'ours' | 'ours-handshake' | 'ours-unmarked';
interface Result {
  name: string;
  n: number;
  unit: string;
  variants: Record<string, number>;
  ratio: number;
  baseline: string;
  goal: string;
  met: boolean;
  variant?: string;
}

// ── open files ───────────────────────────────────────────────────────────────
const needFds = Math.max(...C.ns, C.floodN + C.latClients, C.idle) * 2 + 512;
const currentFds = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0;
if (currentFds < needFds && !process.env.NSA_BENCH_REEXEC) {
  // Node cannot raise its own limit: re-run under a shell that does.
  const args = [...process.execArgv, ...process.argv.slice(1)].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('sh', ['-c', `ulimit -n ${needFds} && exec '${process.execPath}' ${args}`], { stdio: 'inherit', env: { ...process.env, NSA_BENCH_REEXEC: '1' } });
  if (r.status === 0 || r.status !== null && r.status !== 126) process.exit(r.status ?? 1);
  console.log(`open-files limit is ${currentFds} and could not be raised to ${needFds}; large N may fail`);
}
if (process.env.NSA_BENCH_REEXEC) console.log(`open-files limit raised to ${spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()}`);

// ── servers ──────────────────────────────────────────────────────────────────
class BenchServer {
  private seq = 0;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  private constructor(readonly child: ChildProcess, readonly url: string) {
    child.on('message', (m: { id?: number; value?: unknown }) => {
      if (m.id !== undefined) this.waiting.get(m.id)?.(m.value), this.waiting.delete(m.id);
    });
  }

  static start(variant: Variant, options: { timeout?: number } = {}): Promise<BenchServer> {
    const child = fork(fileURLToPath(new URL('./server.js', import.meta.url)), [variant, JSON.stringify(options)], { execArgv: ['--expose-gc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: { ready?: number }) => resolve(new BenchServer(child, `http://127.0.0.1:${m.ready}`)));
      child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
    });
  }

  call<T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.send({ cmd, id, ...extra });
    });
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 200 && (await this.call<number>('count')) > 0; i++) await sleep(25);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

// ── clients ──────────────────────────────────────────────────────────────────
type Mode = 'plain' | 'handshake-token' | 'message' | 'handshake';
const MODE: Record<Variant, Mode> = { bare: 'plain', nest: 'plain', middleware: 'handshake-token', ours: 'message', 'ours-handshake': 'handshake', 'ours-unmarked': 'message' };
let tokenSeq = 0;

/** Resolves once the socket is ready for work: connected, and authenticated where the variant asks. */
function open(url: string, mode: Mode): Promise<Socket> {
  const token = `tok-${++tokenSeq}`;
  const auth = mode === 'handshake' || mode === 'handshake-token' ? { token } : undefined;
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  return new Promise((resolve, reject) => {
    socket.once('connect_error', reject);
    if (mode === 'message') {
      socket.once('connect', () => socket.emit('authentication', { token }));
      socket.once('authenticated', () => resolve(socket));
    } else if (mode === 'handshake') socket.once('authenticated', () => resolve(socket));
    else socket.once('connect', () => resolve(socket));
  });
}

/** Opens n sockets, at most 100 handshakes in flight (the same for every variant). */
async function openMany(url: string, n: number, mode: Mode): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(100, n) }, async () => {
      while (next < n) {
        next++;
        sockets.push(await open(url, mode));
      }
    }),
  );
  return sockets;
}

async function closeAll(sockets: Socket[], server: BenchServer): Promise<void> {
  sockets.forEach((s) => s.disconnect());
  await server.settle();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

/** Runs measure() for each variant in turn, round after round, and keeps the medians. */
async function interleaved(variants: Variant[], measure: (v: Variant, s: BenchServer) => Promise<number>, options: { timeout?: number } = {}): Promise<Record<string, number>> {
  const servers = new Map<Variant, BenchServer>();
  for (const v of variants) servers.set(v, await BenchServer.start(v, options));
  const samples: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]));
  try {
    // One untimed pass, so JIT warm-up does not land on whichever variant goes first.
    for (const v of variants) await measure(v, servers.get(v)!);
    for (let round = 0; round < C.rounds; round++) {
      for (const v of variants) samples[v].push(await measure(v, servers.get(v)!));
    }
  } finally {
    servers.forEach((s) => s.stop());
  }
  return Object.fromEntries(variants.map((v) => [v, median(samples[v])]));
}

// ── scenarios ────────────────────────────────────────────────────────────────
const results: Result[] = [];
const round2 = (x: number): number => Math.round(x * 100) / 100;
function record(r: Omit<Result, 'ratio' | 'met'>, ratio: number, met: boolean): void {
  results.push({ ...r, variants: Object.fromEntries(Object.entries(r.variants).map(([k, v]) => [k, round2(v)])), ratio: Math.round(ratio * 1000) / 1000, met });
  console.error(`  ${r.name}${r.variant ? ` (${r.variant})` : ''} n=${r.n}: ${JSON.stringify(results.at(-1)!.variants)} ratio ${results.at(-1)!.ratio}`);
}

async function connectAuth(n: number): Promise<void> {
  const v = await interleaved(['bare', 'nest', 'middleware', 'ours', 'ours-handshake'], async (variant, server) => {
    const t0 = performance.now();
    const sockets = await openMany(server.url, n, MODE[variant]);
    const ms = performance.now() - t0;
    await closeAll(sockets, server);
    return ms;
  });
  record({ name: 'connect_auth', variant: 'ours', n, unit: 'ms', variants: v, baseline: 'middleware', goal: '≤ 1.25' }, v.ours / v.middleware, v.ours / v.middleware <= 1.25);
  record({ name: 'connect_auth', variant: 'ours-handshake', n, unit: 'ms', variants: v, baseline: 'middleware', goal: '≤ 1.05' }, v['ours-handshake'] / v.middleware, v['ours-handshake'] / v.middleware <= 1.05);
}

/** K broadcasts, sized so each measurement delivers about 40,000 messages whatever N is. */
const broadcastsFor = (n: number): number => Math.max(C.k, Math.ceil((quick ? 5_000 : 40_000) / n));

async function broadcastFanout(n: number): Promise<void> {
  const k = broadcastsFor(n);
  const cpu: Record<string, number[]> = {};
  const v = await interleaved(['bare', 'nest', 'ours'], async (variant, server) => {
    const sockets = await openMany(server.url, n, MODE[variant]);
    let received = 0;
    const expected = n * k;
    const done = new Promise<void>((resolve) => sockets.forEach((s) => s.on('b', () => ++received === expected && resolve())));
    const cpu0 = await server.call<number>('cpu');
    const t0 = performance.now();
    await server.call('broadcast', { k });
    await done;
    const seconds = (performance.now() - t0) / 1000;
    (cpu[variant] ??= []).push(expected / (((await server.call<number>('cpu')) - cpu0) / 1e6));
    await closeAll(sockets, server);
    return expected / seconds;
  });
  record({ name: 'broadcast_fanout', n, unit: 'msgs/s delivered (wall)', variants: v, baseline: 'nest', goal: '≥ 0.97' }, v.ours / v.nest, v.ours / v.nest >= 0.97);
  const c = Object.fromEntries(Object.entries(cpu).map(([name, xs]) => [name, median(xs.slice(1))]));
  record({ name: 'broadcast_fanout', variant: 'server CPU', n, unit: 'msgs per server CPU-second', variants: c, baseline: 'nest', goal: '≥ 0.97' }, c.ours / c.nest, c.ours / c.nest >= 0.97);
}

async function roundTrips(sockets: Socket[], ms: number, latencies?: number[]): Promise<number> {
  let count = 0;
  const end = performance.now() + ms;
  await Promise.all(
    sockets.map(async (s) => {
      while (performance.now() < end) {
        const t = performance.now();
        await s.emitWithAck('echo', 1);
        latencies?.push(performance.now() - t);
        count++;
      }
    }),
  );
  return count / (ms / 1000);
}

async function guardedRoundtrip(): Promise<void> {
  const cpu: Record<string, number[]> = {};
  // ours-unmarked: the module is present but the handler has no @Authenticated(): what every other handler pays.
  const v = await interleaved(['nest', 'ours-unmarked', 'ours'], async (variant, server) => {
    const sockets = await openMany(server.url, C.rtClients, MODE[variant]);
    await roundTrips(sockets, 200); // warm-up
    const cpu0 = await server.call<number>('cpu');
    const perSecond = await roundTrips(sockets, C.rtMs);
    const cpuSeconds = ((await server.call<number>('cpu')) - cpu0) / 1e6;
    (cpu[variant] ??= []).push((perSecond * (C.rtMs / 1000)) / cpuSeconds);
    await closeAll(sockets, server);
    return perSecond;
  });
  const baseline = 'nest (same handler, no module)';
  record({ name: 'guarded_roundtrip', n: C.rtClients, unit: 'round trips/s (wall)', variants: v, baseline, goal: '≥ 0.95' }, v.ours / v.nest, v.ours / v.nest >= 0.95);
  const c = Object.fromEntries(Object.entries(cpu).map(([name, xs]) => [name, median(xs.slice(1))]));
  record({ name: 'guarded_roundtrip', variant: 'server CPU', n: C.rtClients, unit: 'round trips per server CPU-second', variants: c, baseline, goal: '≥ 0.95' }, c.ours / c.nest, c.ours / c.nest >= 0.95);
  const unmarked = c['ours-unmarked'] / c.nest;
  record({ name: 'unmarked_roundtrip', variant: 'server CPU', n: C.rtClients, unit: 'round trips per server CPU-second', variants: { nest: c.nest, 'ours-unmarked': c['ours-unmarked'] }, baseline, goal: '≥ 0.95' }, unmarked, unmarked >= 0.95);
}

async function heapPerSocket(): Promise<void> {
  const v = await interleaved(['nest', 'middleware', 'ours'], async (variant, server) => {
    await closeAll(await openMany(server.url, 50, MODE[variant]), server); // warm-up: lazy allocations happen once
    const before = await server.call<number>('heap');
    const sockets = await openMany(server.url, C.heapN, MODE[variant]);
    await sleep(100);
    const after = await server.call<number>('heap');
    await closeAll(sockets, server);
    return (after - before) / C.heapN;
  });
  const diff = v.ours - v.nest;
  results.push({ name: 'heap_per_socket', n: C.heapN, unit: 'bytes/socket', variants: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Math.round(x)])), ratio: Math.round(diff), baseline: 'nest (ours − nest, bytes)', goal: '≤ 1024', met: diff <= 1024 });
  console.error(`  heap_per_socket: ${JSON.stringify(v)}`);
}

async function floodRecovery(): Promise<void> {
  const server = await BenchServer.start('ours', { timeout: C.floodTimeout });
  const befores: number[] = [];
  const afters: number[] = [];
  try {
    await closeAll(await openMany(server.url, 200, 'plain'), server); // warm-up
    for (let round = 0; round < C.rounds; round++) {
      befores.push(await server.call<number>('heap'));
      const flood = await openMany(server.url, C.floodN, 'plain'); // never authenticate
      await Promise.all(flood.map((s) => (s.connected ? new Promise((r) => s.once('disconnect', r)) : undefined)));
      await server.settle();
      afters.push(await server.call<number>('heap'));
    }
  } finally {
    server.stop();
  }
  const v = { before: median(befores), after: median(afters) };
  const ratio = v.after / v.before;
  record({ name: 'flood_recovery', n: C.floodN, unit: 'heap bytes', variants: v, baseline: 'before', goal: 'within 5%' }, ratio, Math.abs(ratio - 1) <= 0.05);
}

async function floodLatency(): Promise<void> {
  const server = await BenchServer.start('ours', { timeout: 120_000 });
  const quiet: number[] = [];
  const flooded: number[] = [];
  try {
    const chatters = await openMany(server.url, C.latClients, 'message');
    await roundTrips(chatters, 200);
    for (let round = 0; round < C.rounds; round++) {
      const a: number[] = [];
      await roundTrips(chatters, C.latMs, a);
      quiet.push(p99(a));
      const idle = await openMany(server.url, C.idle, 'plain');
      const b: number[] = [];
      await roundTrips(chatters, C.latMs, b);
      flooded.push(p99(b));
      idle.forEach((s) => s.disconnect());
      while ((await server.call<number>('count')) > C.latClients) await sleep(25);
    }
    chatters.forEach((s) => s.disconnect());
  } finally {
    server.stop();
  }
  const v = { 'no flood': median(quiet), flood: median(flooded) };
  record({ name: 'flood_latency', n: C.idle, unit: 'p99 ms', variants: v, baseline: 'no flood', goal: '≤ 1.5' }, v.flood / v['no flood'], v.flood / v['no flood'] <= 1.5);
}

// ── run and report ───────────────────────────────────────────────────────────
const started = performance.now();
console.error(`nestjs-socket-auth benchmarks (${quick ? 'quick' : 'full'}), ${C.rounds} interleaved rounds, median reported`);
for (const n of C.ns) await connectAuth(n);
for (const n of C.ns) await broadcastFanout(n);
await guardedRoundtrip();
await heapPerSocket();
await floodRecovery();
await floodLatency();

const pkg = (name: string): string => JSON.parse(readFileSync(fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url)), 'utf8')).version;
const env = { node: process.version, socketio: pkg('socket.io'), nest: pkg('@nestjs/core'), cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString().slice(0, 10), quick };

const fmt = (x: number): string => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : String(round2(x)));
const lines = [
  '| scenario | N | unit | variants (median) | ratio | baseline | goal | met |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.name}${r.variant ? ` (${r.variant})` : ''} | ${r.n} | ${r.unit} | ${Object.entries(r.variants).map(([k, x]) => `${k} ${fmt(x)}`).join(' · ')} | ${r.ratio} | ${r.baseline} | ${r.goal} | ${r.met ? 'yes' : '**no**'} |`),
];

// How cost grows with N: per-socket connect time and per-delivery time at the smallest and largest N.
const growth: string[] = [];
if (C.ns.length > 1) {
  const [lo, hi] = [C.ns[0], C.ns.at(-1)!];
  const at = (name: string, n: number) => results.find((r) => r.name === name && r.n === n && r.variant !== 'ours-handshake')!;
  for (const variant of ['middleware', 'ours', 'ours-handshake']) {
    const per = (n: number) => at('connect_auth', n).variants[variant] / n;
    growth.push(`connect_auth ${variant}: ${round2(per(lo))} ms/socket at N=${lo}, ${round2(per(hi))} at N=${hi} (×${round2(per(hi) / per(lo))})`);
  }
  for (const variant of ['nest', 'ours']) {
    const rate = (n: number) => at('broadcast_fanout', n).variants[variant];
    growth.push(`broadcast_fanout ${variant}: ${fmt(rate(lo))} msgs/s at N=${lo}, ${fmt(rate(hi))} at N=${hi} (×${round2(rate(hi) / rate(lo))})`);
  }
}

console.log(`\nnode ${env.node}, socket.io ${env.socketio}, Nest ${env.nest}, ${env.cpus} × ${env.cpu}, ${env.date}\n`);
console.log(lines.join('\n'));
if (growth.length) console.log(`\nGrowth with N:\n${growth.map((g) => `- ${g}`).join('\n')}`);
console.log(`\n${results.filter((r) => r.met).length}/${results.length} goals met in ${Math.round((performance.now() - started) / 1000)} s`);

if (!quick || process.env.NSA_BENCH_WRITE) {
  writeFileSync(fileURLToPath(new URL('../../bench/results.json', import.meta.url)), `${JSON.stringify({ env, scenarios: results, growth }, null, 2)}\n`);
}
process.exit(0);
