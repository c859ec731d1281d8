/** The results chart: a hand-written SVG of grouped bars (no charting dependency). */

export interface Bar {
  label: string;
  value: number;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface Panel {
  title: string;
  unit: string;
  groups: BarGroup[];
  /** Horizontal reference lines (targets, references). */
  lines?: { value: number; label: string }[];
  /** Shown instead of bars when nothing was measured. */
  note?: string;
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
const PANEL_W = 460;
const PANEL_H = 300;
const GAP = 20;

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A "nice" axis maximum at or above `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

function panel(p: Panel, x0: number, y0: number): string {
  const out: string[] = [];
  const left = x0 + 50;
  const top = y0 + 48;
  const width = PANEL_W - 60;
  const height = PANEL_H - 104;
  out.push(`<rect x="${x0}" y="${y0}" width="${PANEL_W}" height="${PANEL_H}" fill="#fff" stroke="#ddd"/>`);
  out.push(`<text x="${x0 + 10}" y="${y0 + 20}" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  if (p.note || p.groups.length === 0) {
    out.push(`<text x="${x0 + 10}" y="${y0 + 60}" font-size="12" fill="#666">${esc(p.note ?? 'not measured')}</text>`);
    return out.join('\n');
  }
  const values = [...p.groups.flatMap((g) => g.bars.map((b) => b.value)), ...(p.lines ?? []).map((l) => l.value)];
  const max = niceMax(Math.max(...values.filter(Number.isFinite)));
  const y = (v: number) => top + height - (Math.max(0, v) / max) * height;
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out.push(`<line x1="${left}" x2="${left + width}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end" fill="#666">${fmt(v)}</text>`);
  }
  out.push(`<text x="${x0 + 10}" y="${y0 + 36}" font-size="10" fill="#666">${esc(p.unit)}</text>`);
  const groupW = width / p.groups.length;
  const seriesLabels = [...new Set(p.groups.flatMap((g) => g.bars.map((b) => b.label)))];
  p.groups.forEach((group, gi) => {
    const barW = Math.min(36, (groupW - 16) / Math.max(1, group.bars.length));
    const start = left + gi * groupW + (groupW - barW * group.bars.length) / 2;
    group.bars.forEach((bar, bi) => {
      const color = COLORS[seriesLabels.indexOf(bar.label) % COLORS.length];
      const bx = start + bi * barW;
      const by = y(bar.value);
      out.push(
        `<rect x="${bx + 1}" y="${by}" width="${barW - 2}" height="${top + height - by}" fill="${color}">` +
          `<title>${esc(`${group.label} ${bar.label}: ${fmt(bar.value)} ${p.unit}`)}</title></rect>`,
      );
      out.push(`<text x="${bx + barW / 2}" y="${by - 3}" font-size="9" text-anchor="middle">${fmt(bar.value)}</text>`);
    });
    out.push(
      `<text x="${left + gi * groupW + groupW / 2}" y="${top + height + 14}" font-size="11" text-anchor="middle">` +
        `${esc(group.label)}</text>`,
    );
  });
  for (const line of p.lines ?? []) {
    out.push(
      `<line x1="${left}" x2="${left + width}" y1="${y(line.value)}" y2="${y(line.value)}" stroke="#c00" stroke-dasharray="4 3"/>`,
    );
    out.push(
      `<text x="${left + width}" y="${y(line.value) - 3}" font-size="10" text-anchor="end" fill="#c00">${esc(line.label)}</text>`,
    );
  }
  if (seriesLabels.length > 1) {
    seriesLabels.forEach((label, i) => {
      const lx = left + i * 90;
      const ly = y0 + PANEL_H - 18;
      out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
      out.push(`<text x="${lx + 14}" y="${ly}" font-size="10">${esc(label)}</text>`);
    });
  }
  return out.join('\n');
}

/** Panels two to a row. */
export function renderChart(title: string, subtitle: string, panels: Panel[]): string {
  const rows = Math.ceil(panels.length / 2);
  const width = PANEL_W * 2 + GAP * 3;
  const height = 60 + rows * (PANEL_H + GAP);
  const body = panels.map((p, i) =>
    panel(p, GAP + (i % 2) * (PANEL_W + GAP), 60 + Math.floor(i / 2) * (PANEL_H + GAP)),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="${GAP}" y="28" font-size="18" font-weight="bold">${esc(title)}</text>`,
    `<text x="${GAP}" y="47" font-size="12" fill="#555">${esc(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
