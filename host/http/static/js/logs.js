// Logs: the host's log tail, followed live (server-sent events), filtered by level, agent
// and plugin.

import { stream } from "./api.js";
import { h, when } from "./dom.js";

const KEEP = 500;

export function logsView(app) {
  const level = h("select", { name: "level", "aria-label": "level" }, ["debug", "info", "warn", "error"].map((l) => h("option", { value: l, selected: l === "info" }, l)));
  const agent = h("input", { name: "agent", placeholder: "agent", size: 10 });
  const plugin = h("input", { name: "plugin", placeholder: "plugin", size: 10 });
  const pause = h("button", { type: "button" }, "Pause");
  const lines = h("div.loglines", { role: "log" });
  const root = h(
    "section.logs",
    {},
    h("div.toolbar", {}, h("label", {}, "Level ", level), agent, plugin, pause, h("button", { type: "button", onclick: () => lines.replaceChildren() }, "Clear")),
    lines,
  );
  let follow = null;
  let paused = false;

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    paused ? stop() : start();
  });
  for (const el of [level, agent, plugin]) el.addEventListener("change", () => start());

  function line(r) {
    const source = r.plugin || r.agent_name || r.logger || "";
    const row = h(`div.line.${(r.level || "info").toLowerCase()}`, {}, h("span.time", {}, when(r.time_ms)), h("span.level", {}, r.level || ""), h("span.source", {}, source), h("span.text", {}, r.message ?? ""));
    const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
    lines.append(row);
    while (lines.childElementCount > KEEP) lines.firstElementChild.remove();
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  }

  function stop() {
    follow?.abort();
    follow = null;
  }

  function start() {
    stop();
    if (paused) return;
    const controller = (follow = new AbortController());
    lines.replaceChildren(); // each follow starts with the tail again
    const query = new URLSearchParams({ level: level.value, limit: "200" });
    if (agent.value.trim()) query.set("agent", agent.value.trim());
    if (plugin.value.trim()) query.set("plugin", plugin.value.trim());
    stream(`/api/logs/stream?${query}`, (type, data) => typeof data === "object" && line(data.record || data), { signal: controller.signal })
      .catch((err) => err.name !== "AbortError" && app.notice(`logs: ${err.message}`, true))
      .finally(() => {
        // The host ended the stream (a restart): follow again unless the view stopped it.
        if (follow === controller) setTimeout(() => follow === controller && root.isConnected && start(), 2000);
      });
  }

  return {
    root,
    show: async () => {
      if (!follow) start();
    },
    hide: stop,
  };
}
