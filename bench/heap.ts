/**
 * `npm run bench:heap`: where each authenticated socket's bytes go. Takes heap
 * snapshots of `nest` and `ours` servers empty and with N sockets (10,000, the
 * size of the scale_10k goal), sums self sizes by what holds them, and
 * writes the per-socket difference ours − nest, largest first, to
 * bench/heap-breakdown.json (report.ts puts it in docs/benchmarks.md).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Variant } from './app.js';
import { BenchServer, closeAll, killAll, MODE, openMany } from './harness.js';

const N = Number(process.env.NSA_BENCH_HEAP_N ?? 10_000);

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/**
 * Self size summed by what holds it: `object:Constructor` / `closure:name` / V8
 * node type, followed by the chain of first retainers (edge name and holder),
 * two steps up for backing stores, strings and numbers (`array ← properties of
 * object:Object ← _events of object:Socket` is a socket's listener table), one
 * step up for objects. The first non-weak retainer is taken, so each node is
 * counted once.
 */
function aggregate(path: string): Map<string, number> {
  const snap: Snapshot = JSON.parse(readFileSync(path, 'utf8'));
  rmSync(path);
  const {
    node_fields: fields,
    node_types: [typeNames],
    edge_fields: edgeFields,
    edge_types: [edgeTypes],
  } = snap.snapshot.meta;
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => fields.indexOf(f));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
  const { nodes, edges, strings } = snap;
  const nameOf = (i: number): string => {
    const type = typeNames[nodes[i + iType]];
    return type === 'object' || type === 'closure' ? `${type}:${strings[nodes[i + iName]]}` : type;
  };
  const NAMED = new Set(['property', 'internal', 'context', 'shortcut']);
  const holder = new Map<number, [number, string]>();
  for (let i = 0, e = 0; i < nodes.length; i += fields.length) {
    for (let k = 0; k < nodes[i + iEdges]; k++, e += edgeFields.length) {
      const to = edges[e + eTo];
      const type = edgeTypes[edges[e + eType]];
      if (type === 'weak' || holder.has(to)) continue;
      holder.set(to, [i, NAMED.has(type) ? strings[edges[e + eName]] : `[${type}]`]);
    }
  }
  const out = new Map<string, number>();
  for (let i = 0; i < nodes.length; i += fields.length) {
    const name = nameOf(i);
    let key = name;
    for (let d = 0, at = i; d < (name.includes(':') ? 1 : 2); d++) {
      const up = holder.get(at);
      if (!up) break;
      key += ` ← ${up[1]} of ${nameOf(up[0])}`;
      at = up[0];
    }
    out.set(key, (out.get(key) ?? 0) + nodes[i + iSize]);
  }
  return out;
}

async function perSocket(variant: Variant): Promise<Map<string, number>> {
  const server = await BenchServer.start(variant);
  try {
    await closeAll(await openMany(server.url, 200, MODE[variant]), server); // lazy allocations happen once
    const empty = aggregate(await server.call<string>('snapshot'));
    const sockets = await openMany(server.url, N, MODE[variant]);
    const full = aggregate(await server.call<string>('snapshot'));
    await closeAll(sockets, server);
    const keys = new Set([...empty.keys(), ...full.keys()]);
    return new Map([...keys].map((k) => [k, ((full.get(k) ?? 0) - (empty.get(k) ?? 0)) / N]));
  } finally {
    server.stop();
  }
}

const [nest, ours] = [await perSocket('nest'), await perSocket('ours')];
const keys = new Set([...nest.keys(), ...ours.keys()]);
const rows = [...keys]
  .map((k) => ({
    what: k,
    nest: Math.round(nest.get(k) ?? 0),
    ours: Math.round(ours.get(k) ?? 0),
    extra: Math.round((ours.get(k) ?? 0) - (nest.get(k) ?? 0)),
  }))
  .filter((r) => Math.abs(r.extra) >= 8)
  .sort((a, b) => b.extra - a.extra);
const total = (m: Map<string, number>): number => Math.round([...m.values()].reduce((a, b) => a + b, 0));
const out = {
  n: N,
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  totals: { nest: total(nest), ours: total(ours), extra: total(ours) - total(nest) },
  rows,
};
writeFileSync(
  fileURLToPath(new URL('../../bench/heap-breakdown.json', import.meta.url)),
  `${JSON.stringify(out, null, 2)}\n`,
);
console.log(
  `heap per socket at N=${N}: nest ${out.totals.nest} B, ours ${out.totals.ours} B, extra ${out.totals.extra} B`,
);
for (const r of rows.slice(0, 15)) console.log(`  ${String(r.extra).padStart(6)} B  ${r.what}`);
killAll();
process.exit(0);
