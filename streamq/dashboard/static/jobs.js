// A queue's jobs by state (api/queues/<q>/jobs): ready, delayed, retrying, running, finished, a page at a
// time by cursor, a search by job id, and the job actions (write token): run a delayed job now,
// delete a ready or delayed one, cancel a ready, delayed or running one (as streamq job cancel).
import {
  state, el, when, duration, api, post, query, message, table, jobLink, writeButton,
} from "./util.js";

const LISTS = [
  ["ready", "ready (newest first)"], ["delayed", "delayed (soonest due first)"],
  ["retrying", "retrying (soonest due first)"], ["running", "running (longest first)"],
  ["finished", "finished (newest first)"],
];
const PAGE = 50;

// Per queue: which list is shown and the cursors of the pages before it (for "newer").
function view(queue) {
  const all = state.jobLists || (state.jobLists = new Map());
  if (!all.has(queue)) all.set(queue, { which: "ready", cursors: [] });
  return all.get(queue);
}

async function act(action, row) {
  const what = { delete: `Delete job ${row.job_id} for good?`,
    cancel: `Cancel job ${row.job_id}? It ends cancelled and is not retried.` }[action]
    || `Run job ${row.job_id} now?`;
  if (!confirm(what)) return;
  try {
    const result = await post("jobs/action", { action, queue: row.queue, job_id: row.job_id,
      entry_id: row.entry_id || null });
    const done = result.cancel && !result.cancel.done ? "cancel requested (running)"
      : { delete: "deleted", cancel: "cancelled" }[action] || "moved to ready";
    message(`${done}: ${row.job_id}`, "good");
    await state.render();
  } catch (err) {
    message(String(err.message || err), "bad");
  }
}

function cancelButton(r) {
  return writeButton({ "data-testid": "cancel-job", onclick: () => act("cancel", r) }, "Cancel");
}

function columns(which) {
  if (which === "finished") return [["job"], ["outcome"], ["recorded"]];
  const head = [["job"], ["task"], ["attempt", "num"]];
  if (which === "ready") return head.concat([["created"], ["entry"], [""]]);
  if (which === "running") {
    return head.concat([["consumer"], ["idle", "num"], ["deliveries", "num"], ["entry"], [""]]);
  }
  return head.concat([["due"], ["in", "num"], [""],
    which === "retrying" ? ["last error"] : null].filter(Boolean));
}

function cells(which, r, now) {
  if (which === "finished") {
    const kind = { completed: "good", retried: "warn", dead_lettered: "bad",
      cancelled: "warn" }[r.outcome] || "";
    return [el("td", { class: "id" }, jobLink(r.job_id, r.queue)),
      el("td", {}, el("span", { class: `badge ${kind}` }, r.outcome)),
      el("td", { class: "when" }, when(r.finished_at))];
  }
  const head = [
    el("td", { class: "id" }, jobLink(r.job_id, r.queue)),
    el("td", {}, r.task || "–"),
    el("td", { class: "num" }, r.attempt ?? "–"),
  ];
  if (which === "ready") {
    return head.concat([el("td", { class: "when" }, when(r.created_at)),
      el("td", { class: "muted id" }, r.entry_id),
      el("td", { class: "nowrap" }, cancelButton(r), " ",
        writeButton({ class: "danger", "data-testid": "delete-job",
          onclick: () => act("delete", r) }, "Delete"))]);
  }
  if (which === "running") {
    return head.concat([el("td", {}, r.consumer), el("td", { class: "num" }, duration(r.idle_ms)),
      el("td", { class: "num" }, r.deliveries), el("td", { class: "muted id" }, r.entry_id),
      el("td", {}, cancelButton(r))]);
  }
  const out = head.concat([el("td", { class: "when" }, when(r.due_at)),
    el("td", { class: "num" }, r.due_at > now ? duration(r.due_at - now)
      : el("span", { class: "badge warn", title: "due, not yet promoted: is a worker running?" },
        `overdue ${duration(now - r.due_at)}`))]);
  out.push(el("td", { class: "nowrap" },
    writeButton({ "data-testid": "run-now", onclick: () => act("run_now", r) }, "Run now"), " ",
    cancelButton(r), " ",
    writeButton({ class: "danger", "data-testid": "delete-job",
      onclick: () => act("delete", r) }, "Delete")));
  if (which === "retrying") out.push(el("td", { class: "error", title: r.last_error || "" },
    r.last_error || "–"));
  return out;
}

// The jobs panel of a queue's page.
export async function jobsPanel(queue) {
  const v = view(queue);
  const cursor = v.cursors.length ? v.cursors[v.cursors.length - 1] : null;
  const page = await api(`queues/${encodeURIComponent(queue)}/jobs` +
    query({ list: v.which, cursor, limit: PAGE }));
  const now = Date.now();
  const rows = page.rows.map((r) => el("tr", {
    dataset: { jobId: r.job_id, queue: r.queue } }, cells(v.which, r, now)));
  const tab = ([which, label]) => el("button", {
    class: which === v.which ? "on" : null, "aria-pressed": String(which === v.which),
    "data-testid": `list-${which}`,
    onclick: () => {
      v.which = which;
      v.cursors = [];
      state.render();
    },
  }, label);
  const search = el("input", { type: "search", placeholder: "job id", "aria-label": "Find a job",
    "data-testid": "job-search", name: "job-search" });
  const go = (event) => {
    event.preventDefault();
    const id = event.currentTarget.elements["job-search"].value.trim();
    if (id) location.hash = `#/jobs/${encodeURIComponent(id)}${query({ queue })}`;
  };
  return el("section", { class: "jobs", "data-testid": "jobs" },
    el("div", { class: "history-head" }, el("h3", {}, "Jobs"),
      el("div", { class: "toggle" }, LISTS.map(tab)),
      el("form", { class: "search", onsubmit: go }, search, el("button", { type: "submit" }, "Find"))),
    el("div", { class: "scroll" }, table(columns(v.which), rows, `No ${v.which} jobs.`, "job-list")),
    el("div", { class: "pager" },
      el("button", { "data-testid": "page-newer", disabled: !v.cursors.length,
        onclick: () => { v.cursors.pop(); state.render(); } }, "← previous page"),
      el("span", { class: "muted", "data-testid": "page-number" },
        `page ${v.cursors.length + 1}`),
      el("button", { "data-testid": "page-older", disabled: !page.next,
        onclick: () => { v.cursors.push(page.next); state.render(); } }, "next page →")));
}
