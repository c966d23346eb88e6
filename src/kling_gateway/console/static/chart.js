// Bar charts as inline SVG (no library): each chart is a <figure> with the SVG (role="img", a
// <title> and an aria-label saying what it shows) and the same numbers as a table, so a screen
// reader or a test reads the data, not the drawing. Every bar carries data-key and data-value.

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// Round numbers for the axis: the smallest of 1, 2, 5 × 10^k at or above the largest value.
function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * step).find((m) => m >= value);
}

const format = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, ""));

// rows: [{key, label, value}]; vertical bars (one per key, e.g. per day) unless horizontal
// (one row per key, e.g. per model, where labels are long).
export function barChart({ id, title, unit, rows, horizontal = false }) {
  const max = niceMax(Math.max(0, ...rows.map((r) => r.value)));
  const label = `${title}: ` + (rows.length ? rows.map((r) => `${r.label} ${format(r.value)}`).join(", ") : "no data");
  const titleId = `${id}-title`;
  let drawing;
  if (horizontal) {
    const rowH = 22, labelW = 190, barW = 360, width = labelW + barW + 60;
    const height = Math.max(1, rows.length) * rowH + 4;
    drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": titleId, "aria-label": label, class: "chart", id },
      svg("title", { id: titleId }, label));
    rows.forEach((r, i) => {
      const y = i * rowH + 2;
      const w = (r.value / max) * barW;
      drawing.append(
        svg("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "chart-label" }, r.label),
        svg("rect", { x: labelW, y: y + 3, width: Math.max(w, r.value ? 1 : 0), height: rowH - 6, rx: 2, class: "chart-bar", "data-key": r.key, "data-value": r.value }),
        svg("text", { x: labelW + w + 4, y: y + 15, class: "chart-value" }, format(r.value)));
    });
  } else {
    const left = 40, top = 10, plotH = 140, bottom = 34, step = Math.max(12, Math.min(40, 640 / Math.max(1, rows.length)));
    const width = left + rows.length * step + 10, height = top + plotH + bottom;
    drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": titleId, "aria-label": label, class: "chart", id },
      svg("title", { id: titleId }, label));
    for (const tick of [0, max / 2, max]) {
      const y = top + plotH - (tick / max) * plotH;
      drawing.append(svg("line", { x1: left - 4, x2: width - 10, y1: y, y2: y, class: "chart-grid" }),
        svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "chart-label" }, format(tick)));
    }
    const every = Math.ceil(rows.length / 10); // at most about ten labels under the bars
    rows.forEach((r, i) => {
      const h = (r.value / max) * plotH;
      const x = left + i * step;
      drawing.append(svg("rect", { x: x + 2, y: top + plotH - h, width: step - 4, height: h, rx: 2, class: "chart-bar", "data-key": r.key, "data-value": r.value },
        svg("title", {}, `${r.label}: ${format(r.value)} ${unit}`)));
      if (i % every === 0) drawing.append(svg("text", { x: x + step / 2, y: top + plotH + 16, "text-anchor": "middle", class: "chart-label" }, r.label));
    });
  }
  const table = el("table", { class: "chart-table", "data-chart": id },
    el("caption", {}, title),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, horizontal ? "Name" : "Day"), el("th", { scope: "col" }, unit))),
    el("tbody", {}, ...rows.map((r) => el("tr", { "data-key": r.key }, el("th", { scope: "row" }, r.label), el("td", {}, format(r.value))))));
  return el("figure", { class: "chart-box" }, el("figcaption", {}, title), drawing,
    el("details", {}, el("summary", {}, `${title} as a table`), el("div", { class: "table-wrap" }, table)));
}
