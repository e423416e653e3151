/**
 * `npm run bench:heap`: where each authenticated socket's bytes go. Takes heap
 * snapshots of `nest` and `ours` servers empty and with N sockets, sums the
 * retained-by-nobody-else self sizes by constructor (or V8 node type), and
 * writes the per-socket difference ours − nest, largest first, to
 * bench/heap-breakdown.json (report.ts puts it in the README section).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Variant } from './app.js';
import { BenchServer, closeAll, killAll, MODE, openMany } from './harness.js';

const N = Number(process.env.NSA_BENCH_HEAP_N ?? 2000);

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
 * Self size summed by `object:Constructor` / `closure:name` / V8 node type.
 * Backing stores (`array`: the tables of Maps and Sets, object properties and
 * elements) are put under their first holder, e.g. `array of object:Map`.
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
  const [eType, eTo] = ['type', 'to_node'].map((f) => edgeFields.indexOf(f));
  const nameOf = (i: number): string => {
    const type = typeNames[snap.nodes[i + iType]];
    return type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + iName]]}` : type;
  };
  const holder = new Map<number, number>();
  for (let i = 0, e = 0; i < snap.nodes.length; i += fields.length) {
    for (let k = 0; k < snap.nodes[i + iEdges]; k++, e += edgeFields.length) {
      const to = snap.edges[e + eTo];
      if (
        edgeTypes[snap.edges[e + eType]] !== 'weak' &&
        typeNames[snap.nodes[to + iType]] === 'array' &&
        !holder.has(to)
      )
        holder.set(to, i);
    }
  }
  const out = new Map<string, number>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    let key = nameOf(i);
    if (key === 'array' && holder.has(i)) key = `array of ${nameOf(holder.get(i)!)}`;
    out.set(key, (out.get(key) ?? 0) + snap.nodes[i + iSize]);
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
