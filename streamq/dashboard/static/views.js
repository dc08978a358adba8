// The read pages: overview, queue, consumers, schedules, job and dead letter.
import { historyPanel } from "./charts.js";
import { jobsPanel } from "./jobs.js";
import {
  state, el, duration, when, rate, api, post, query, status, message, card, table, queueLink, jobLink,
  writeButton,
  show,
} from "./util.js";

export async function overview(root) {
  const queues = await api("queues");
  const rows = queues.map(({ queue: q, throughput: t, health, consumers_alive: live }) =>
    el("tr", { dataset: { queue: q.name }, class: health.length ? "unhealthy" : null },
      el("td", {}, queueLink(q.name), q.paused ? [" ", pausedBadge()] : null),
      el("td", { class: "health" }, health.length ? healthBadges(health)
        : el("span", { class: "badge good" }, "ok")),
      el("td", { class: "num ready" }, q.ready),
      el("td", { class: "num pending" }, q.pending),
      el("td", { class: "num delayed" }, q.delayed),
      el("td", { class: "num dlq" },
        el("a", { href: `#/dlq${query({ queue: q.name })}` }, q.dlq)),
      el("td", { class: "num consumers" }, q.consumers),
      el("td", { class: "num alive" }, live < q.consumers
        ? el("span", { class: "badge warn", title: `${q.consumers - live} gone` }, live) : live),
      el("td", { class: "num oldest" }, duration(q.oldest_pending_age_ms)),
      el("td", { class: "num added" }, rate(t.added_per_s)),
      el("td", { class: "num done" }, rate(t.done_per_s))));
  const sick = queues.filter((row) => row.health.length);
  const window = state.info ? state.info.throughput_window_secs : 60;
  const [history, destinations] = await Promise.all([historyPanel(null), api("destinations")]);
  show(root,
    el("h2", {}, "Queues"),
    sick.length ? el("p", { class: "attention", "data-testid": "attention" },
      `${sick.length} queue(s) need attention: `,
      sick.map((row, i) => [i ? ", " : "", queueLink(row.queue.name)])) : null,
    el("div", { class: "scroll" }, table([["queue"], ["health"], ["ready", "num"],
      ["pending", "num"], ["delayed", "num"], ["DLQ", "num"], ["consumers", "num"],
      ["live", "num"], ["oldest pending", "num"], ["added", "num"], ["done", "num"]],
    rows, "No queues yet: nothing has been enqueued under this prefix.", "queues")),
    el("p", { class: "muted" },
      `added = stream entries added (new jobs, due retries, requeues); done = entries settled ` +
      `(acked, retried or dead-lettered); both measured by this dashboard over the last ` +
      `${window}s while a page watched.`),
    destinationsPanel(destinations),
    history);
}

function pausedBadge() {
  return el("span", { class: "badge warn", "data-testid": "paused",
    title: "paused: workers start none of its jobs until it is resumed" }, "paused");
}

// The limits workers declared (api/destinations): rate, concurrency, circuit breaker; an open
// breaker can be closed by hand (write token), as `streamq destination reset` does.
function destinationsPanel(destinations) {
  const rows = destinations.map((d) => el("tr", { dataset: { destination: d.name } },
    el("td", {}, d.name),
    el("td", { class: "breaker" }, el("span", {
      class: `badge ${{ open: "bad", half_open: "warn", closed: "good" }[d.breaker] || ""}`,
      dataset: { breaker: d.breaker } }, d.breaker)),
    el("td", { class: "num failures" }, d.failures),
    el("td", { class: "when" }, d.open_until_ms ? when(d.open_until_ms) : "–"),
    el("td", { class: "num" }, d.cooldown_ms == null ? "–" : duration(d.cooldown_ms)),
    el("td", { class: "num" }, d.opens),
    el("td", {}, d.rate ? `${d.rate} (burst ${d.burst})` : "–"),
    el("td", { class: "num" }, d.concurrency == null ? "–" : `${d.slots_held}/${d.concurrency}`),
    el("td", {}, d.breaker === "open" || d.breaker === "half_open"
      ? writeButton({ "data-testid": "reset-breaker", onclick: () => resetBreaker(d.name) },
        "Reset") : null)));
  return el("section", { "data-testid": "destinations" },
    el("h3", {}, "Destinations"),
    el("div", { id: "message" }),
    el("div", { class: "scroll" }, table([["destination"], ["breaker"], ["failures", "num"],
      ["probe at"], ["cool-down", "num"], ["opens", "num"], ["rate"], ["running/limit", "num"],
      [""]], rows, "No limits declared: no worker has rate, concurrency or breaker limits.",
    "destinations")));
}

