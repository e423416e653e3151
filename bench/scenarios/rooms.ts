/**
 * Room policies (the `rooms` option, lib/core/room-guard.ts), on one `ours`
 * server with ROOM_POLICIES (app.ts), whose principals hold the role `staff`.
 * Every variant runs on the same app, in the same rounds, so the unpoliced
 * room is the baseline.
 * policed_join: server time per join, `socket.join()` of a room under a
 *   roles policy and `await socket.join()` / `await AuthSocketService.join()`
 *   of a room under an async predicate, against `socket.join()` of a room no
 *   policy matches. Timed in the server process (server.ts `joins`): a join is
 *   under a µs or a few of work with no I/O, which a round trip would drown.
 *   Every measured join must have entered, and a join to a room whose policy
 *   nobody meets must be refused, or the harness fails (in --quick too).
 * policed_broadcast: the same sockets in a policed and an unpoliced room,
 *   broadcast to each; policies are checked on entry, never per message, so
 *   the server's CPU per delivery must be the same (goal: within 0.95–1.05).
 *   Each measurement starts after a collection on the server.
 * Both sample fresh server processes (acrossProcesses), as the throughput
 * scenarios do; a quick run shares one server between them.
 */
import type { Socket } from 'socket.io-client';
import { ROOMS } from '../app.js';
import { C, quick } from '../config.js';
import { acrossProcesses, BenchServer, closeAll, MODE, openMany, sleep } from '../harness.js';
import { pick, recordRatio, type Result } from '../record.js';
import { bootstrap, pairedRatios } from '../stats.js';

interface Fleet {
  server: BenchServer;
  sockets: Socket[];
  release(): void;
}

let shared: Promise<BenchServer> | undefined;
/** The rooms server: fresh for each set of rounds in a full run, one for the whole quick run (started early by run.ts). */
export function roomsServer(): Promise<BenchServer> {
  if (!quick) return BenchServer.start('ours', { rooms: true });
  return (shared ??= BenchServer.start('ours', { rooms: true }));
}

async function fleet(n: number): Promise<Fleet> {
  const server = await roomsServer();
  const sockets = await openMany(server.url, n, MODE.ours);
  return { server, sockets, release: () => (quick ? undefined : server.stop()) };
}

async function stop({ server, sockets, release }: Fleet): Promise<void> {
  await closeAll(sockets, server);
  release();
}

/** The medians behind a row, since a run with `--only` writes no results. */
const medians = (r: Result): void =>
  console.error(
    `    medians: ${Object.entries(r.variants)
      .map(([k, x]) => `${k} ${x}`)
      .join(' · ')}`,
  );

const wallRatio = (samples: Record<string, number[]>, ours: string, base: string) => {
  const e = bootstrap(pairedRatios(samples[ours], samples[base]));
  return { ratio: Number(e.value.toFixed(3)), ci: e.ci.map((x) => Number(x.toFixed(3))) };
};

// ── policed_join ─────────────────────────────────────────────────────────────

type JoinVariant = 'unpoliced' | 'roles' | 'async' | 'async (service)';
const JOINS: Record<JoinVariant, { prefix: string; how: 'join' | 'await join' | 'service join' }> = {
  unpoliced: { prefix: ROOMS.unpoliced, how: 'join' },
  roles: { prefix: ROOMS.roles, how: 'join' },
  async: { prefix: ROOMS.async, how: 'await join' },
  'async (service)': { prefix: ROOMS.async, how: 'service join' },
};

interface JoinReply {
  joins: number;
  ns: number;
  cpuNs: number;
  missing: number;
  admitted: number;
}

