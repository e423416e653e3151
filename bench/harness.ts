/**
 * What every scenario shares: pinned server processes, socket clients, the
 * interleaved rounds, on one set of processes or several.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import type { AppOptions, Variant } from './app.js';
import { quick } from './config.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const now = (): number => performance.timeOrigin + performance.now();

// ── pinning ──────────────────────────────────────────────────────────────────
/** The load generator (this process and its client workers) on the first core, servers on the last. */
export const LOAD_CORE = 0;
export const SERVER_CORE = cpus().length - 1;
export const pinning: { ok: boolean; why: string } = (() => {
  if (cpus().length < 2) return { ok: false, why: 'one core only' };
  const probe = spawnSync('taskset', ['-c', String(SERVER_CORE), 'true']);
  if (probe.error || probe.status !== 0)
    return { ok: false, why: `taskset unavailable (${probe.error?.message ?? probe.stderr?.toString().trim()})` };
  // -a: every thread of this process (V8's GC and libuv's pool too); new threads inherit it.
  const self = spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)]);
  if (self.status !== 0)
    return { ok: false, why: `could not pin the load generator (${self.stderr.toString().trim()})` };
  return { ok: true, why: `load generator on core ${LOAD_CORE}, servers on core ${SERVER_CORE}` };
})();

export const FIXED_YOUNG_GENERATION = '--min-semi-space-size=16 --max-semi-space-size=16';

/**
 * Starts a Node script with an IPC channel. It starts on every core (start-up
 * is not what is measured, and several start at once) and is pinned to `core`
 * by pin() once it says it is ready.
 */
export function spawnNode(script: string, args: string[]): ChildProcess {
  const path = fileURLToPath(new URL(script, import.meta.url));
  // A fixed young generation: V8 sizes it adaptively, and that alone split fresh server processes running the same
  // code into a fast and a slow mode (per-set round-trip ratios from 0.53 to 1.58 in one run; 0.96–1.06 with this).
  // NSA_BENCH_NODE_FLAGS replaces it, for experiments.
  const flags = (process.env.NSA_BENCH_NODE_FLAGS ?? FIXED_YOUNG_GENERATION).split(' ').filter(Boolean);
  return spawn(process.execPath, ['--expose-gc', ...flags, path, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Pins every thread of a process; threads it starts later inherit the mask. */
export function pin(child: ChildProcess, core: number): void {
  if (!pinning.ok || child.pid === undefined) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(core), String(child.pid)]);
  if (r.status !== 0) throw new Error(`taskset could not pin ${child.pid}: ${r.stderr.toString().trim()}`);
}

/** Request/reply over a child's IPC channel. */
export class Ipc {
  private seq = 0;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id?: number; value?: unknown }) => {
      if (m.id === undefined) return;
      this.waiting.get(m.id)?.(m.value);
      this.waiting.delete(m.id);
    });
  }
  call<T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.send({ cmd, id, ...extra });
    });
  }
  /** Resolves with the child's `{ready}` message, rejects if it dies first. */
  static ready<T>(child: ChildProcess, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`${what} exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (m: { ready?: T }) => {
        child.off('exit', onExit);
        resolve(m.ready as T);
      });
    });
  }
}

export const live = new Set<ChildProcess>();
/** Kills every child still running (on exit or failure). */
export function killAll(): void {
  live.forEach((c) => c.kill('SIGKILL'));
}

export class BenchServer extends Ipc {
  private constructor(
    child: ChildProcess,
    readonly variant: Variant,
    readonly url: string,
  ) {
    super(child);
  }

  static async startAll<V extends Variant>(variants: V[], options: AppOptions = {}): Promise<Map<V, BenchServer>> {
    const started = await Promise.all(variants.map((v) => BenchServer.start(v, options)));
    return new Map(variants.map((v, i) => [v, started[i]]));
  }

  static async start(variant: Variant, options: AppOptions = {}): Promise<BenchServer> {
    const child = spawnNode('./server.js', [variant, JSON.stringify(options)]);
    live.add(child);
    child.once('exit', () => live.delete(child));
    const port = await Ipc.ready<number>(child, `${variant} server`);
    pin(child, SERVER_CORE);
    return new BenchServer(child, variant, `http://127.0.0.1:${port}`);
  }

  cpu(): Promise<number> {
    return this.call<number>('cpu');
  }

  /** Waits until the server has seen at most `left` sockets go. */
  async settle(left = 0): Promise<void> {
    for (let i = 0; i < 400 && (await this.call<number>('count')) > left; i++) await sleep(25);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const pool = new Map<Variant, Promise<BenchServer>>();
/**
 * The servers a scenario measures. Full runs start fresh ones per scenario and
 * stop them after: a server that has already carried other scenarios is
 * measurably slower (a bigger heap to collect) than a fresh one, which skews
 * any comparison between variants with different histories. Quick runs share
 * one server per variant, since start-up dominates them and they decide nothing.
 */
export async function serversFor<V extends Variant>(
  variants: V[],
): Promise<{ servers: Map<V, BenchServer>; release(): void }> {
  if (!quick) {
    const servers = await BenchServer.startAll(variants);
    return { servers, release: () => servers.forEach((s) => s.stop()) };
  }
  for (const v of variants) if (!pool.has(v)) pool.set(v, BenchServer.start(v));
  const servers = new Map(await Promise.all(variants.map(async (v) => [v, await pool.get(v)!] as const)));
  return { servers, release: () => undefined };
}

// ── clients ──────────────────────────────────────────────────────────────────
export type Mode = 'plain' | 'handshake-token' | 'message' | 'handshake';
export const MODE: Record<Variant, Mode> = {
  bare: 'plain',
  nest: 'plain',
  middleware: 'handshake-token',
  'nest-guard': 'handshake-token',
  ours: 'message',
  'ours-handshake': 'handshake',
  'ours-unmarked': 'message',
  handwritten: 'message',
};
let tokenSeq = 0;

/** A token app.ts's LifecycleStrategy takes as principal `id` until `expiresAt` (epoch ms): see checkExpiring(). */
export const expiringToken = (id: string, expiresAt: number): string => `exp-${id}.${Math.round(expiresAt)}`;

/** Resolves once the socket is ready for work: connected, and authenticated where the variant asks. */
export function open(url: string, mode: Mode, principal = `u${process.pid}-${++tokenSeq}`): Promise<Socket> {
  const token = `tok-${principal}`;
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

/** Opens n sockets, at most `inFlight` handshakes at a time (the same for every variant). */
export async function openMany(url: string, n: number, mode: Mode, inFlight = 100): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        next++;
        sockets.push(await open(url, mode));
      }
    }),
  );
  return sockets;
}

