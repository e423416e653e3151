/**
 * docs/bench.svg from results.json, with vega-lite compiled to vega and
 * rendered headless (no browser, no canvas): the ratios with their 95%
 * intervals against the goal lines, then connect time and heap per socket
 * against N for each variant.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Result } from './record.js';

interface Row {
  label: string;
  ratio: number;
  lo: number;
  hi: number;
  verdict: string;
}

const isRatioGoal = (r: Result): boolean =>
  r.verdict !== 'no goal' && !r.baseline.includes('−') && !r.baseline.startsWith('n/a');

/** The goal's bounds as numbers: `≥ 0.97` → [0.97], `within 0.95–1.05` → [0.95, 1.05]. */
function goalLines(goal: string): number[] {
  return (goal.match(/\d+(\.\d+)?/g) ?? []).map(Number);
}

export const label = (r: Result): string =>
  `${r.name}${r.variant ? ` (${r.variant})` : ''}${r.n > 1 ? ` n=${r.n}` : ''}`;

export async function renderChart(scenarios: Result[]): Promise<string> {
  const goals = scenarios.filter(isRatioGoal);
  const rows: Row[] = goals.map((r) => ({
    label: label(r),
    ratio: r.ratio,
    lo: r.ci[0],
    hi: r.ci[1],
    verdict: r.verdict,
  }));
  const lines = goals.flatMap((r) => goalLines(r.goal).map((goal) => ({ label: label(r), goal })));

  const series = (key: 'ms' | 'heap'): { n: number; variant: string; value: number }[] => {
    const out: { n: number; variant: string; value: number }[] = [];
    for (const r of scenarios) {
      const connect = r.name === 'connect_auth' && r.variant === 'message mode';
      const handshake = r.name === 'connect_auth' && r.variant === 'handshake mode';
      if (key === 'ms' && (connect || handshake || (r.name === 'scale_10k' && r.variant === 'connect+auth all'))) {
        for (const [variant, value] of Object.entries(r.variants))
          if (!(handshake && variant === 'middleware')) out.push({ n: r.n, variant, value });
      }
      const heap = r.extra?.heapPerSocket as Record<string, number> | undefined;
      if (key === 'heap' && heap && (connect || r.variant === 'heap per socket')) {
        for (const [variant, value] of Object.entries(heap)) out.push({ n: r.n, variant, value });
      }
    }
    return out;
  };

  const colors = { domain: ['met', 'missed', 'inconclusive'], range: ['#2e7d32', '#c62828', '#9e9e9e'] };
  const versusN = (
    title: string,
    yTitle: string,
    values: { n: number; variant: string; value: number }[],
    yLog = false,
  ) => ({
    title,
    width: 520,
    height: 200,
    data: { values },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: {
        field: 'n',
        type: 'quantitative' as const,
        scale: { type: 'log' as const },
        title: 'sockets (N, log scale)',
      },
      y: {
        field: 'value',
        type: 'quantitative' as const,
        title: yTitle,
        scale: yLog ? { type: 'log' as const } : { zero: false },
      },
      color: { field: 'variant', type: 'nominal' as const },
    },
  });

  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 12,
    // The verdict colours and the variant colours are different scales.
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      {
        title: 'Ratio ours / baseline: median, 95% bootstrap interval, goal (red)',
        width: 520,
        height: { step: 18 },
        layer: [
          {
            data: { values: rows },
            mark: { type: 'rule', strokeWidth: 2 },
            encoding: {
              y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 400 } },
              x: { field: 'lo', type: 'quantitative', title: 'ratio', scale: { zero: false } },
              x2: { field: 'hi' },
              color: { field: 'verdict', type: 'nominal', scale: colors },
            },
          },
          {
            data: { values: rows },
            mark: { type: 'point', filled: true, size: 40 },
            encoding: {
              y: { field: 'label', type: 'nominal', sort: null },
              x: { field: 'ratio', type: 'quantitative' },
              color: { field: 'verdict', type: 'nominal', scale: colors, title: 'verdict' },
            },
          },
          {
            data: { values: lines },
            mark: { type: 'tick', color: '#d32f2f', thickness: 2 },
            encoding: {
              y: { field: 'label', type: 'nominal', sort: null },
              x: { field: 'goal', type: 'quantitative' },
            },
          },
        ],
      },
      versusN('Time to connect and authenticate N sockets', 'ms (log scale)', series('ms'), true),
      versusN('Server heap per socket', 'bytes per socket', series('heap')),
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
