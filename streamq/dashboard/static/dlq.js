// The dead-letter list: filters, selection (keyed by queue and id) and the bulk writes.
import {
  REASONS, state, el, when, api, post, query, message, table, queueLink, deadKey, jobLink,
  writeButton, syncWrite,
  show,
} from "./util.js";

const PAGE = 50;

// The queue filter offers what the rows and links name: each queue, and a partitioned
// queue's partitions (`orders`, `orders#0`, `orders#1`, ...).
function queueOptions(queues, current) {
  const names = [];
  for (const { queue: q } of queues) {
    names.push(q.name);
    for (let i = 0; i < (q.partitions || 1) && q.partitions > 1; i++) names.push(`${q.name}#${i}`);
  }
  if (current && !names.includes(current)) names.push(current);
  return names;
}

export async function dlqView(root, params, fresh) {
  const filters = {
    queue: params.get("queue") || "", reason: params.get("reason") || "",
    action_type: params.get("action_type") || "",
  };
  // Newest first, a page at a time by cursor: page 1 always holds the newest dead letters.
  if (fresh) state.dlqCursors = [];
  const cursors = state.dlqCursors || (state.dlqCursors = []);
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const [listed, queues] = await Promise.all([
    api(`dlq/page${query(Object.assign({ limit: PAGE, cursor }, filters))}`), api("queues"),
  ]);
  const rows = listed.rows;
  // A dead letter is named by its queue (the partition) and its id: ids repeat across the
  // partitions of one queue, so every selection and every write carries both.
  if (fresh) state.selected.clear();
  const present = new Set(rows.map(deadKey));
  for (const key of [...state.selected.keys()]) if (!present.has(key)) state.selected.delete(key);

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
      await state.render();
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
    el("td", { class: "id" }, el("a", {
      href: `#/dlq/${encodeURIComponent(r.dead_id)}${query({ queue: r.queue })}` }, r.dead_id)),
    el("td", {}, queueLink(r.queue)),
    el("td", { class: "id" }, jobLink(r.job_id, r.queue)),
    el("td", {}, r.action || "–"),
    el("td", { class: "reason" }, el("span", { class: "badge bad" }, r.reason)),
    el("td", { class: "num" }, r.attempt ?? "–"),
    el("td", { class: "when" }, when(r.failed_at)),
    el("td", { class: "error", title: r.error }, r.error),
    el("td", {},
      writeButton({ "data-testid": "requeue-row",
        onclick: () => act("requeue", { entries: [ref] }, r.dead_id) }, "Requeue"), " ",
      writeButton({ class: "danger", "data-testid": "purge-row",
        onclick: () => act("purge", { entries: [ref] }, r.dead_id) }, "Purge")));
  });

  const count = el("span", { class: "muted", "data-testid": "selected-count" });
  const bulk = [];
  // The page is patched in place on refresh: update the live nodes as well as this render's.
  function updateCount() {
    const live = document.querySelector('#view [data-testid="selected-count"]');
    for (const node of [count, live]) if (node) node.textContent = `${state.selected.size} selected`;
    const shown = document.querySelectorAll(
      '#view [data-testid="requeue-selected"], #view [data-testid="purge-selected"]');
    for (const b of [...bulk, ...shown]) {
      b.dataset.ready = state.selected.size ? "1" : "0";
      syncWrite(b);
    }
  }
  bulk.push(
    writeButton({ "data-testid": "requeue-selected",
      onclick: () => act("requeue", Object.assign({ entries: chosen() }, scope), "the selection") },
    "Requeue selected", false),
    writeButton({ class: "danger", "data-testid": "purge-selected",
      onclick: () => act("purge", Object.assign({ entries: chosen() }, scope), "the selection") },
    "Purge selected", false));
  updateCount();
  const matching = Object.keys(scope).length ? "every dead letter matching the filters" :
    "EVERY dead letter of every queue";

  show(root,
    el("h2", {}, "Dead letters ", el("span", { class: "muted", "data-testid": "dlq-count" },
      `(${listed.total})`)),
    el("p", { class: "reasons", "data-testid": "reason-counts" },
      Object.keys(listed.by_reason).length ? Object.entries(listed.by_reason).sort()
        .map(([reason, n]) => el("a", {
          class: `badge ${reason === filters.reason ? "bad" : ""}`, "data-reason": reason,
          href: `#/dlq${query(Object.assign({}, filters, { reason }))}` }, `${reason}: ${n}`))
        : el("span", { class: "muted" }, "none")),
    el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      select("queue", "queue", queueOptions(queues, filters.queue)),
      select("reason", "reason", REASONS),
      select("action_type", "action type", actionTypes)),
    el("div", { class: "actions" }, count, bulk,
      writeButton({ "data-testid": "requeue-matching",
        onclick: () => act("requeue", Object.assign({ all_matching: true }, scope), matching) },
      "Requeue all matching", rows.length > 0),
      writeButton({ class: "danger", "data-testid": "purge-matching",
        onclick: () => act("purge", Object.assign({ all_matching: true }, scope), matching) },
      "Purge all matching", rows.length > 0)),
    el("div", { id: "message" }),
    el("div", { class: "scroll" }, table([[""], ["DLQ id"], ["queue"], ["job"], ["action"],
      ["reason"], ["attempt", "num"], ["died"], ["error"], [""]], body, "No dead letters match.",
    "dlq")),
    el("div", { class: "pager" },
      el("button", { "data-testid": "dlq-newer", disabled: !cursors.length,
        onclick: () => { cursors.pop(); state.render(); } }, "← newer"),
      el("span", { class: "muted", "data-testid": "dlq-page" }, `page ${cursors.length + 1}`),
      el("button", { "data-testid": "dlq-older", disabled: !listed.next,
        onclick: () => { cursors.push(listed.next); state.render(); } }, "older →")));
}

