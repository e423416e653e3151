/**
 * Microbenchmarks of the module's hot paths, in process, with tinybench. Each
 * case is the same operation with and without the module, on real apps with
 * real sockets; only the timed call differs. Rounds alternate which side runs
 * first; each round's ratio is ours/without of the median time per operation.
 */
import { Bench } from 'tinybench';
import type { Socket as ServerSocket } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { createBenchApp, type BenchApp, type Variant } from './app.js';
import { C } from './config.js';
import { MODE, open, openMany, progress, sleep } from './harness.js';
import { bootstrap, median, pairedRatios } from './stats.js';

export interface MicroResult {
  name: string;
  n: number;
  unit: 'ns per operation';
  /** Median ns per operation, with and without the module. */
  variants: Record<string, number>;
  baseline: string;
  ratio: number;
  ci: [number, number];
  rounds: number;
}

interface Side {
  label: string;
  /** One batch of `batch` operations; may return a promise. */
  run: () => unknown;
}

interface Case {
  name: string;
  n: number;
  batch: number;
  ours: Side;
  without: Side;
}

const PAYLOAD = { text: 'x'.repeat(64) };

async function measure(c: Case): Promise<MicroResult> {
  const ns: Record<string, number[]> = { [c.ours.label]: [], [c.without.label]: [] };
  for (let round = 0; round < C.micro.rounds; round++) {
    const sides = round % 2 ? [c.ours, c.without] : [c.without, c.ours];
    // One side at a time, each after a drain: run back to back, the second side's timed loop shared the event loop
    // with the first side's socket writes still completing (a broadcast queues a write on every socket), which
    // penalised whichever side ran second by a margin no separate-process measurement reproduced.
    for (const s of sides) {
      const bench = new Bench({ time: C.micro.time, warmupTime: C.micro.time / 4, iterations: 10 });
      bench.add(s.label, s.run);
      await bench.run();
      const r = bench.tasks[0].result;
      if (!('latency' in r)) throw new Error(`micro ${c.name}: ${s.label} did not complete (${r.state})`);
      ns[s.label].push((r.latency.p50 * 1e6) / c.batch);
      await sleep(20); // let sockets drain what the broadcasts queued
    }
  }
  const e = bootstrap(pairedRatios(ns[c.ours.label], ns[c.without.label]));
  const round = (x: number): number => Number(x.toPrecision(4));
  const result: MicroResult = {
    name: c.name,
    n: c.n,
    unit: 'ns per operation',
    variants: Object.fromEntries(Object.entries(ns).map(([k, xs]) => [k, round(median(xs))])),
    baseline: c.without.label,
    ratio: round(e.value),
    ci: [round(e.ci[0]), round(e.ci[1])],
    rounds: e.rounds,
  };
  console.error(
    `  micro ${c.name}: ${JSON.stringify(result.variants)} ratio ${result.ratio} [${result.ci.join(', ')}]`,
  );
  return result;
}

const serverSocket = (app: BenchApp): ServerSocket => app.io.of('/').sockets.values().next().value!;
const repeat = (k: number, f: () => void) => (): void => {
  for (let i = 0; i < k; i++) f();
};

export async function micro(): Promise<MicroResult[]> {
  const variants: Variant[] = ['nest', 'nest-guard', 'ours-unmarked', 'ours'];
  const apps = new Map<Variant, BenchApp>();
  const clients: Socket[] = [];
  const out: MicroResult[] = [];
  const t0 = performance.now();
  try {
    for (const v of variants) apps.set(v, await createBenchApp(v));
    const url = (v: Variant): string => `http://127.0.0.1:${apps.get(v)!.port}`;
    for (const v of variants) clients.push(await open(url(v), MODE[v]));
    const sock = (v: Variant): ServerSocket => serverSocket(apps.get(v)!);

    // The guard's decision through Nest's real pipeline: the listener Nest bound for 'echo', called as socket.io would.
    const echo = (v: Variant) => {
      const listener = sock(v).listeners('echo')[0] as (data: unknown, ack: (r: unknown) => void) => void;
      return (): Promise<unknown> => new Promise((resolve) => listener(1, resolve));
    };
    out.push(
      await measure({
        name: 'guard, marked handler',
        n: 1,
        batch: 1,
        ours: { label: 'ours', run: echo('ours') },
        without: { label: 'nest-guard', run: echo('nest-guard') },
      }),
    );
    out.push(
      await measure({
        name: 'guard, unmarked handler',
        n: 1,
        batch: 1,
        ours: { label: 'ours-unmarked', run: echo('ours-unmarked') },
        without: { label: 'nest', run: echo('nest') },
      }),
    );
    progress('micro: guard done', t0);

    // The session lookup: what a handler asks of the module, against a flag a middleware left on the socket.
    const auth = apps.get('ours')!.auth!;
    const ourSocket = sock('ours');
    const theirSocket = sock('nest-guard');
    let sink: unknown;
    out.push(
      await measure({
        name: 'session lookup',
        n: 1,
        batch: 1000,
        ours: { label: 'ours', run: repeat(1000, () => (sink = auth.getPrincipal(ourSocket))) },
        without: {
          label: 'nest-guard',
          run: repeat(1000, () => (sink = (theirSocket.data as { user?: unknown }).user)),
        },
      }),
    );
    if (sink === undefined) throw new Error('micro: session lookup found nothing');

    // Joining and leaving a room, for an authenticated socket.
    const joinLeave = (s: ServerSocket) => repeat(100, () => (s.join('micro-room'), s.leave('micro-room')));
    out.push(
      await measure({
        name: 'room join + leave',
        n: 1,
        batch: 100,
        ours: { label: 'ours', run: joinLeave(ourSocket) },
        without: { label: 'nest', run: joinLeave(sock('nest')) },
      }),
    );

    // A broadcast to N released sockets: the timed part is the synchronous emit (encode once, queue per socket).
    const n = C.micro.sockets;
    for (const v of ['nest', 'ours'] as Variant[]) clients.push(...(await openMany(url(v), n - 1, MODE[v])));
    const emit = (v: Variant) => () => void apps.get(v)!.io.emit('b', PAYLOAD);
    out.push(
      await measure({
        name: 'broadcast to N released sockets',
        n,
        batch: 1,
        ours: { label: 'ours', run: emit('ours') },
        without: { label: 'nest', run: emit('nest') },
      }),
    );
    progress('micro: done', t0);
  } finally {
    clients.forEach((c) => c.disconnect());
    for (const app of apps.values()) await app.close().catch(() => undefined);
  }
  return out;
}
