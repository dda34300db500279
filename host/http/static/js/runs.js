// Runs: the latest runs of every agent (kept fresh by the host's live run events), and one run
// step by step: its steps' times, the providers composed (time, size), the model calls
// (provider, model, tokens, cost), its events.

import { api, stream } from "./api.js";
import { fill, h, millis, money, table, when } from "./dom.js";
import { eventParts } from "./chat.js";

const started = (r) => r.started_at_ms ?? r.started_at;

function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status || "?");
}

// The pipeline's steps in the order they run (host/agent/steps/__init__.py's STEPS): the
// timings come as a JSON object, whose order the wire does not keep. Names not listed go last.
const ORDER = [
  "self_check", "persist_message", "announce", "wait_for_room", "wait_for_slot", "read_attachments", "check_room",
  "should_respond", "newer_message_waiting", "compose_state", "offer_actions", "generate", "still_latest",
  "reply_or_act", "run_evaluators",
];
const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

/** Horizontal bars of a run's step timings, in the order the steps ran (total last). */
function timingBars(timings = {}) {
  const steps = Object.entries(timings)
    .filter(([name]) => name !== "total")
    .sort(([a], [b]) => rank(a) - rank(b));
  const longest = Math.max(1, ...steps.map(([, ms]) => ms));
  return h(
    "div.timings",
    {},
    steps.map(([name, ms]) =>
      h("div.step", {}, h("span.name", {}, name), h("span.bar", { style: `width:${Math.max(1, (100 * ms) / longest)}%` }), h("span.ms", {}, millis(ms))),
    ),
    timings.total !== undefined ? h("div.total", {}, "total ", millis(timings.total)) : "",
  );
}

function runDetail(run) {
  const providers = run.providers || [];
  const models = run.models || [];
  const events = run.events || [];
  const cost = models.reduce((sum, m) => sum + Number(m.cost || 0), 0);
  return h(
    "div.run",
    {},
    h("h2", {}, "Run ", h("code", {}, run.id), " ", statusBadge(run.status)),
    h(
      "dl.facts",
      {},
      h("dt", {}, "agent"), h("dd", {}, run.agent || run.agent_name || run.agent_id || ""),
      h("dt", {}, "room"), h("dd", {}, run.room || run.room_id || ""),
      h("dt", {}, "started"), h("dd", {}, when(started(run))),
      h("dt", {}, "duration"), h("dd", {}, millis(run.duration_ms ?? run.timings?.total)),
      h("dt", {}, "cost"), h("dd", {}, money(cost)),
      run.error ? [h("dt", {}, "error"), h("dd.error", {}, run.error)] : "",
    ),
    h("h3", {}, "Steps"),
    timingBars(run.timings),
    h("h3", {}, `Providers (${providers.length})`),
    table(
      [
        ["provider", (p) => p.name],
        ["time", (p) => millis(p.ms)],
        ["size", (p) => `${p.chars ?? 0} chars`],
        ["ok", (p) => (p.ok === false ? h("span.error", {}, "✗ " + (p.error || "failed")) : "✓")],
      ],
      providers,
      () => ({ class: "provider-row" }),
    ),
    h("h3", {}, `Model calls (${models.length})`),
    table(
      [
        ["provider", (m) => m.provider],
        ["model", (m) => m.model],
        ["tokens in", (m) => m.tokens_in ?? 0],
        ["tokens out", (m) => m.tokens_out ?? 0],
        ["cost", (m) => money(m.cost)],
        ["time", (m) => millis(m.latency_ms ?? m.ms)],
      ],
      models,
      () => ({ class: "model-row" }),
    ),
    h("h3", {}, `Events (${events.length})`),
    h(
      "ol.events",
      {},
      events.map((e) => {
        const ev = eventParts(e);
        const type = e.event_type || e.type || "";
        const { timings, providers: _, ...rest } = ev.extra; // shown above
        const extra = Object.keys(rest).length ? JSON.stringify(rest) : "";
        return h("li", {}, h("b", {}, type), " ", ev.text, ev.actions.length ? ` [${ev.actions.join(", ")}]` : "", extra ? h("code.extra", {}, extra) : "");
      }),
    ),
  );
}

export function runsView(app) {
  const list = h("div.run-list");
  const detail = h("div.run-detail");
  const root = h("section.runs", {}, h("div.toolbar", {}, h("button", { onclick: () => show() }, "Refresh")), h("div.split", {}, list, detail));

  async function open(id) {
    fill(detail, h("p.muted", {}, "loading…"));
    try {
      const { run } = await api(`/api/runs/${encodeURIComponent(id)}`);
      fill(detail, runDetail(run));
    } catch (err) {
      fill(detail, h("p.error", {}, err.message));
    }
  }

  let live = null;
  let selected = "";

  function follow() {
    if (live) return;
    const controller = (live = new AbortController());
    const ended = (type) => type === "RUN_STARTED" || type === "RUN_ENDED";
    stream("/api/events", (type) => ended(type) && root.isConnected && list.isConnected && refresh().catch(() => {}), { signal: controller.signal })
      .catch(() => {})
      .finally(() => {
        if (live === controller) live = null;
      });
  }

  async function refresh() {
    const { runs = [] } = await api("/api/runs?limit=50");
    drawList(runs);
    return runs;
  }

  async function show(id) {
    follow();
    const { runs = [] } = await api("/api/runs?limit=50");
    selected = id || runs[0]?.id || "";
    drawList(runs);
    if (selected) await open(selected);
    else fill(detail);
  }

  function drawList(runs) {
    const id = selected;
    fill(
      list,
      runs.length
        ? table(
            [
              ["started", (r) => when(started(r))],
              ["agent", (r) => r.agent || r.agent_name || r.agent_id],
              ["room", (r) => r.room || r.room_id],
              ["status", (r) => statusBadge(r.status)],
              ["time", (r) => millis(r.duration_ms ?? r.timings?.total)],
            ],
            runs,
            (r) => ({ class: `run-row${r.id === id ? " selected" : ""}`, dataset: { run: r.id }, onclick: () => (location.hash = `#runs/${r.id}`) }),
          )
        : h("p.muted", {}, "No runs yet: send a message in Chat."),
    );
  }

  function hide() {
    live?.abort();
    live = null;
  }

  return { root, show, hide };
}
