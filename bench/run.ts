/**
 * `npm run bench [-- --quick]`: what authentication costs, measured against
 * the same app without the module. This process is the load generator; each
 * server under test runs in its own process on another core (harness.ts).
 * Every goal gets a median, a bootstrap 95% interval over interleaved rounds,
 * and a verdict decided on the interval (stats.ts).
 *
 * A full run writes bench/results.json (the previous full run moves to
 * bench/results.prev.json), docs/bench.svg and docs/benchmarks.md.
 * The quick run only proves the harness works: it fails on a broken harness,
 * never on a ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { C, quick } from './config.js';
import { killAll, pinning, serversFor } from './harness.js';
import { results } from './record.js';
import { micro, type MicroResult } from './micro.js';
import { writeReport } from './report.js';
import { clusterScenarios } from './scenarios/cluster.js';
import { connectAuth } from './scenarios/connect.js';
import { floodLatency, floodRecovery } from './scenarios/flood.js';
import { jwksAuth } from './scenarios/jwks.js';
import { refreshStorm, refreshStream, revalidateCost } from './scenarios/lifecycle.js';
import { policedBroadcast, policedJoin, roomsServer } from './scenarios/rooms.js';
import { scale10k } from './scenarios/scale.js';
import { connectStorm } from './scenarios/storm.js';
import { broadcastFanout, roundtrips } from './scenarios/throughput.js';
import { telemetryCost } from './scenarios/telemetry.js';

// ── open files: servers hold one per socket, client workers one per socket ─────
const needFds =
  Math.max(
    C.scale.n,
    C.flood.n,
    C.latency.idle + C.latency.clients,
    3 * C.fanout.ns.at(-1)!,
    2 * C.storm.n,
    C.connectStorm.n + C.connectStorm.pingers,
  ) + 1024;
const ulimit = (): number => Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0;
if (ulimit() < needFds && !process.env.NSA_BENCH_REEXEC) {
  // Node cannot raise its own limit: re-run under a shell that does; children inherit it.
  const args = [...process.execArgv, ...process.argv.slice(1)].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('sh', ['-c', `ulimit -n ${needFds} && exec '${process.execPath}' ${args}`], {
    stdio: 'inherit',
    env: { ...process.env, NSA_BENCH_REEXEC: '1' },
  });
  if (r.status !== 126 && r.status !== 2) process.exit(r.status ?? 1);
  console.error(`open-files limit is ${ulimit()} and could not be raised to ${needFds}; large N may fail`);
}

process.on('exit', killAll);
// A hung harness must fail CI, not stall it.
const limitMinutes = quick ? 5 : 40;
setTimeout(() => {
  console.error(`benchmark harness failed: still running after ${limitMinutes} minutes`);
  process.exit(1);
}, limitMinutes * 60_000).unref();
process.on('SIGINT', () => process.exit(130));

const started = performance.now();
const load = loadavg()[0];
console.error(
  `nestjs-socket-auth benchmarks (${quick ? 'quick' : 'full'}); load average ${load.toFixed(2)} on ${cpus().length} cores`,
);
console.error(pinning.ok ? `pinned: ${pinning.why}` : `NOT pinned: ${pinning.why}`);
console.error(`open-files limit ${ulimit()}`);

const steps: [string, () => Promise<unknown>][] = [
  ['connect_auth', connectAuth],
  ['jwks_auth', jwksAuth],
  ['broadcast_fanout', broadcastFanout],
  ['roundtrip', roundtrips],
  ['scale_10k', scale10k],
  ['connect_storm', connectStorm],
  ['cluster', clusterScenarios],
  ['flood_recovery', floodRecovery],
  ['flood_latency', floodLatency],
  ['refresh_stream', refreshStream],
  ['refresh_storm', refreshStorm],
  ['revalidate_cost', revalidateCost],
  ['policed_join', policedJoin],
  ['policed_broadcast', policedBroadcast],
  ['telemetry_cost', telemetryCost],
];
// `--only=scale_10k,micro` runs a subset (for working on the harness; writes nothing).
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
let microResults: MicroResult[] = [];
try {
  if (quick && !only)
    await Promise.all([
      serversFor([
        'bare',
        'nest',
        'middleware',
        'nest-guard',
        'ours',
        'ours-handshake',
        'ours-unmarked',
        'handwritten',
      ]),
      roomsServer(),
    ]);
  for (const [name, step] of steps) {
    if (only && !only.includes(name)) continue;
    console.error(`[${Math.round((performance.now() - started) / 1000)} s] ${name}`);
    await step();
  }
  if (!only || only.includes('micro')) {
    console.error(`[${Math.round((performance.now() - started) / 1000)} s] micro`);
    microResults = await micro();
  }
} catch (err) {
  console.error('benchmark harness failed:', err);
  process.exit(1);
}

const pkg = (name: string): string =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url)), 'utf8'))
    .version;
const seconds = Math.round((performance.now() - started) / 1000);
const env = {
  node: process.version,
  socketio: pkg('socket.io'),
  nest: pkg('@nestjs/core'),
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  quick,
  pinning: pinning.ok ? pinning.why : `not pinned: ${pinning.why}`,
  loadAverageAtStart: Number(load.toFixed(2)),
  loadAverageAtEnd: Number(loadavg()[0].toFixed(2)),
  seconds,
};

const goals = results.filter((r) => r.verdict !== 'no goal');
const count = (v: string): number => goals.filter((r) => r.verdict === v).length;
console.log(
  `\n${count('met')} met, ${count('missed')} missed, ${count('inconclusive')} inconclusive of ${goals.length} goals, in ${seconds} s`,
);

const file = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
if ((!quick && !only) || process.env.NSA_BENCH_WRITE) {
  const out = file('bench/results.json');
  if (!quick && existsSync(out) && !JSON.parse(readFileSync(out, 'utf8')).env?.quick)
    renameSync(out, file('bench/results.prev.json'));
  writeFileSync(out, `${JSON.stringify({ env, scenarios: results, micro: microResults }, null, 2)}\n`);
  await writeReport();
}
process.exit(0);
