// streamq dashboard: plain JavaScript over the JSON API under api/ (relative, so the dashboard
// works wherever it is mounted). Every value from the server is inserted as text, never as HTML.
"use strict";

const REASONS = ["permanent_error", "retries_exhausted", "undecodable", "poison"];
// `note` is the message shown after a write, with the view it belongs to: every render of that
// view shows it again, so a refresh that overlaps the write cannot wipe it.
const state = {
  info: null, timer: null, flash: null, note: null, selected: new Map(),
  rendering: null, want: null,
};

// -- helpers -------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function duration(ms) {
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

function when(ms) {
  if (!ms) return "–";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function rate(value) {
  return value === null || value === undefined ? "–" : `${value.toFixed(1)}/s`;
}

function token() {
  return document.getElementById("token").value.trim();
}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

async function api(path, options) {
  const response = await fetch(`api/${path}`, Object.assign({ headers: headers() }, options));
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

async function post(path, body) {
  return api(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search || "") };
}

function status(text, bad) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = bad ? "bad" : "";
}

function message(text, kind) {
  state.note = { text, kind: kind || "", view: location.hash };
  showNote();
}

function showNote() {
  const node = document.getElementById("message");
  const note = state.note && state.note.view === location.hash ? state.note : null;
  if (!node || !note) return;
  node.textContent = note.text;
  node.className = note.kind;
}

function card(label, value, testid) {
  return el("div", { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "value", "data-testid": testid }, value));
}

function table(columns, rows, empty, testid) {
  if (!rows.length) return el("p", { class: "muted", "data-testid": `${testid}-empty` }, empty);
  return el("table", { "data-testid": testid },
    el("thead", {}, el("tr", {}, columns.map(([title, cls]) => el("th", { class: cls }, title)))),
    el("tbody", {}, rows));
}

function queueLink(name) {
  return el("a", { href: `#/queues/${encodeURIComponent(name)}` }, name);
}

function deadKey(row) {
  return `${row.queue}\u0000${row.dead_id}`;
}

function jobLink(id, queue) {
  if (!id) return "–";
  return el("a", { href: `#/jobs/${encodeURIComponent(id)}${query({ queue })}` }, id);
}

// -- views ---------------------------------------------------------------------------------------

async function overview(root) {
  const queues = await api("queues");
  const rows = queues.map(({ queue: q, throughput: t }) =>
    el("tr", { dataset: { queue: q.name } },
      el("td", {}, queueLink(q.name)),
      el("td", { class: "num ready" }, q.ready),
      el("td", { class: "num pending" }, q.pending),
      el("td", { class: "num delayed" }, q.delayed),
      el("td", { class: "num dlq" },
        el("a", { href: `#/dlq${query({ queue: q.name })}` }, q.dlq)),
      el("td", { class: "num consumers" }, q.consumers),
      el("td", { class: "num oldest" }, duration(q.oldest_pending_age_ms)),
      el("td", { class: "num added" }, rate(t.added_per_s)),
      el("td", { class: "num done" }, rate(t.done_per_s))));
  const window = state.info ? state.info.throughput_window_secs : 60;
  root.replaceChildren(
    el("h2", {}, "Queues"),
    table([["queue"], ["ready", "num"], ["pending", "num"], ["delayed", "num"], ["DLQ", "num"],
      ["consumers", "num"], ["oldest pending", "num"], ["added", "num"], ["done", "num"]],
    rows, "No queues yet: nothing has been enqueued under this prefix.", "queues"),
    el("p", { class: "muted" },
      `added = stream entries added (new jobs, due retries, requeues); done = entries settled ` +
      `(acked, retried or dead-lettered); both measured by this dashboard over the last ` +
      `${window}s while a page watched.`));
}

