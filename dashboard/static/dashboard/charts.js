// Small charts drawn from API data: horizontal bars (HTML) and line charts (SVG).
import { element } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";

// rows: [{label, value, text}], value in [0, max]; the row named `highlight` stands out.
export function bars(container, rows, { max, highlight, name } = {}) {
  if (!rows.length) {
    container.replaceChildren(element("p", { class: "muted", text: "Nothing to show yet." }));
    return;
  }
  const largest = max ?? Math.max(1, ...rows.map((row) => row.value));
  const list = element("div", { class: "bars", role: "list", "aria-label": name });
  for (const row of rows) {
    const share = largest ? Math.max(0, Math.min(1, row.value / largest)) : 0;
    const fill = element("div", { class: "bar-fill" });
    fill.style.width = `${(share * 100).toFixed(2)}%`;
    list.append(
      element(
        "div",
        {
          class: row.label === highlight ? "bar-row top" : "bar-row",
          role: "listitem",
          "data-label": row.label,
        },
        element("span", { class: "bar-label", text: row.label }),
        element("div", { class: "bar-track", "aria-hidden": "true" }, fill),
        element("span", { class: "bar-value", text: row.text ?? String(row.value) }),
      ),
    );
  }
  container.replaceChildren(list);
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(low, high, count = 4) {
  if (low === high) return [low];
  const step = (high - low) / count;
  return Array.from({ length: count + 1 }, (_, index) => low + index * step);
}

// series: [{name, points: [[x, y], ...]}]; redrawn whole on every call (cheap at
// a few hundred points) so it can follow a job's history as epochs arrive.
export function lineChart(container, series, { title, xLabel = "epoch", xMax, yMin, yMax, format = (v) => v.toFixed(2) } = {}) {
  const width = 480;
  const height = 240;
  const margin = { top: 12, right: 16, bottom: 36, left: 48 };
  const all = series.flatMap((item) => item.points);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title || series.map((item) => item.name).join(", "),
  });
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xLow = Math.min(1, ...xs);
  const xHigh = Math.max(xLow + 1, xMax ?? 0, ...xs);
  let low = yMin ?? Math.min(...ys);
  let high = yMax ?? Math.max(...ys);
  if (!all.length) {
    low = 0;
    high = 1;
  }
  if (high === low) high = low + 1;
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (value) => margin.left + ((value - xLow) / (xHigh - xLow)) * plotWidth;
  const y = (value) => margin.top + (1 - (value - low) / (high - low)) * plotHeight;

  for (const tick of niceTicks(low, high)) {
    chart.append(svg("line", { class: "grid-line", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
    chart.append(svg("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, format(tick)));
  }
  const xTicks = [...new Set(niceTicks(xLow, xHigh).map((value) => Math.round(value)))];
  for (const tick of xTicks) {
    chart.append(svg("text", { x: x(tick), y: height - margin.bottom + 16, "text-anchor": "middle" }, String(tick)));
  }
  chart.append(svg("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top, y2: height - margin.bottom }));
  chart.append(svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: height - margin.bottom, y2: height - margin.bottom }));
  chart.append(svg("text", { x: margin.left + plotWidth / 2, y: height - 4, "text-anchor": "middle" }, xLabel));

  series.forEach((item, index) => {
    const points = item.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { class: `series-${index}`, points, "data-series": item.name }));
    for (const [px, py] of item.points) {
      const dot = svg("circle", { class: `series-${index}`, cx: x(px), cy: y(py), r: 2.5 });
      dot.append(svg("title", {}, `${item.name}, ${xLabel} ${px}: ${format(py)}`));
      chart.append(dot);
    }
  });

  const legend = element("div", { class: "legend" });
  series.forEach((item, index) => {
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = index === 0 ? "#2458c6" : "#d9730d";
    const last = item.points.at(-1);
    legend.append(element("span", {}, swatch, `${item.name}${last ? `: ${format(last[1])}` : ""}`));
  });
  container.replaceChildren(chart, legend);
}
