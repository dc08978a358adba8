// Helpers every page of the dashboard shares: DOM building, formatting, the JSON API under api/
// (relative, so the dashboard works wherever it is mounted). Every value from the server is
// inserted as text, never as HTML.

export const REASONS = ["permanent_error", "retries_exhausted", "undecodable", "poison"];
// `note` is the message shown after a write, with the view it belongs to: every render of that
// view shows it again, so a refresh that overlaps the write cannot wipe it.
export const state = {
  info: null, timer: null, flash: null, note: null, selected: new Map(),
  rendering: null, want: null, render: null, fresh: true,
};

// -- helpers -------------------------------------------------------------------------------------

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) listen(node, key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Handlers are kept on the node and called through one dispatcher, so that a refresh that
// patches the page in place (see `show`) hands the kept node the new render's handlers.
function dispatch(event) {
  const handler = event.currentTarget._on && event.currentTarget._on[event.type];
  if (handler) return handler(event);
  return undefined;
}

export function listen(node, type, handler) {
  node._on = node._on || {};
  node._on[type] = handler;
  node.addEventListener(type, dispatch);
}

function keyOf(node) {
  const d = node.dataset;
  if (!d) return "";
  return [d.deadId, d.queue, d.jobId, d.consumer, d.entry, d.schedule, d.testid].join("|");
}

function patch(old, fresh) {
  if (old.nodeType !== fresh.nodeType || old.nodeName !== fresh.nodeName ||
      (old.nodeType === Node.ELEMENT_NODE && keyOf(old) !== keyOf(fresh))) {
    old.replaceWith(fresh);
    return;
  }
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
    return;
  }
  for (const a of [...old.attributes]) if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
  for (const a of fresh.attributes) {
    if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  }
  old._on = fresh._on;
  for (const type of Object.keys(fresh._on || {})) old.addEventListener(type, dispatch);
  const focused = old === document.activeElement;
  if (old.tagName === "INPUT" && old.type === "checkbox") old.checked = fresh.checked;
  else if ((old.tagName === "INPUT" || old.tagName === "SELECT") && !focused) {
    old.value = fresh.value;
  }
  if ("disabled" in old) old.disabled = fresh.disabled;
  patchChildren(old, fresh);
}

function patchChildren(old, fresh) {
  const before = [...old.childNodes];
  const after = [...fresh.childNodes];
  after.forEach((node, i) => {
    if (i < before.length) patch(before[i], node);
    else old.append(node);
  });
  for (const node of before.slice(after.length)) node.remove();
}

// Put a view's content into `root`: a page just navigated to is drawn afresh; a refresh
// patches the page in place, so selection, focus, scroll and selected text survive it.
export function show(root, ...children) {
  const fresh = el("div", {}, children);
  if (state.fresh || !root.childNodes.length) root.replaceChildren(...fresh.childNodes);
  else patchChildren(root, fresh);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

export function when(ms) {
  if (!ms) return "–";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function rate(value) {
  return value === null || value === undefined ? "–" : `${value.toFixed(1)}/s`;
}

export function token() {
  return document.getElementById("token").value.trim();
}

export function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

export async function api(path, options) {
  const response = await fetch(`api/${path}`, Object.assign({ headers: headers() }, options));
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

export async function post(path, body) {
  return api(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

export function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search || "") };
}

export function status(text, bad) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = bad ? "bad" : "";
}

export function message(text, kind) {
  state.note = { text, kind: kind || "", view: location.hash };
  showNote();
}

export function showNote() {
  const node = document.getElementById("message");
  const note = state.note && state.note.view === location.hash ? state.note : null;
  if (!node || !note) return;
  node.textContent = note.text;
  node.className = note.kind;
}

export function card(label, value, testid) {
  return el("div", { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "value", "data-testid": testid }, value));
}

export function table(columns, rows, empty, testid) {
  if (!rows.length) return el("p", { class: "muted", "data-testid": `${testid}-empty` }, empty);
  return el("table", { "data-testid": testid },
    el("thead", {}, el("tr", {}, columns.map(([title, cls]) => el("th", { class: cls }, title)))),
    el("tbody", {}, rows));
}

// A queue's link: a partition (`orders#1`) is shown by its own name and links to its queue's
// page (`orders`), where the partitions are summed, as on the overview.
export function queueLink(name) {
  const logical = name.replace(/#\d+$/, "");
  return el("a", { href: `#/queues/${encodeURIComponent(logical)}` }, name);
}

export function deadKey(row) {
  return `${row.queue}\u0000${row.dead_id}`;
}

export function jobLink(id, queue) {
  if (!id) return "–";
  return el("a", { href: `#/jobs/${encodeURIComponent(id)}${query({ queue })}` }, id);
}

// Writes need the dashboard started with writes allowed AND a token typed in: until then every
// write button is disabled and says why. Buttons carry data-write; data-ready="0" marks one
// that also waits for something else (a selection).
export function canWrite() {
  return Boolean(state.info && state.info.writes_allowed && token());
}

function whyNot() {
  if (!state.info || !state.info.writes_allowed) return "read-only: start with --allow-writes";
  return token() ? "" : "enter the token (top right) to enable writes";
}

export function writeButton(attrs, label, ready) {
  const button = el("button", Object.assign({ "data-write": "1",
    "data-ready": ready === false ? "0" : "1" }, attrs), label);
  syncWrite(button);
  return button;
}

export function syncWrite(button) {
  const why = whyNot();
  button.disabled = Boolean(why) || button.dataset.ready === "0";
  button.title = why;
}

export function syncWrites() {
  for (const button of document.querySelectorAll("button[data-write]")) syncWrite(button);
}