async function queueView(root, name) {
  const [summary, pending, consumers] = await Promise.all([
    api(`queues/${encodeURIComponent(name)}`),
    api(`queues/${encodeURIComponent(name)}/pending?limit=200`),
    api(`consumers${query({ queue: name })}`),
  ]);
  const q = summary.queue;
  const pendingRows = pending.map((p) =>
    el("tr", { dataset: { entry: p.entry_id } },
      el("td", {}, jobLink(p.job_id, name)),
      el("td", {}, p.action || "–"),
      el("td", {}, p.consumer),
      el("td", { class: "num idle" }, duration(p.idle_ms)),
      el("td", { class: "num deliveries" }, p.deliveries),
      el("td", { class: "muted" }, p.entry_id)));
  root.replaceChildren(
    el("h2", {}, "Queue ", el("span", { "data-testid": "queue-name" }, name)),
    el("div", { class: "cards" },
      card("ready", q.ready, "ready"), card("pending", q.pending, "pending"),
      card("delayed", q.delayed, "delayed"),
      card("DLQ", el("a", { href: `#/dlq${query({ queue: name })}` }, q.dlq), "dlq"),
      card("consumers", q.consumers, "consumers"),
      card("oldest pending", duration(q.oldest_pending_age_ms), "oldest"),
      card("added", rate(summary.throughput.added_per_s), "added"),
      card("done", rate(summary.throughput.done_per_s), "done")),
    el("h3", {}, "Pending entries"),
    table([["job"], ["action"], ["consumer"], ["idle", "num"], ["deliveries", "num"],
      ["entry"]], pendingRows, "Nothing pending.", "pending"),
    el("h3", {}, "Consumers"),
    consumerTable(consumers, false));
}

function consumerTable(consumers, withQueue) {
  const rows = consumers.map((c) =>
    el("tr", { dataset: { consumer: c.name } },
      withQueue ? el("td", {}, queueLink(c.queue)) : null,
      el("td", {}, c.name),
      el("td", { class: "num pending" }, c.pending),
      el("td", { class: "num idle" }, duration(c.idle_ms)),
      el("td", {}, el("span", { class: `badge ${c.alive ? "good" : "warn"}` },
        c.alive ? "alive" : "gone")),
      el("td", { class: "muted" }, c.holder || "–")));
  const columns = [["consumer"], ["pending", "num"], ["idle", "num"], ["liveness"], ["holder"]];
  if (withQueue) columns.unshift(["queue"]);
  return table(columns, rows, "No consumers.", "consumers");
}

async function consumersView(root, params) {
  const consumers = await api(`consumers${query({ queue: params.get("queue") })}`);
  root.replaceChildren(el("h2", {}, "Consumers"), consumerTable(consumers, true));
}

async function schedulesView(root, params) {
  const schedules = await api(`schedules${query({ queue: params.get("queue") })}`);
  const rows = schedules.map((s) =>
    el("tr", { dataset: { schedule: s.name } },
      el("td", {}, s.name),
      el("td", {}, queueLink(s.queue)),
      el("td", {}, s.task),
      el("td", { class: "when" }, s.when),
      el("td", { class: "next" }, when(s.next_run_ms)),
      el("td", { class: "last" }, s.last_run_ms === null ? "–" : when(s.last_run_ms)),
      el("td", { class: "job" }, s.last_job_id === null ? "–" : jobLink(s.last_job_id, s.queue)),
      el("td", { class: "state" }, s.last_job_id === null ? "–" : s.last_job_state || "expired")));
  root.replaceChildren(el("h2", {}, "Schedules"),
    table([["schedule"], ["queue"], ["task"], ["when"], ["next run"], ["last run"], ["last job"],
      ["state"]], rows, "No schedules: a worker records each one when it first serves it.",
    "schedules"));
}

function fields(pairs) {
  return el("dl", { class: "fields" }, pairs.map(([label, value, testid]) => [
    el("dt", {}, label),
    el("dd", { "data-testid": testid }, value === null || value === undefined ? "–" : value),
  ]));
}