async function resetBreaker(name) {
  if (!confirm(`Close the circuit breaker of ${name} now?`)) return;
  try {
    await post("destinations/reset", { name });
    message(`breaker of ${name} closed`, "good");
    await state.render();
  } catch (err) {
    message(String(err.message || err), "bad");
  }
}

async function setPaused(name, paused) {
  try {
    await post(`queues/${encodeURIComponent(name)}/pause`, { paused });
    message(`${name} ${paused ? "paused" : "resumed"}`, "good");
    await state.render();
  } catch (err) {
    message(String(err.message || err), "bad");
  }
}

// A queue's health flags (api/queues: no live consumer, stale pending, DLQ growing, an open
// circuit breaker of a destination), each a badge whose tooltip says what it is.
export function healthBadges(health) {
  return health.map((f) => el("span", {
    class: `badge ${f.kind === "dlq_growing" ? "warn" : "bad"}`, title: f.message,
    dataset: { health: f.kind },
  }, f.message));
}

export async function queueView(root, name) {
  const [summary, pending, consumers, history, jobs] = await Promise.all([
    api(`queues/${encodeURIComponent(name)}`),
    api(`queues/${encodeURIComponent(name)}/pending?limit=200`),
    api(`consumers${query({ queue: name })}`),
    historyPanel(name),
    jobsPanel(name),
  ]);
  const q = summary.queue;
  const gone = new Set(consumers.filter((c) => !c.alive).map((c) => c.name));
  const pendingRows = pending.map((p) =>
    el("tr", { dataset: { entry: p.entry_id } },
      el("td", {}, jobLink(p.job_id, name)),
      el("td", {}, p.action || "–"),
      el("td", { class: "consumer" }, p.consumer, gone.has(p.consumer)
        ? [" ", el("span", { class: "badge warn", title: "its worker is gone: release its " +
          "entries on the consumers below, or wait for the claim timeout" }, "gone")] : null),
      el("td", { class: "num idle" }, duration(p.idle_ms)),
      el("td", { class: "num deliveries" }, p.deliveries),
      el("td", { class: "muted" }, p.entry_id)));
  show(root,
    el("h2", {}, "Queue ", el("span", { "data-testid": "queue-name" }, name)),
    summary.health.length ? el("p", { class: "attention", "data-testid": "queue-health" },
      healthBadges(summary.health)) : null,
    el("div", { class: "actions" }, q.paused ? [pausedBadge(), " "] : null,
      q.paused ? writeButton({ "data-testid": "resume-queue", onclick: () => setPaused(name, false) },
        "Resume")
        : writeButton({ "data-testid": "pause-queue", onclick: () => setPaused(name, true) },
          "Pause")),
    el("div", { class: "cards" },
      card("ready", q.ready, "ready"), card("pending", q.pending, "pending"),
      card("delayed", q.delayed, "delayed"),
      card("DLQ", el("a", { href: `#/dlq${query({ queue: name })}` }, q.dlq), "dlq"),
      card("consumers", q.consumers, "consumers"),
      card("oldest pending", duration(q.oldest_pending_age_ms), "oldest"),
      card("added", rate(summary.throughput.added_per_s), "added"),
      card("done", rate(summary.throughput.done_per_s), "done")),
    el("div", { id: "message" }),
    history,
    jobs,
    el("h3", {}, "Pending entries"),
    el("div", { class: "scroll" }, table([["job"], ["action"], ["consumer"], ["idle", "num"],
      ["deliveries", "num"], ["entry"]], pendingRows, "Nothing pending.", "pending")),
    el("h3", {}, "Consumers"),
    // a partitioned queue's consumers are listed per partition, so the partition is shown
    el("div", { class: "scroll" },
      consumerTable(consumers, consumers.some((c) => c.queue !== name))));
}

