/**
 * `npm run bench:profile -- [ours-unmarked nest]`: where the server's CPU goes
 * per echo round trip, for two variants. Each server runs under --cpu-prof
 * while 100 clients do round trips; self time is summed by function and
 * divided by the round trips served, then the two are set side by side.
 * Writes bench/profile-roundtrip.json, which report.ts puts in docs/benchmarks.md.
 *
 * `npm run bench:profile -- --connect [ours handwritten]`: the same per
 * connection, while batches of 250 clients connect, authenticate and leave,
 * against the hand-written post-connect check by default: the difference is
 * the module's own work. Writes bench/profile-connect.json.
 *
 * The servers run with the bench's fixed young generation (harness.ts), and
 * beside the profile each reports its process CPU (user and system, every
 * thread) over the same connections, which is what the goals are decided on:
 * the profile's own samples see the main thread only.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Variant } from './app.js';
import { BenchServer, closeAll, FIXED_YOUNG_GENERATION, MODE, openMany } from './harness.js';

const CONNECT = process.argv.includes('--connect');
const args = process.argv.slice(2).filter((x) => !x.startsWith('--')) as Variant[];
const [a = CONNECT ? 'ours' : 'ours-unmarked', b = CONNECT ? 'handwritten' : 'nest'] = args;
const SECONDS = Number(process.env.NSA_BENCH_PROFILE_SECONDS ?? 8);

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds of self time per round trip, by `function file:line`. */
async function profile(
  variant: Variant,
): Promise<{ trips: number; perTrip: Map<string, number>; cpu: { user: number; system: number } }> {
  const dir = mkdtempSync(join(tmpdir(), 'nsa-prof-'));
  process.env.NSA_BENCH_NODE_FLAGS = `${FIXED_YOUNG_GENERATION} --cpu-prof --cpu-prof-dir=${dir}`;
  const server = await BenchServer.start(variant);
  let trips = 0;
  const cpu0 = await server.call<{ user: number; system: number }>('cpuSplit');
  const end = performance.now() + SECONDS * 1000;
  if (CONNECT) {
    // Connections opened (and authenticated, in the variant's mode), then closed: the unit is one connection.
    while (performance.now() < end) {
      await closeAll(await openMany(server.url, 250, MODE[variant]), server);
      trips += 250;
    }
  } else {
    const sockets = await openMany(server.url, 100, MODE[variant]);
    await Promise.all(
      sockets.map(async (s) => {
        while (performance.now() < end) {
          await s.emitWithAck('echo', 1);
          trips++;
        }
      }),
    );
    await closeAll(sockets, server);
  }
  const cpu1 = await server.call<{ user: number; system: number }>('cpuSplit');
  const cpu = { user: (cpu1.user - cpu0.user) / trips, system: (cpu1.system - cpu0.system) / trips };
  await new Promise((resolve) => {
    server.child.once('exit', resolve);
    server.child.kill('SIGINT'); // server.ts exits cleanly on SIGINT, so the profile is written
  });
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
  const prof: CpuProfile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  rmSync(dir, { recursive: true });
  const byId = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
  const perTrip = new Map<string, number>();
  prof.samples.forEach((id, i) => {
    const f = byId.get(id)!;
    const key = `${f.functionName || '(anonymous)'} ${basename(f.url) || ''}:${f.lineNumber + 1}`;
    perTrip.set(key, (perTrip.get(key) ?? 0) + prof.timeDeltas[i] / trips);
  });
  return { trips, perTrip, cpu };
}

const pa = await profile(a);
const pb = await profile(b);
const total = (m: Map<string, number>): number => [...m.values()].reduce((x, y) => x + y, 0);
/** Sampled time the process was not idle: what its CPU figure is made of (on its main thread). */
const busy = (m: Map<string, number>): number =>
  [...m].filter(([k]) => !k.startsWith('(idle)')).reduce((x, [, y]) => x + y, 0);
