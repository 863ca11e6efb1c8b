// Two small inline-SVG charts for the KPI panel (no chart library is available offline).
// Every bar carries a <title> and the panel prints the numbers too, so nothing is colour-only.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) if (child) el.append(child);
  return el;
}

function title(text) {
  const el = svg("title");
  el.textContent = text;
  return el;
}

function label(x, y, text, anchor = "start") {
  const el = svg("text", { x, y, "text-anchor": anchor });
  el.textContent = text;
  return el;
}

/**
 * P50 and P90 as two horizontal bars against a dashed target line.
 * bars: [{name, value (seconds or null), color}], target in seconds.
 */
export function targetChart({ bars, target, unit }) {
  const width = 320;
  const rowHeight = 22;
  const left = 40;
  const plot = width - left - 50;
  const max = Math.max(target ?? 0, ...bars.map((b) => b.value ?? 0), 1) * 1.1;
  const scale = (v) => left + (v / max) * plot;
  const height = bars.length * rowHeight + 18;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  bars.forEach((bar, i) => {
    const y = 4 + i * rowHeight;
    chart.append(label(0, y + 13, bar.name));
    if (bar.value === null || bar.value === undefined) {
      chart.append(label(left, y + 13, "—"));
      return;
    }
    chart.append(
      svg("rect", { x: left, y, width: Math.max(1, scale(bar.value) - left), height: 16, rx: 2, fill: bar.color },
        title(`${bar.name}: ${Math.round(bar.value)} ${unit}`)),
      label(scale(bar.value) + 4, y + 13, `${Math.round(bar.value)} ${unit}`),
    );
  });
  if (target) {
    const x = scale(target);
    chart.append(
      svg("line", { x1: x, x2: x, y1: 0, y2: height - 14, stroke: "#facc15", "stroke-width": 2, "stroke-dasharray": "4 3" }),
      label(x, height - 2, `target ${target} ${unit}`, "middle"),
    );
  }
  return chart;
}

/** Stacked bars: columns [{label, counts: {key: n}}], series [{key, name, color}]. */
export function stackedBars({ columns, series }) {
  const width = 640;
  const height = 150;
  const bottom = 18;
  const top = 14;
  const max = Math.max(1, ...columns.map((c) => series.reduce((sum, s) => sum + (c.counts[s.key] ?? 0), 0)));
  const step = width / Math.max(columns.length, 1);
  const barWidth = Math.min(28, step * 0.7);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  columns.forEach((column, i) => {
    const x = i * step + (step - barWidth) / 2;
    let y = height - bottom;
    let total = 0;
    for (const s of series) {
      const n = column.counts[s.key] ?? 0;
      if (!n) continue;
      total += n;
      const h = (n / max) * (height - bottom - top);
      y -= h;
      chart.append(svg("rect", { x, y, width: barWidth, height: h, fill: s.color }, title(`${column.label} · ${s.name}: ${n}`)));
    }
    if (total) chart.append(label(x + barWidth / 2, y - 3, String(total), "middle"));
    chart.append(label(x + barWidth / 2, height - 4, column.label, "middle"));
  });
  return chart;
}