export function consumerTable(consumers, withQueue) {
  const rows = consumers.map((c) =>
    el("tr", { dataset: { consumer: c.name } },
      withQueue ? el("td", {}, queueLink(c.queue)) : null,
      el("td", {}, c.name),
      el("td", { class: "num pending" }, c.pending),
      el("td", { class: "num idle" }, duration(c.idle_ms)),
      el("td", {}, el("span", { class: `badge ${c.alive ? "good" : "warn"}` },
        c.alive ? "alive" : "gone")),
      el("td", { class: "muted" }, c.holder || "–"),
      el("td", { class: "release" }, !c.alive && c.pending > 0
        ? writeButton({ "data-testid": "release", onclick: () => release(c) },
          `Release ${c.pending}`) : null)));
  const columns = [["consumer"], ["pending", "num"], ["idle", "num"], ["liveness"], ["holder"],
    [""]];
  if (withQueue) columns.unshift(["queue"]);
  return table(columns, rows, "No consumers.", "consumers");
}

// A gone consumer's entries go back to the stream's tail at once (release.lua, which refuses
// while the consumer's liveness key exists), instead of waiting out the claim timeout.
async function release(c) {
  if (!confirm(`Hand ${c.pending} entr${c.pending === 1 ? "y" : "ies"} of ${c.name} back ` +
    `to ${c.queue} for immediate redelivery?`)) return;
  try {
    const result = await post("consumers/release", { queue: c.queue, consumer: c.name });
    message(`released ${result.released} entr${result.released === 1 ? "y" : "ies"} of ` +
      `${result.consumer}`, "good");
    await state.render();
  } catch (err) {
    message(String(err.message || err), "bad");
  }
}

export async function consumersView(root, params) {
  const consumers = await api(`consumers${query({ queue: params.get("queue") })}`);
  const gone = consumers.filter((c) => !c.alive);
  show(root, el("h2", {}, "Consumers ",
    el("span", { class: "muted", "data-testid": "consumer-counts" },
      `(${consumers.length - gone.length} alive, ${gone.length} gone)`)),
  el("div", { id: "message" }),
  el("div", { class: "scroll" }, consumerTable(consumers, true)));
}

export async function schedulesView(root, params) {
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
  show(root, el("h2", {}, "Schedules"),
    el("div", { class: "scroll" }, table([["schedule"], ["queue"], ["task"], ["when"], ["next run"], ["last run"], ["last job"],
      ["state"]], rows, "No schedules: a worker records each one when it first serves it.",
    "schedules")));
}

export function fields(pairs) {
  return el("dl", { class: "fields" }, pairs.map(([label, value, testid]) => [
    el("dt", {}, label),
    el("dd", { "data-testid": testid }, value === null || value === undefined ? "–" : value),
  ]));
}

export async function jobView(root, id, params) {
  const info = await api(`jobs/${encodeURIComponent(id)}${query({ queue: params.get("queue") })}`);
  const job = info.job || {};
  const st = info.status || {};
  const dead = info.dead;
  const attempt = st.attempt || job.attempt;
  const retryAt = st.retry_at || job.retry_at || info.due_at;
  show(root,
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

export async function deadView(root, deadId, params) {
  const d = await api(`dlq/${encodeURIComponent(deadId)}${query({ queue: params.get("queue") })}`);
  const e = d.entry;
  show(root,
    el("h2", {}, "Dead letter ", el("span", { "data-testid": "dead-id" }, e.dead_id)),
    fields([
      ["queue", queueLink(e.queue)], ["job", jobLink(e.job_id, e.queue)],
      ["action", e.action || "–"], ["reason", e.reason, "dead-reason"],
      ["attempt", e.attempt], ["died", when(e.failed_at)], ["consumer", e.consumer],
    ]),
    el("h3", {}, "Error (the full text the worker recorded)"),
    el("pre", { class: "error-text", "data-testid": "dead-error" }, e.error || "–"),
    ...(d.traceback ? [el("h3", {}, "Traceback (as the worker captured it)"),
      el("pre", { class: "error-text", "data-testid": "dead-traceback" }, d.traceback)] : []),
    writeActions([{ queue: e.queue, id: e.dead_id }], e.queue),
    el("div", { id: "message" }),
    el("h3", {}, "Payload as stored (secrets masked)"),
    el("pre", { "data-testid": "dead-payload" }, d.raw));
}

export function writeActions(entries, queue) {
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
    writeButton({ onclick: () => run("requeue"), "data-testid": "requeue-one" }, "Requeue"),
    writeButton({ class: "danger", onclick: () => run("purge"), "data-testid": "purge-one" },
      "Purge"));
}