const unit = CONNECT ? 'connection' : 'round trip';
for (const [v, p] of [
  [a, pa],
  [b, pb],
] as const)
  console.log(
    `${v}: ${p.trips} ${unit}s, ${total(p.perTrip).toFixed(1)} µs sampled per ${unit}, ${busy(p.perTrip).toFixed(1)} µs of it busy; ` +
      `process CPU ${p.cpu.user.toFixed(1)} µs user + ${p.cpu.system.toFixed(1)} µs system per ${unit}`,
  );
const keys = new Set([...pa.perTrip.keys(), ...pb.perTrip.keys()]);
const rows = [...keys]
  .map((k) => ({ k, a: pa.perTrip.get(k) ?? 0, b: pb.perTrip.get(k) ?? 0 }))
  .filter((r) => !r.k.startsWith('(idle)') && !r.k.startsWith('(program)'));
console.log(`\nlargest differences, µs per ${unit} (${a} − ${b}):`);
for (const r of [...rows].sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b)).slice(0, 20)) {
  console.log(
    `  ${(r.a - r.b).toFixed(2).padStart(7)}  ${r.a.toFixed(2).padStart(6)} vs ${r.b.toFixed(2).padStart(6)}  ${r.k}`,
  );
}
const byFile = (m: Map<string, number>): Map<string, number> => {
  const files = new Map<string, number>();
  for (const [k, v] of m) {
    const file = k.slice(k.lastIndexOf(' ') + 1).replace(/:\d+$/, '') || k;
    files.set(file, (files.get(file) ?? 0) + v);
  }
  return files;
};
const [fa, fb] = [byFile(pa.perTrip), byFile(pb.perTrip)];
console.log(`\nby file, µs per ${unit} (${a} − ${b}):`);
for (const f of [...new Set([...fa.keys(), ...fb.keys()])]
  .map((k) => ({ k, a: fa.get(k) ?? 0, b: fb.get(k) ?? 0 }))
  .sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b))
  .slice(0, 45))
  console.log(
    `  ${(f.a - f.b).toFixed(2).padStart(7)}  ${f.a.toFixed(2).padStart(7)} vs ${f.b.toFixed(2).padStart(7)}  ${f.k}`,
  );
const top = rows.sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b)).slice(0, 10);
const files = [...new Set([...fa.keys(), ...fb.keys()])]
  .filter((k) => k !== '(idle) :0')
  .map((k) => ({ k, a: fa.get(k) ?? 0, b: fb.get(k) ?? 0 }))
  .sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b))
  .slice(0, 14);
const cpuOf = (p: typeof pa) => ({ user: Number(p.cpu.user.toFixed(1)), system: Number(p.cpu.system.toFixed(1)) });
const out = {
  unit,
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  seconds: SECONDS,
  variants: {
    [a]: {
      trips: pa.trips,
      usPerTrip: Number(total(pa.perTrip).toFixed(1)),
      busyUs: Number(busy(pa.perTrip).toFixed(1)),
      cpuUs: cpuOf(pa),
    },
    [b]: {
      trips: pb.trips,
      usPerTrip: Number(total(pb.perTrip).toFixed(1)),
      busyUs: Number(busy(pb.perTrip).toFixed(1)),
      cpuUs: cpuOf(pb),
    },
  },
  rows: top.map((r) => ({ what: r.k, [a]: Number(r.a.toFixed(2)), [b]: Number(r.b.toFixed(2)) })),
  files: files.map((r) => ({ what: r.k, [a]: Number(r.a.toFixed(2)), [b]: Number(r.b.toFixed(2)) })),
};
writeFileSync(
  fileURLToPath(new URL(`../../bench/profile-${CONNECT ? 'connect' : 'roundtrip'}.json`, import.meta.url)),
  `${JSON.stringify(out, null, 2)}\n`,
);
process.exit(0);
