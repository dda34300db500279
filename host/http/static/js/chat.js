// Chat: pick an agent, send a message, watch the run's events stream in (the reply as the
// model writes it, the actions and their results, how the run ended).

import { api, stream } from "./api.js";
import { fill, h, millis } from "./dom.js";

const ROOM_KEY = "agenthost.room";

/** The parts of a run event however the host nests them (content.text or text, ...). */
export function eventParts(data) {
  const content = (data && typeof data === "object" && (data.content || data)) || {};
  const extra = content.extra || data.extra || {};
  return {
    runId: data.run_id || data.runId || "",
    text: content.text || "",
    thought: content.thought || "",
    actions: content.actions || [],
    extra,
  };
}

function defaultRoom() {
  let room = sessionStorage.getItem(ROOM_KEY);
  if (!room) {
    room = `web-${Math.random().toString(36).slice(2, 8)}`;
    sessionStorage.setItem(ROOM_KEY, room);
  }
  return room;
}

export function chatView(app) {
  const agentSelect = h("select#agent", { name: "agent", "aria-label": "agent" });
  const roomInput = h("input", { name: "room", value: defaultRoom(), "aria-label": "room", size: 14 });
  const log = h("div.messages", { "aria-live": "polite" });
  const input = h("textarea", { name: "text", rows: 2, placeholder: "Say something (Enter sends, Shift+Enter a new line)" });
  const send = h("button.primary", { type: "submit" }, "Send");
  const form = h("form.composer", { onsubmit: (e) => (e.preventDefault(), submit()) }, input, send);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  });
  agentSelect.addEventListener("change", history);
  roomInput.addEventListener("change", () => {
    sessionStorage.setItem(ROOM_KEY, roomInput.value.trim());
    history();
  });

  const agentIds = new Map(); // name -> id (the agent's own messages carry its id)
  const root = h(
    "section.chat",
    {},
    h("div.toolbar", {}, h("label", {}, "Agent ", agentSelect), h("label", {}, "Room ", roomInput)),
    log,
    form,
  );

  function bubble(who, text, cls = "") {
    const el = h(`div.msg.${who}${cls ? "." + cls : ""}`, {}, h("div.who", {}, who === "user" ? "you" : agentSelect.value), h("div.text", {}, text));
    log.append(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  async function history() {
    fill(log);
    const agent = agentSelect.value;
    const room = roomInput.value.trim();
    if (!agent || !room) return;
    try {
      const { messages = [] } = await api(`/api/agents/${encodeURIComponent(agent)}/rooms/${encodeURIComponent(room)}/messages?limit=50`);
      const agentId = agentIds.get(agent);
      for (const m of messages) {
        const byAgent = m.entity_id === agentId || m.role === "agent" || m.from_agent === true;
        bubble(byAgent ? "agent" : "user", m.text ?? m.content?.text ?? "");
      }
    } catch (err) {
      if (err.status !== 404) app.notice(`history: ${err.message}`);
    }
  }

  async function submit() {
    const text = input.value.trim();
    const agent = agentSelect.value;
    if (!text || !agent) return;
    input.value = "";
    send.disabled = true;
    bubble("user", text);
    const reply = bubble("agent", "", "streaming");
    const body = reply.querySelector(".text");
    const actions = h("ul.actions");
    const footer = h("div.meta", {}, "running…");
    reply.append(actions, footer);
    let attempt = 0;
    let runId = "";
    const onEvent = (type, data) => {
      const ev = eventParts(data);
      runId = ev.runId || runId;
      if (type === "RUN_STARTED") {
        footer.textContent = `run ${runId.slice(0, 8)} started`;
      } else if (type === "REPLY_DELTA") {
        const a = Number(ev.extra.attempt || 0);
        if (a !== attempt) (attempt = a), (body.textContent = "");
        body.textContent += ev.text;
      } else if (type === "REPLY") {
        body.textContent = ev.text;
        if (ev.thought) reply.title = `thought: ${ev.thought}`;
        for (const name of ev.actions) {
          if (name !== "REPLY" && name !== "NONE" && name !== "IGNORE") actions.append(h("li.action.pending", { dataset: { action: name } }, h("b", {}, name), " planned"));
        }
      } else if (type === "ACTION") {
        const name = ev.extra.action || ev.extra.name || ev.actions[0] || "action";
        const done = "success" in ev.extra || ev.extra.error;
        let row = actions.querySelector(`li.pending[data-action="${CSS.escape(name)}"]`);
        if (!row) actions.append((row = h("li.action", { dataset: { action: name } })));
        const ok = ev.extra.success !== false && !ev.extra.error;
        row.className = `action ${done ? (ok ? "ok" : "failed") : "pending"}`;
        fill(row, h("b", {}, name), done ? (ok ? " ✓ " : " ✗ ") : " … ", ev.extra.error || ev.text || "");
      } else if (type === "RUN_ENDED") {
        reply.classList.remove("streaming");
        const status = ev.extra.status || "ended";
        reply.classList.add(`status-${status}`);
        const why = ev.extra.error || ev.extra.reason || "";
        fill(
          footer,
          h("span.badge", { class: `badge ${status}` }, status),
          ` ${millis(ev.extra.duration_ms)} `,
          why ? h("span.error", {}, why, " ") : "",
          runId ? h("a", { href: `#runs/${runId}`, class: "run-link" }, `run ${runId.slice(0, 8)} →`) : "",
        );
        if (!body.textContent && status !== "completed") body.textContent = "(no reply)";
      } else if (type === "error") {
        footer.textContent = `error: ${data.message || data.error?.message || JSON.stringify(data)}`;
      }
      log.scrollTop = log.scrollHeight;
    };
    try {
      const path = `/api/agents/${encodeURIComponent(agent)}/messages?stream=true`;
      await stream(path, onEvent, { body: { text, room: roomInput.value.trim(), user: "web" } });
    } catch (err) {
      reply.classList.remove("streaming");
      reply.classList.add("status-failed");
      footer.textContent = `error: ${err.message}`;
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  async function show() {
    const before = agentSelect.value;
    const { agents = [] } = await api("/api/agents");
    agents.forEach((a) => agentIds.set(a.name || a.id, a.id));
    fill(agentSelect, agents.map((a) => h("option", { value: a.name || a.id }, `${a.name || a.id}${a.state && !/ready/i.test(a.state) ? ` (${a.state})` : ""}`)));
    if (before && agents.some((a) => (a.name || a.id) === before)) agentSelect.value = before;
    if (!log.childElementCount || before !== agentSelect.value) await history();
    input.focus();
  }

  return { root, show };
}