async function jobView(root, id, params) {
  const info = await api(`jobs/${encodeURIComponent(id)}${query({ queue: params.get("queue") })}`);
  const job = info.job || {};
  const st = info.status || {};
  const dead = info.dead;
  const attempt = st.attempt || job.attempt;
  const retryAt = st.retry_at || job.retry_at || info.due_at;
  root.replaceChildren(
    el("h2", {}, "Job ", el("span", { "data-testid": "job-id" }, info.job_id)),
    fields([
      ["queue", queueLink(info.queue), "job-queue"],
      ["state", el("span", { class: "badge" }, st.state || job.state || "–"), "job-state"],
      ["where", info.location, "job-location"],
      ["action", job.action ? `${job.action.type} ${job.action.name || ""}` : null, "job-action"],
      ["attempts", attempt ? `${attempt} of ${job.max_attempts || "?"}` : null, "job-attempts"],
      ["progress", st.progress == null ? null
        : `${Math.round(st.progress * 100)}%${st.progress_message ? " " + st.progress_message : ""}`,
        "job-progress"],
      ["last error", st.last_error || job.last_error || (dead && dead.error), "job-error"],
      ["retry at", retryAt ? when(retryAt) : null, "job-retry-at"],
      ["dead reason", st.dead_reason || (dead && dead.reason), "job-dead-reason"],
      ["consumer", info.consumer, "job-consumer"],
      ["deliveries", info.deliveries, "job-deliveries"],
      ["created", when(st.created_at || job.created_at), "job-created"],
      ["updated", when(st.updated_at), "job-updated"],
      ["DLQ entry", dead ? el("a", {
        href: `#/dlq/${encodeURIComponent(dead.dead_id)}${query({ queue: info.queue })}` },
      dead.dead_id) : null, "job-dead-id"],
    ]),
    el("h3", {}, "Payload (secrets masked)"),
    el("pre", { "data-testid": "job-payload" },
      info.job ? JSON.stringify(info.job, null, 2) : "(no payload kept: the job has finished)"));
}

async function deadView(root, deadId, params) {
  const d = await api(`dlq/${encodeURIComponent(deadId)}${query({ queue: params.get("queue") })}`);
  const e = d.entry;
  root.replaceChildren(
    el("h2", {}, "Dead letter ", el("span", { "data-testid": "dead-id" }, e.dead_id)),
    fields([
      ["queue", queueLink(e.queue)], ["job", jobLink(e.job_id, e.queue)],
      ["action", e.action || "–"], ["reason", e.reason, "dead-reason"],
      ["attempt", e.attempt], ["died", when(e.failed_at)], ["consumer", e.consumer],
      ["error", e.error, "dead-error"],
    ]),
    writeActions([{ queue: e.queue, id: e.dead_id }], e.queue),
    el("div", { id: "message" }),
    el("h3", {}, "Payload as stored (secrets masked)"),
    el("pre", { "data-testid": "dead-payload" }, d.raw));
}

function writeActions(entries, queue) {
  const allowed = state.info && state.info.writes_allowed;
  const run = async (op) => {
    if (op === "purge" && !confirm(`Delete ${entries.length} dead letter(s) for good?`)) return;
    try {
      const result = await post(`dlq/${op}`, { entries });
      // The dead letter is gone from the DLQ: say so on the DLQ's page.
      state.flash = [`${op === "requeue" ? "requeued" : "purged"} ${result.requeued ?? result.purged}`,
        "good"];
      location.hash = `#/dlq${query({ queue })}`;
    } catch (err) {
      message(String(err.message || err), "bad");
    }
  };
  return el("div", { class: "actions" },
    el("button", { disabled: !allowed, onclick: () => run("requeue"), "data-testid": "requeue-one" },
      "Requeue"),
    el("button", { class: "danger", disabled: !allowed, onclick: () => run("purge"),
      "data-testid": "purge-one" }, "Purge"));
}

