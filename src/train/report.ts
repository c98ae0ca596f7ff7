/**
 * The training report: `output/report.html`, one self-contained page (inline SVG, no scripts
 * or fetches) with loss, learning rate, gradient norm and throughput against the step, and the
 * run's configuration. Rewritten while the run goes, atomically.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { temporaryName } from '../io/atomic.ts';

/** One point per optimizer step. */
export interface ReportPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
}

/** What the page shows. */
export interface ReportData {
  title: string;
  points: ReportPoint[];
  /** evaluation results, if any */
  evals: { step: number; loss: number; perplexity: number }[];
  /** lines of configuration and environment */
  settings: string;
  status: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
}

/** An SVG line chart of (x, y) points with axis labels. */
function lineChart(title: string, xs: number[], ys: number[], color: string): string {
  const W = 460,
    H = 220,
    L = 62,
    R = 12,
    T = 28,
    B = 34;
  const ok = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => Number.isFinite(y));
  if (ok.length === 0)
    return `<svg width="${W}" height="${H}"><text x="${L}" y="${H / 2}">${esc(title)}: no data yet</text></svg>`;
  const x0 = Math.min(...ok.map((p) => p[0])),
    x1 = Math.max(...ok.map((p) => p[0]));
  let y0 = Math.min(...ok.map((p) => p[1])),
    y1 = Math.max(...ok.map((p) => p[1]));
  if (y0 === y1) {
    y0 -= Math.abs(y0) * 0.1 + 1e-9;
    y1 += Math.abs(y1) * 0.1 + 1e-9;
  }
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const path = ok.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
  const ticks = [0, 0.5, 1].map((f) => y0 + f * (y1 - y0));
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>
${ticks.map((v) => `<text x="${L - 4}" y="${sy(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text><line x1="${L}" y1="${sy(v)}" x2="${W - R}" y2="${sy(v)}" stroke="#eee"/>`).join('')}
<text x="${L}" y="${H - 8}" font-size="11">step ${x0}</text><text x="${W - R}" y="${H - 8}" text-anchor="end" font-size="11">${x1}</text>
<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>
</svg>`;
}

/** The whole page. */
function reportHtml(d: ReportData): string {
  const s = d.points.map((p) => p.step);
  const last = d.points.at(-1);
  const charts = [
    lineChart(
      'loss',
      s,
      d.points.map((p) => p.loss),
      '#c0392b',
    ),
    lineChart(
      'learning rate',
      s,
      d.points.map((p) => p.lr),
      '#2471a3',
    ),
    lineChart(
      'gradient norm (before clipping)',
      s,
      d.points.map((p) => p.gradNorm),
      '#7d3c98',
    ),
    lineChart(
      'throughput (tokens/s)',
      s,
      d.points.map((p) => p.tokensPerSecond),
      '#1e8449',
    ),
  ];
  const evals = d.evals.length
    ? `<h2>Evaluation</h2><table><tr><th>step</th><th>loss</th><th>perplexity</th></tr>${d.evals.map((e) => `<tr><td>${e.step}</td><td>${fmt(e.loss)}</td><td>${fmt(e.perplexity)}</td></tr>`).join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(d.title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}.charts{display:flex;flex-wrap:wrap;gap:12px}svg{border:1px solid #ddd;background:#fff}pre{background:#f6f6f6;padding:12px;overflow:auto}td,th{padding:2px 10px;text-align:right}</style></head>
<body><h1>${esc(d.title)}</h1>
<p>${esc(d.status)}${last ? ` — step ${last.step}, loss ${fmt(last.loss)}, ${fmt(last.tokensPerSecond)} tokens/s` : ''}</p>
<div class="charts">${charts.join('\n')}</div>
${evals}
<h2>Configuration</h2><pre>${esc(d.settings)}</pre>
</body></html>
`;
}

/** Writes the page to `path` (through a temporary name). */
export function writeReport(path: string, d: ReportData): void {
  const tmp = temporaryName(path);
  writeFileSync(tmp, reportHtml(d));
  renameSync(tmp, path);
}
