/**
 * The speedup chart as a self-contained SVG string: speedup over the dense
 * baseline (y) against batch size (x, log2), one line per model, the ideal
 * speedup dashed. A pure function so it can be tested without a GPU.
 */

export interface ChartSeries {
  name: string;
  points: ReadonlyArray<{ batch: number; speedup: number }>;
}

export interface ChartInput {
  title: string;
  subtitle?: string;
  series: readonly ChartSeries[];
  /** Dense bytes / quantized bytes: the speedup of a purely memory-bound layer. */
  idealSpeedup: number;
  /** The dense baseline's type (default 'FP16'). */
  baseline?: string;
  /** The quantized weights (default '4-bit'). */
  weights?: string;
}

const WIDTH = 800;
const HEIGHT = 500;
const PLOT = { left: 70, right: 600, top: 80, bottom: 430 };
/** Keeps the first and last batch off the axes. */
const X_INSET = 16;
/** Tableau 10: distinct, and readable on white. */
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

const num = (v: number) => (Math.round(v * 10) / 10).toString();

/** A step of 1, 2, 2.5 or 5 times a power of ten giving about `target` intervals. */
export function niceStep(max: number, target = 6): number {
  const raw = max / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * power >= raw) return f * power;
  return 10 * power;
}

function formatTick(v: number): string {
  return `${Number(v.toFixed(2))}x`;
}

export function renderSpeedupChart(input: ChartInput): string {
  const baseline = input.baseline ?? 'FP16';
  const weights = input.weights ?? '4-bit';
  const series = input.series.map((s) => ({ ...s, points: s.points.filter((p) => p.batch > 0 && Number.isFinite(p.speedup)) }));
  const batches = [...new Set(series.flatMap((s) => s.points.map((p) => p.batch)))].sort((a, b) => a - b);
  const maxSpeedup = Math.max(input.idealSpeedup, ...series.flatMap((s) => s.points.map((p) => p.speedup)));
  const yMax = maxSpeedup * 1.1;

  const lo = Math.log2(batches[0] ?? 1);
  const hi = Math.log2(batches[batches.length - 1] ?? 1);
  const x = (batch: number) =>
    hi > lo
      ? PLOT.left + X_INSET + ((Math.log2(batch) - lo) / (hi - lo)) * (PLOT.right - PLOT.left - 2 * X_INSET)
      : (PLOT.left + PLOT.right) / 2;
  const y = (speedup: number) => PLOT.bottom - (speedup / yMax) * (PLOT.bottom - PLOT.top);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      `font-family="Helvetica, Arial, sans-serif" role="img">`,
    `<title>${escapeXml(input.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="30" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">${escapeXml(input.title)}</text>`,
  ];
  if (input.subtitle)
    parts.push(`<text x="${WIDTH / 2}" y="52" text-anchor="middle" font-size="13" fill="#555">${escapeXml(input.subtitle)}</text>`);

  // Grid and y ticks.
  const step = niceStep(yMax);
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const yy = num(y(v));
    parts.push(`<line x1="${PLOT.left}" y1="${yy}" x2="${PLOT.right}" y2="${yy}" stroke="#e3e3e3" stroke-width="1"/>`);
    parts.push(`<text x="${PLOT.left - 8}" y="${yy}" dy="4" text-anchor="end" font-size="13" fill="#333">${formatTick(v)}</text>`);
  }
  // x ticks at the measured batch sizes. Labels that would overlap are left
  // out, powers of two (and the ends) placed first so that 16, 32, ... stay.
  const labelled: number[] = [];
  const fits = (b: number) => labelled.every((o) => Math.abs(x(b) - x(o)) >= 4 * (String(b).length + String(o).length) + 8);
  const isPower = (b: number) => (b & (b - 1)) === 0;
  const priority = batches.filter((b, i) => isPower(b) || i === 0 || i === batches.length - 1);
  for (const b of [...priority, ...batches.filter((b) => !priority.includes(b))]) if (fits(b)) labelled.push(b);
  for (const b of batches) {
    const xx = num(x(b));
    parts.push(`<line x1="${xx}" y1="${PLOT.top}" x2="${xx}" y2="${PLOT.bottom}" stroke="#f0f0f0" stroke-width="1"/>`);
    parts.push(`<line x1="${xx}" y1="${PLOT.bottom}" x2="${xx}" y2="${PLOT.bottom + 5}" stroke="#333"/>`);
    if (labelled.includes(b))
      parts.push(`<text x="${xx}" y="${PLOT.bottom + 20}" text-anchor="middle" font-size="13" fill="#333">${b}</text>`);
  }
  // Axes and their titles.
  parts.push(
    `<line x1="${PLOT.left}" y1="${PLOT.bottom}" x2="${PLOT.right}" y2="${PLOT.bottom}" stroke="#333" stroke-width="1.5"/>`,
    `<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.bottom}" stroke="#333" stroke-width="1.5"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 48}" text-anchor="middle" font-size="14" fill="#222">batch size (tokens, log2 scale)</text>`,
    `<text transform="translate(22 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="14" fill="#222">speedup over ${escapeXml(baseline)} (cuBLAS)</text>`,
  );

  // The memory-bound ideal, dashed and labelled.
  const yi = num(y(input.idealSpeedup));
  parts.push(
    `<line class="ideal" x1="${PLOT.left}" y1="${yi}" x2="${PLOT.right}" y2="${yi}" stroke="#222" stroke-width="1.5" stroke-dasharray="7 5"/>`,
    `<text x="${PLOT.right - 4}" y="${yi}" dy="-6" text-anchor="end" font-size="13" fill="#222">ideal ${input.idealSpeedup.toFixed(2)}x (${escapeXml(baseline)} bytes / ${escapeXml(weights)} bytes)</text>`,
  );

  // One line per model, with markers, then the legend to the right of the plot.
  // A line that exactly covers an earlier one (mistral-7b has llama3-8b's
  // shapes) is dashed so that both colours show.
  const drawn: string[] = [];
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.map((p) => `${num(x(p.batch))},${num(y(p.speedup))}`);
    const covers = drawn.includes(pts.join(' '));
    drawn.push(pts.join(' '));
    const dash = covers ? ' stroke-dasharray="9 9"' : '';
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round"${dash} points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"/>`);
    }
    const ly = PLOT.top + 10 + i * 24;
    parts.push(
      `<line x1="${PLOT.right + 24}" y1="${ly}" x2="${PLOT.right + 52}" y2="${ly}" stroke="${color}" stroke-width="3"${covers ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${PLOT.right + 60}" y="${ly}" dy="5" font-size="14" fill="#222">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