async function dlqView(root, params, fresh) {
  const filters = {
    queue: params.get("queue") || "", reason: params.get("reason") || "",
    action_type: params.get("action_type") || "",
  };
  const [rows, queues] = await Promise.all([
    api(`dlq${query(Object.assign({ limit: 500 }, filters))}`), api("queues"),
  ]);
  // A dead letter is named by its queue (the partition) and its id: ids repeat across the
  // partitions of one queue, so every selection and every write carries both.
  if (fresh) state.selected.clear();
  const present = new Set(rows.map(deadKey));
  for (const key of [...state.selected.keys()]) if (!present.has(key)) state.selected.delete(key);
  const allowed = state.info && state.info.writes_allowed;

  const setFilter = (key) => (event) => {
    const next = Object.assign({}, filters, { [key]: event.target.value });
    location.hash = `#/dlq${query(next)}`;
  };
  const select = (key, label, options) => el("label", {}, label,
    el("select", { name: key, "data-testid": `filter-${key}`, onchange: setFilter(key) },
      el("option", { value: "" }, "any"),
      options.map((o) => el("option", { value: o, selected: o === filters[key] }, o))));
  const actionTypes = [...new Set(rows.map((r) => r.action_type).filter(Boolean)
    .concat(filters.action_type ? [filters.action_type] : []))].sort();

  const act = async (op, body, what) => {
    if ((op === "purge" || body.all_matching) && !confirm(`${op} ${what}?`)) return;
    try {
      const result = await post(`dlq/${op}`, body);
      const n = op === "requeue" ? result.requeued : result.purged;
      const missing = result.missing.length ? `; ${result.missing.length} no longer there` : "";
      message(`${op === "requeue" ? "requeued" : "purged"} ${n}${missing}`, "good");
      state.selected.clear();
      await render();
    } catch (err) {
      message(String(err.message || err), "bad");
    }
  };
  const chosen = () => [...state.selected.values()];
  const scope = Object.assign({}, filters);
  for (const k of Object.keys(scope)) if (!scope[k]) delete scope[k];

  const body = rows.map((r) => {
    const key = deadKey(r);
    const ref = { queue: r.queue, id: r.dead_id };
    const box = el("input", {
      type: "checkbox", "aria-label": `select ${r.queue} ${r.dead_id}`,
      checked: state.selected.has(key),
      onchange: (event) => {
        if (event.target.checked) state.selected.set(key, ref);
        else state.selected.delete(key);
        event.target.closest("tr").classList.toggle("selected", event.target.checked);
        updateCount();
      },
    });
    return el("tr", { dataset: { deadId: r.dead_id, queue: r.queue, jobId: r.job_id },
      class: state.selected.has(key) ? "selected" : null },
    el("td", {}, box),
    el("td", {}, el("a", {
      href: `#/dlq/${encodeURIComponent(r.dead_id)}${query({ queue: r.queue })}` }, r.dead_id)),
    el("td", {}, queueLink(r.queue)),
    el("td", {}, jobLink(r.job_id, r.queue)),
    el("td", {}, r.action || "–"),
    el("td", { class: "reason" }, el("span", { class: "badge bad" }, r.reason)),
    el("td", { class: "num" }, r.attempt ?? "–"),
    el("td", {}, when(r.failed_at)),
    el("td", { class: "error", title: r.error }, r.error),
    el("td", {},
      el("button", { disabled: !allowed, "data-testid": "requeue-row",
        onclick: () => act("requeue", { entries: [ref] }, r.dead_id) },
      "Requeue"), " ",
      el("button", { class: "danger", disabled: !allowed, "data-testid": "purge-row",
        onclick: () => act("purge", { entries: [ref] }, r.dead_id) },
      "Purge")));
  });

  const count = el("span", { class: "muted", "data-testid": "selected-count" });
  const bulk = [];
  function updateCount() {
    count.textContent = `${state.selected.size} selected`;
    for (const b of bulk) b.disabled = !allowed || state.selected.size === 0;
  }
  bulk.push(
    el("button", { "data-testid": "requeue-selected",
      onclick: () => act("requeue", Object.assign({ entries: chosen() }, scope), "the selection") },
    "Requeue selected"),
    el("button", { class: "danger", "data-testid": "purge-selected",
      onclick: () => act("purge", Object.assign({ entries: chosen() }, scope), "the selection") },
    "Purge selected"));
  updateCount();
  const matching = Object.keys(scope).length ? "every dead letter matching the filters" :
    "EVERY dead letter of every queue";

  root.replaceChildren(
    el("h2", {}, "Dead letters ", el("span", { class: "muted", "data-testid": "dlq-count" },
      `(${rows.length}${rows.length >= 500 ? "+" : ""})`)),
    el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      select("queue", "queue", queues.map((q) => q.queue.name)),
      select("reason", "reason", REASONS),
      select("action_type", "action type", actionTypes)),
    el("div", { class: "actions" }, count, bulk,
      el("button", { disabled: !allowed || !rows.length, "data-testid": "requeue-matching",
        onclick: () => act("requeue", Object.assign({ all_matching: true }, scope), matching) },
      "Requeue all matching"),
      el("button", { class: "danger", disabled: !allowed || !rows.length,
        "data-testid": "purge-matching",
        onclick: () => act("purge", Object.assign({ all_matching: true }, scope), matching) },
      "Purge all matching")),
    el("div", { id: "message" }),
    table([[""], ["DLQ id"], ["queue"], ["job"], ["action"], ["reason"], ["attempt", "num"],
      ["died"], ["error"], [""]], body, "No dead letters match.", "dlq"));
}

