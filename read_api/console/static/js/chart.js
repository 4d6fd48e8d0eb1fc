// A small stacked bar chart in SVG: events finished per bucket, one colour per interface.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 140;
// Fixed order and colours, so an interface keeps its colour from one refresh to the next.
export const INTERFACES = ["tenantSync", "applicationSync", "authSync", "singleOrgSync", "allOrgSync", "unknown"];

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/**
 * `series`: {interface: [count per bucket]}, `buckets`: ISO start of each bucket, `bucketSeconds`.
 * The chart is a picture for the eye; its numbers are in the text summary and the table beside it.
 */
export function stackedBars({ series, buckets, bucketSeconds }) {
  const names = [...INTERFACES.filter((name) => name in series), ...Object.keys(series).filter((n) => !INTERFACES.includes(n))];
  const totals = buckets.map((_, index) => names.reduce((sum, name) => sum + series[name][index], 0));
  const peak = Math.max(1, ...totals);
  const all = totals.reduce((sum, value) => sum + value, 0);
  const minutes = Math.round((buckets.length * bucketSeconds) / 60);
  const label = `Events finished over the last ${minutes} minutes: ${all} in all, at most ${peak} in one ${bucketSeconds}-second bar.`;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", role: "img", "aria-label": label, class: "chart-svg" });
  const barWidth = WIDTH / Math.max(1, buckets.length);
  buckets.forEach((_, index) => {
    let top = HEIGHT;
    names.forEach((name, order) => {
      const value = series[name][index];
      if (!value) return;
      const height = (value / peak) * (HEIGHT - 4);
      top -= height;
      const bar = svg("rect", {
        x: (index * barWidth + 0.5).toFixed(2), y: top.toFixed(2), width: Math.max(1, barWidth - 1).toFixed(2), height: height.toFixed(2),
        class: `series-${INTERFACES.includes(name) ? INTERFACES.indexOf(name) : order % INTERFACES.length}`,
      });
      bar.append(svg("title", {}));
      bar.lastChild.textContent = `${name}: ${value}`;
      chart.append(bar);
    });
  });
  const legend = h("ul", { class: "legend", "aria-label": "Interfaces" },
    names.map((name) => h("li", {},
      h("span", { class: `swatch series-${INTERFACES.includes(name) ? INTERFACES.indexOf(name) : 0}`, "aria-hidden": "true" }),
      name)));
  return h("figure", { class: "chart" },
    h("div", { class: "chart-frame" }, h("span", { class: "chart-peak", "aria-hidden": "true" }, String(peak)), chart),
    h("figcaption", {},
      h("span", {}, `${minutes} min ago`), h("span", { class: "muted" }, `bars of ${bucketSeconds} s · ${all} events`), h("span", {}, "now")),
    legend);
}
