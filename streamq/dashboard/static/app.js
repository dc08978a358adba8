// streamq dashboard: plain JavaScript modules over the JSON API (CSP script-src 'self').
// This one routes and refreshes; util.js, views.js, dlq.js and charts.js draw the pages.
import {
  state, el, token, api, route, status, message, showNote, syncWrites,
} from "./util.js";
import { overview, queueView, consumersView, schedulesView, jobView, deadView } from "./views.js";
import { dlqView } from "./dlq.js";

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
  state.fresh = Boolean(fresh);
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
  input.addEventListener("input", syncWrites);
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

state.render = render;
start();
