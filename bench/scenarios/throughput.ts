/**
 * broadcast_fanout and the round-trip scenarios. Sockets stay open across
 * rounds, so a round is only the work being compared. Goals are decided on
 * the server's CPU per message; wall-clock rates are kept beside them.
 */
import type { Socket } from 'socket.io-client';
import type { Variant } from '../app.js';
import { C, quick } from '../config.js';
import { acrossProcesses, closeAll, MODE, openMany, serversFor, type BenchServer } from '../harness.js';
import { pick, recordRatio } from '../record.js';
import { bootstrap, pairedRatios } from '../stats.js';

interface Fleet {
  server: BenchServer;
  sockets: Socket[];
}

async function fleets(variants: Variant[], n: number): Promise<Fleets> {
  const out = new Map<Variant, Fleet>();
  const { servers, release } = await serversFor(variants);
  for (const v of variants) {
    const server = servers.get(v)!;
    out.set(v, { server, sockets: await openMany(server.url, n, MODE[v]) });
  }
  return { all: out, release };
}

type Fleets = { all: Map<Variant, Fleet>; release(): void };

async function stop({ all, release }: Fleets): Promise<void> {
  for (const { server, sockets } of all.values()) await closeAll(sockets, server);
  release();
}

const wallRatio = (samples: Record<string, number[]>, ours: string, base: string) => {
  const e = bootstrap(pairedRatios(samples[ours], samples[base]));
  return { ratio: Number(e.value.toFixed(3)), ci: e.ci.map((x) => Number(x.toFixed(3))) };
};

export async function broadcastFanout(): Promise<void> {
  const variants: Variant[] = ['bare', 'nest', 'ours'];
  for (const n of C.fanout.ns) {
    const k = Math.max(2, Math.ceil(C.fanout.deliveries / n));
    const expected = n * k;
    const { samples, generation } = await acrossProcesses(
      `broadcast_fanout n=${n}`,
      variants,
      C.fanout.generations,
      C.fanout.rounds,
      () => fleets(variants, n),
      stop,
      async ({ all }, v) => {
        const { server, sockets } = all.get(v)!;
        let received = 0;
        const done = new Promise<void>((resolve) => {
          const on = (): void => void (++received === expected && resolve());
          sockets.forEach((s) => s.on('b', on));
        });
        const cpu0 = await server.cpu();
        const t0 = performance.now();
        await server.call('broadcast', { k });
        await done;
        const seconds = (performance.now() - t0) / 1000;
        const cpuSeconds = ((await server.cpu()) - cpu0) / 1e6;
        sockets.forEach((s) => s.off('b'));
        return { cpu: expected / cpuSeconds, wall: expected / seconds };
      },
    );
    recordRatio(
      {
        name: 'broadcast_fanout',
        variant: 'server CPU',
        n,
        unit: 'msgs delivered per server CPU-second',
        samples: samples.cpu,
        extra: { wall: wallRatio(samples.wall, 'ours', 'nest'), wallVariants: samples.wall },
      },
      'ours',
      'nest',
      { op: '>=', value: 0.97 },
      generation,
    );
  }
}

async function roundTrips(sockets: Socket[], ms: number): Promise<number> {
  let count = 0;
  const end = performance.now() + ms;
  await Promise.all(
    sockets.map(async (s) => {
      while (performance.now() < end) {
        await s.emitWithAck('echo', 1);
        count++;
      }
    }),
  );
  return count;
}

/** guarded_roundtrip and unmarked_roundtrip: one echo handler, four ways of guarding it (or not). */
export async function roundtrips(): Promise<void> {
  const variants: Variant[] = ['nest', 'nest-guard', 'ours-unmarked', 'ours'];
  const { samples, generation } = await acrossProcesses(
    'roundtrip',
    variants,
    C.rt.generations,
    C.rt.rounds,
    () => fleets(variants, C.rt.clients),
    stop,
    async ({ all }, v) => {
      const { server, sockets } = all.get(v)!;
      await roundTrips(sockets, quick ? 30 : 100); // warm the path after the other variants ran
      const cpu0 = await server.cpu();
      const t0 = performance.now();
      const count = await roundTrips(sockets, C.rt.ms);
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = ((await server.cpu()) - cpu0) / 1e6;
      return { cpu: count / cpuSeconds, wall: count / seconds };
    },
  );
  const unit = 'round trips per server CPU-second';
  const n = C.rt.clients;
  recordRatio(
    {
      name: 'guarded_roundtrip',
      variant: 'server CPU',
      n,
      unit,
      samples: pick(samples.cpu, ['nest-guard', 'ours']),
      extra: { wall: wallRatio(samples.wall, 'ours', 'nest-guard') },
    },
    'ours',
    'nest-guard',
    { op: '>=', value: 0.97 },
    generation,
  );
  recordRatio(
    { name: 'guarded_roundtrip', variant: 'vs nest, no guard', n, unit, samples: pick(samples.cpu, ['nest', 'ours']) },
    'ours',
    'nest',
    undefined,
    generation,
  );
  recordRatio(
    {
      name: 'unmarked_roundtrip',
      variant: 'server CPU',
      n,
      unit,
      samples: pick(samples.cpu, ['nest', 'ours-unmarked']),
      extra: { wall: wallRatio(samples.wall, 'ours-unmarked', 'nest') },
    },
    'ours-unmarked',
    'nest',
    { op: '>=', value: 0.99 },
    generation,
  );
}