// -- routing and refresh -------------------------------------------------------------------------

// Renders never overlap: one asked for while another runs waits for it and then runs once
// (fresh if any of the asks was), so the last render applied is always the newest.
function render(fresh) {
  state.want = { fresh: Boolean(fresh) || Boolean(state.want && state.want.fresh) };
  if (!state.rendering) {
    state.rendering = (async () => {
      try {
        while (state.want) {
          const { fresh: again } = state.want;
          state.want = null;
          await renderOnce(again);
        }
      } finally {
        state.rendering = null;
      }
    })();
  }
  return state.rendering;
}

async function renderOnce(fresh) {
  const root = document.getElementById("view");
  const { parts, params } = route();
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.nav === (name === "queues" ? "overview" : name));
  }
  try {
    if (name === "queues" && parts[1]) await queueView(root, parts[1]);
    else if (name === "jobs" && parts[1]) await jobView(root, parts[1], params);
    else if (name === "dlq" && parts[1]) await deadView(root, parts[1], params);
    else if (name === "dlq") await dlqView(root, params, fresh);
    else if (name === "consumers") await consumersView(root, params);
    else if (name === "schedules") await schedulesView(root, params);
    else await overview(root);
    if (state.flash) {
      message(...state.flash);
      state.flash = null;
    }
    showNote();
    status("");
    document.getElementById("updated").textContent =
      `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    status(String(err.message || err), true);
    if (fresh) root.replaceChildren(el("p", { class: "bad", "data-testid": "error" },
      String(err.message || err)));
  }
}

function schedule() {
  clearInterval(state.timer);
  const every = (state.info ? state.info.refresh_secs : 2) * 1000;
  state.timer = setInterval(() => {
    const busy = document.activeElement && document.activeElement.tagName === "SELECT";
    if (document.getElementById("autorefresh").checked && !busy && !document.hidden) render();
  }, every);
}

async function start() {
  const input = document.getElementById("token");
  input.value = sessionStorage.getItem("streamq.token") || "";
  input.addEventListener("change", () => {
    sessionStorage.setItem("streamq.token", token());
    render();
  });
  try {
    state.info = await api("info");
  } catch (err) {
    status(`cannot reach the dashboard API: ${err.message}`, true);
  }
  const mode = document.getElementById("mode");
  if (state.info) {
    mode.textContent = state.info.writes_allowed ? "writes allowed" : "read-only";
    mode.className = `badge ${state.info.writes_allowed ? "warn" : ""}`;
    input.hidden = !(state.info.writes_allowed || state.info.auth_reads);
    document.getElementById("refresh-secs").textContent = state.info.refresh_secs;
  }
  window.addEventListener("hashchange", () => {
    state.note = null;  // a message belongs to the page it was shown on
    render(true);
  });
  await render(true);
  schedule();
}

document.addEventListener("DOMContentLoaded", start);
