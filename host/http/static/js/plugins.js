// Plugins: each plugin's state, process id, restarts and components, with load, unload and
// reload buttons.

import { api } from "./api.js";
import { fill, h, table } from "./dom.js";

const count = (c = {}) =>
  ["actions", "providers", "evaluators", "services", "model_handlers"]
    .filter((k) => (c[k] || []).length)
    .map((k) => {
      const n = (c[k] || []).length;
      return `${n} ${k.replace("_", " ").replace(/s$/, n === 1 ? "" : "s")}`;
    })
    .join(", ");

export function pluginsView(app) {
  const body = h("div");
  const root = h("section.plugins", {}, h("div.toolbar", {}, h("button", { onclick: () => show() }, "Refresh")), body);
  let timer;

  async function act(name, verb, button) {
    button.disabled = true;
    button.textContent = `${verb}ing…`;
    try {
      await api(`/api/plugins/${encodeURIComponent(name)}/${verb}`, { method: "POST", body: {} });
      app.notice(`${name}: ${verb}ed`);
    } catch (err) {
      app.notice(`${name}: ${err.message}`, true);
    }
    await show();
  }

  async function show() {
    clearTimeout(timer);
    const { plugins = [] } = await api("/api/plugins");
    fill(
      body,
      table(
        [
          ["plugin", (p) => h("b", {}, p.name)],
          ["version", (p) => p.version],
          ["state", (p) => h("span", { class: `badge ${String(p.state).toLowerCase()}` }, String(p.state).replace(/^PLUGIN_STATE_/, "").toLowerCase())],
          ["pid", (p) => h("span.pid", {}, p.pid || "–")],
          ["restarts", (p) => h("span.restarts", {}, p.restarts ?? 0)],
          ["components", (p) => count(p.components)],
          ["reason", (p) => h("span.error", {}, p.reason || "")],
          [
            "",
            (p) => {
              const loaded = p.pid || /ready|starting/i.test(String(p.state));
              return h(
                "span.buttons",
                {},
                h("button.reload", { onclick: (e) => act(p.name, "reload", e.target) }, "Reload"),
                loaded
                  ? h("button.unload", { onclick: (e) => act(p.name, "unload", e.target) }, "Unload")
                  : h("button.load", { onclick: (e) => act(p.name, "load", e.target) }, "Load"),
              );
            },
          ],
        ],
        plugins,
        (p) => ({ class: "plugin-row", dataset: { plugin: p.name } }),
      ),
    );
    if (root.isConnected) timer = setTimeout(() => root.isConnected && show().catch(() => {}), 5000);
  }

  return { root, show };
}