export async function policedJoin(): Promise<void> {
  const { sockets: n, joins: k, passes, generations, rounds } = C.roomJoin;
  const variants = Object.keys(JOINS) as JoinVariant[];
  const { samples, generation } = await acrossProcesses(
    `policed_join ${n}×${k}`,
    variants,
    generations,
    rounds,
    () => fleet(n),
    stop,
    async ({ server }, v) => {
      const { prefix, how } = JOINS[v];
      const r = await server.call<JoinReply>('joins', { prefix, n: k, how, passes });
      // A broken harness, not a slow one: every measured join must have entered, and the policies must be in force.
      if (r.joins !== n * k * passes)
        throw new Error(`policed_join (${v}): ${r.joins} joins for ${n} sockets × ${k} rooms × ${passes}`);
      if (r.missing) throw new Error(`policed_join (${v}): ${r.missing} of ${r.joins} joins did not enter the room`);
      if (r.admitted) throw new Error(`policed_join (${v}): ${r.admitted} sockets entered a room no principal may`);
      return { ns: r.ns, cpuNs: r.cpuNs };
    },
  );
  const unit = `server ns per join (${k} rooms per socket), policed / unpoliced room (same app)`;
  const base = { name: 'policed_join', n, unit };
  const row = (ours: JoinVariant, variant: string) =>
    medians(
      recordRatio(
        {
          ...base,
          variant,
          samples: pick(samples.ns, ['unpoliced', ours]),
          extra: { sockets: n, joinsPerSocket: k, passes, cpuNsPerJoin: pick(samples.cpuNs, ['unpoliced', ours]) },
        },
        ours,
        'unpoliced',
        undefined,
        generation,
      ),
    );
  row('roles', 'roles policy, socket.join()');
  row('async', 'async predicate, await socket.join()');
  row('async (service)', 'async predicate, await AuthSocketService.join()');
}

// ── policed_broadcast ────────────────────────────────────────────────────────

type BroadcastVariant = 'unpoliced' | 'roles' | 'async';
const BROADCAST_ROOMS: Record<BroadcastVariant, string> = {
  unpoliced: `${ROOMS.unpoliced}all`,
  roles: `${ROOMS.roles}all`,
  async: `${ROOMS.async}all`,
};

export async function policedBroadcast(): Promise<void> {
  const { n, generations, rounds, deliveries } = C.roomBroadcast;
  const k = Math.max(2, Math.ceil(deliveries / n));
  const expected = n * k;
  const variants = Object.keys(BROADCAST_ROOMS) as BroadcastVariant[];
  const rooms = variants.map((v) => BROADCAST_ROOMS[v]);
  const { samples, generation } = await acrossProcesses(
    `policed_broadcast n=${n}`,
    variants,
    generations,
    rounds,
    async () => {
      const f = await fleet(n);
      // Every socket in every room: the rooms are the same size and hold the same sockets, only their policies differ.
      const sizes = await f.server.call<number[]>('room-fill', { rooms });
      if (sizes.some((size) => size !== n)) {
        await stop(f);
        throw new Error(`policed_broadcast: rooms ${rooms.join(', ')} hold ${sizes.join(', ')} of ${n} sockets`);
      }
      return f;
    },
    stop,
    async ({ server, sockets }, v) => {
      let received = 0;
      const done = new Promise<void>((resolve) => {
        const on = (): void => void (++received === expected && resolve());
        sockets.forEach((s) => s.on('b', on));
      });
      // A collection first, and time for its sweeper threads (on the server's one core): no variant pays another's garbage.
      await server.call('heap');
      await sleep(50);
      const cpu0 = await server.cpu();
      const t0 = performance.now();
      await server.call('room-broadcast', { room: BROADCAST_ROOMS[v], k });
      await done;
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = ((await server.cpu()) - cpu0) / 1e6;
      sockets.forEach((s) => s.off('b'));
      return { cpu: expected / cpuSeconds, wall: expected / seconds };
    },
  );
  const unit = 'msgs delivered per server CPU-second, policed / unpoliced room (same sockets)';
  for (const ours of ['roles', 'async'] as const) {
    const r = recordRatio(
      {
        name: 'policed_broadcast',
        variant: `${ours === 'roles' ? 'roles policy' : 'async predicate'}, server CPU`,
        n,
        unit,
        samples: pick(samples.cpu, ['unpoliced', ours]),
        extra: {
          broadcastsPerRound: k,
          wall: wallRatio(samples.wall, ours, 'unpoliced'),
          wallVariants: pick(samples.wall, ['unpoliced', ours]),
        },
      },
      ours,
      'unpoliced',
      { op: 'within', lo: 0.95, hi: 1.05 },
      generation,
    );
    medians(r);
    const wall = r.extra!.wall as { ratio: number; ci: number[] };
    console.error(`    wall clock: ${wall.ratio} [${wall.ci.join(', ')}]`);
  }
}