export async function closeAll(sockets: Socket[], server: BenchServer, left = 0): Promise<void> {
  sockets.forEach((s) => s.disconnect());
  await server.settle(left);
}

// ── rounds ───────────────────────────────────────────────────────────────────
export type Samples = Record<string, Record<string, number[]>>;

/**
 * Warm-up, then `rounds` rounds; each round measures every variant once, the
 * order rotating from round to round so no variant always goes first.
 * `measure` returns named metrics; the result is samples[metric][variant][round].
 */
export async function interleave<V extends string>(
  label: string,
  variants: V[],
  rounds: number,
  measure: (v: V) => Promise<Record<string, number>>,
  warmup = 1,
): Promise<Samples> {
  const samples: Samples = {};
  for (let w = 0; w < warmup; w++) for (const v of variants) await measure(v);
  const t0 = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length];
      for (const [metric, x] of Object.entries(await measure(v))) ((samples[metric] ??= {})[v] ??= []).push(x);
    }
    progress(`${label}: round ${round + 1}/${rounds}`, t0);
  }
  return samples;
}

/**
 * interleave() on `generations` sets of fresh server processes in turn. One
 * process per variant leaves out a large noise: the same code in two
 * processes can differ by far more than one process does from round to round
 * (its JIT and GC settle differently), so the interval must sample processes
 * too. Returns the samples and, for each round, its generation.
 */
export async function acrossProcesses<V extends string, F>(
  label: string,
  variants: V[],
  generations: number,
  roundsEach: number,
  start: () => Promise<F>,
  stop: (fleet: F) => Promise<void>,
  measure: (fleet: F, v: V) => Promise<Record<string, number>>,
): Promise<{ samples: Samples; generation: number[] }> {
  const samples: Samples = {};
  const generation: number[] = [];
  for (let g = 0; g < generations; g++) {
    const fleet = await start();
    try {
      const tag = generations > 1 ? `${label}, processes ${g + 1}/${generations}` : label;
      const part = await interleave(tag, variants, roundsEach, (v) => measure(fleet, v));
      for (const [metric, byVariant] of Object.entries(part)) {
        for (const [v, xs] of Object.entries(byVariant)) ((samples[metric] ??= {})[v] ??= []).push(...xs);
      }
      generation.push(...Array<number>(roundsEach).fill(g));
    } finally {
      await stop(fleet);
    }
  }
  return { samples, generation };
}

let lastProgress = 0;
export function progress(text: string, since: number): void {
  if (performance.now() - lastProgress < 2000 && !text.includes(' 1/')) return;
  lastProgress = performance.now();
  process.stderr.write(`    … ${text} (${Math.round((performance.now() - since) / 1000)} s)\n`);
}
