// Charts of a queue's history (api/history: what workers recorded per minute, whether or not a
// page was open), drawn as SVG by this page: no library, no CDN, nothing but text inserted.
import { state, el, api, query, duration } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 380;
const H = 150;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };
// History changes once a minute at most: read it again every 15 s, not on every refresh.
const REREAD_MS = 15000;

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 16);
}

// One chart: bars (counts per step) or a line (sampled values); a point without a value draws
// nothing. Every mark carries data-t (step start), data-v (its value) and a tooltip.
export function chart({ title, points, value, format, kind, testid, stepS }) {
  const values = points.map(value);
  const known = values.filter((v) => v !== null && v !== undefined);
  const top = Math.max(...known, 0) || 1;
  const n = Math.max(points.length, 1);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (i * plotW) / n;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const marks = [];
  if (kind === "bar") {
    values.forEach((v, i) => {
      if (!v) return;
      marks.push(svg("rect", {
        class: "bar", x: x(i) + 0.5, y: y(v), width: Math.max(plotW / n - 1, 1),
        height: Math.max(PAD.top + plotH - y(v), 1), "data-t": points[i].t_ms, "data-v": v,
      }, svg("title", {}, `${clock(points[i].t_ms)} UTC: ${format(v)}`)));
    });
  } else {
    let path = "";
    values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const cx = x(i) + plotW / n / 2;
      path += `${path && values[i - 1] !== null && values[i - 1] !== undefined ? "L" : "M"}` +
        `${cx.toFixed(1)},${y(v).toFixed(1)}`;
      marks.push(svg("circle", {
        class: "dot", cx: cx.toFixed(1), cy: y(v).toFixed(1), r: 2,
        "data-t": points[i].t_ms, "data-v": v,
      }, svg("title", {}, `${clock(points[i].t_ms)} UTC: ${format(v)}`)));
    });
    if (path) marks.unshift(svg("path", { class: "line", d: path }));
  }
  const axis = [
    svg("line", { class: "axis", x1: PAD.left, y1: PAD.top + plotH, x2: W - PAD.right,
      y2: PAD.top + plotH }),
    svg("text", { class: "tick", x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" },
      format(top)),
    svg("text", { class: "tick", x: PAD.left - 4, y: PAD.top + plotH, "text-anchor": "end" },
      format(0)),
  ];
  if (points.length) {
    axis.push(
      svg("text", { class: "tick", x: PAD.left, y: H - 6 }, clock(points[0].t_ms)),
      svg("text", { class: "tick", x: W - PAD.right, y: H - 6, "text-anchor": "end" },
        `${clock(points[points.length - 1].t_ms + stepS * 1000)} UTC`));
  }
  const empty = known.length === 0 || (kind === "bar" && !known.some((v) => v > 0));
  return el("figure", { class: "chart", "data-testid": testid },
    el("figcaption", {}, title, empty ? el("span", { class: "muted" }, " (nothing recorded)") : null),
    svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title }, ...axis, ...marks));
}

function percent(v) {
  return `${(v * 100).toFixed(v && v < 0.1 ? 1 : 0)}%`;
}

function perSecond(v) {
  return v >= 10 ? `${v.toFixed(0)}/s` : `${v.toFixed(v ? 2 : 0)}/s`;
}

async function readHistory(queue, span) {
  const key = `${queue || ""}\u0000${span}`;
  const cache = state.history || (state.history = new Map());
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < REREAD_MS) return hit.body;
  const body = await api(`history${query({ queue, span })}`);
  cache.set(key, { at: Date.now(), body });
  return body;
}

// The history panel of the overview (queue = null: every queue summed) or of one queue.
export async function historyPanel(queue) {
  const span = state.span || "hour";
  const h = await readHistory(queue, span);
  const points = h.points;
  const pick = (name) => el("button", {
    class: name === span ? "on" : null, "aria-pressed": String(name === span),
    "data-testid": `span-${name}`,
    onclick: () => {
      state.span = name;
      state.render();
    },
  }, name === "hour" ? "last hour" : "last day");
  return el("section", { class: "history", "data-testid": "history" },
    el("div", { class: "history-head" },
      el("h3", {}, "History"),
      el("div", { class: "toggle" }, pick("hour"), pick("day")),
      el("span", { class: "muted" },
        `recorded by the workers, a point per ${h.step_s / 60} min`)),
    el("div", { class: "charts" },
      chart({ title: "Throughput (done/s)", points, value: (p) => p.done_per_s,
        format: perSecond, kind: "bar", testid: "chart-throughput", stepS: h.step_s }),
      chart({ title: "Failure rate (retried + dead / settled)", points,
        value: (p) => p.failure_rate, format: percent, kind: "line", testid: "chart-failures",
        stepS: h.step_s }),
      chart({ title: "Depth (stream entries)", points, value: (p) => p.stream,
        format: (v) => String(Math.round(v)), kind: "line", testid: "chart-depth",
        stepS: h.step_s }),
      chart({ title: "Oldest pending age", points, value: (p) => p.oldest_pending_ms,
        format: (v) => duration(Math.round(v)), kind: "line", testid: "chart-oldest",
        stepS: h.step_s })));
}
