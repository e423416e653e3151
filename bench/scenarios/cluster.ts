/**
 * Three server processes per cluster on @socket.io/redis-adapter, Redis at
 * 127.0.0.1:6379.
 * cluster_fanout: a broadcast from node 0 delivered to the sockets of all
 *   three nodes; ours (RedisIoAdapter + module) against the plain Redis adapter
 *   without the module, decided on the three nodes' summed server CPU.
 * revoke_latency: revoke(id) on node 0 until the last socket of that principal,
 *   on nodes 1 and 2, is disconnected.
 */
import { createConnection } from 'node:net';
import type { Socket } from 'socket.io-client';
import type { Variant } from '../app.js';
import { C } from '../config.js';
import { BenchServer, closeAll, interleave, now, open, openMany, MODE, progress } from '../harness.js';
import { record, recordRatio } from '../record.js';
import { bootstrap, pairedRatios, quantile } from '../stats.js';

const round = (x: number): number => Math.round(x * 100) / 100;
const REDIS = { host: '127.0.0.1', port: 6379 };

export function redisAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(REDIS, () => {
      c.end();
      resolve(true);
    });
    c.once('error', () => resolve(false));
    c.setTimeout(1000, () => (c.destroy(), resolve(false)));
  });
}

interface Node {
  server: BenchServer;
  sockets: Socket[];
}

async function startCluster(variant: Variant): Promise<Node[]> {
  const redis = { url: `redis://${REDIS.host}:${REDIS.port}`, key: `nsa-bench-${process.pid}-${variant}` };
  const servers = await Promise.all([0, 1, 2].map(() => BenchServer.start(variant, { redis })));
  const nodes: Node[] = [];
  for (const server of servers)
    nodes.push({ server, sockets: await openMany(server.url, C.cluster.perNode, MODE[variant]) });
  return nodes;
}

async function stopCluster(nodes: Node[]): Promise<void> {
  for (const { server, sockets } of nodes) {
    await closeAll(sockets, server);
    server.stop();
  }
}

export async function clusterScenarios(): Promise<void> {
  if (!(await redisAvailable())) {
    console.error('  cluster_fanout, revoke_latency: skipped, no Redis at 127.0.0.1:6379');
    return;
  }
  const clusters = new Map<Variant, Node[]>();
  try {
    const both = ['nest', 'ours'] as Variant[];
    (await Promise.all(both.map(startCluster))).forEach((nodes, i) => clusters.set(both[i], nodes));
    await clusterFanout(clusters);
    await revokeLatency(clusters.get('ours')!);
  } finally {
    for (const nodes of clusters.values()) await stopCluster(nodes);
  }
}

async function clusterFanout(clusters: Map<Variant, Node[]>): Promise<void> {
  const perBroadcast = 3 * C.cluster.perNode;
  const k = Math.max(2, Math.ceil(C.cluster.deliveries / perBroadcast));
  const expected = perBroadcast * k;
  const samples = await interleave('cluster_fanout', ['nest', 'ours'] as Variant[], C.cluster.rounds, async (v) => {
    const nodes = clusters.get(v)!;
    const sockets = nodes.flatMap((x) => x.sockets);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      const on = (): void => void (++received === expected && resolve());
      sockets.forEach((s) => s.on('b', on));
    });
    const cpu = async (): Promise<number> =>
      (await Promise.all(nodes.map((x) => x.server.cpu()))).reduce((a, b) => a + b, 0);
    const cpu0 = await cpu();
    const t0 = performance.now();
    await nodes[0].server.call('broadcast', { k });
    await done;
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = ((await cpu()) - cpu0) / 1e6;
    sockets.forEach((s) => s.off('b'));
    return { cpu: expected / cpuSeconds, wall: expected / seconds };
  });
  const wall = bootstrap(pairedRatios(samples.wall.ours, samples.wall.nest));
  recordRatio(
    {
      name: 'cluster_fanout',
      variant: 'server CPU, 3 nodes',
      n: perBroadcast,
      unit: 'msgs delivered per server CPU-second (3 nodes summed)',
      samples: samples.cpu,
      extra: { wall: { ratio: wall.value, ci: wall.ci }, wallVariants: samples.wall },
    },
    'ours',
    'nest',
    { op: '>=', value: 0.97 },
  );
}

async function revokeLatency(nodes: Node[]): Promise<void> {
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < C.revoke.samples; i++) {
    const principal = `rv${process.pid}-${i}`;
    // Two sockets of the principal on each of the two other nodes.
    const sockets = await Promise.all([1, 1, 2, 2].map((node) => open(nodes[node].server.url, 'message', principal)));
    const gone = Promise.all(
      sockets.map((s) => new Promise<number>((resolve) => s.once('disconnect', () => resolve(now())))),
    );
    const { t0: revokedAt } = await nodes[0].server.call<{ t0: number }>('revoke', { principal });
    latencies.push(Math.max(...(await gone)) - revokedAt);
    progress(`revoke_latency: ${i + 1}/${C.revoke.samples}`, t0);
  }
  const base = {
    name: 'revoke_latency',
    n: C.revoke.samples,
    baseline: 'n/a (absolute, loopback)',
    samples: { ours: latencies },
  };
  const unit = 'ms, revoke(id) on node 0 → last socket on nodes 1–2 disconnected';
  const p50 = bootstrap(latencies, (xs) => quantile(xs, 0.5));
  const p99 = bootstrap(latencies, (xs) => quantile(xs, 0.99));
  record({ ...base, variant: 'p50', unit }, p50).variants = {
    p50: round(p50.value),
    max: round(Math.max(...latencies)),
  };
  record({ ...base, variant: 'p99', unit }, p99, { op: '<=', value: 100 }, 'ms').variants = {
    p99: round(p99.value),
    max: round(Math.max(...latencies)),
  };
}
