// Spend: each router budget's spend (and what running calls hold) against its limit as an
// SVG bar chart, the ledger's totals and its latest calls.

import { api } from "./api.js";
import { fill, h, money, svg, table, when } from "./dom.js";

const WIDTH = 860;
const LABEL = 190;
const ROW = 34;

/** The chart: one bar per budget, spent (solid) + reserved (light) over the limit (track). */
export function budgetChart(budgets) {
  const bar = WIDTH - LABEL - 150;
  const height = ROW * budgets.length + 8;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: "img", class: "chart" });
  chart.append(svg("title", {}, "spend against each budget"));
  budgets.forEach((b, i) => {
    const y = 4 + i * ROW;
    const limit = Number(b.limit || 0);
    const spent = Number(b.spent || 0);
    const reserved = Number(b.reserved || 0);
    const scale = (usd) => (limit > 0 ? Math.min(bar, (bar * usd) / limit) : 0);
    const share = limit > 0 ? spent / limit : 0;
    const tone = share >= 1 ? "over" : share >= 0.8 ? "high" : "ok";
    const group = svg("g", { class: `budget ${tone}`, "data-scope": b.scope, "data-spent": spent });
    group.append(
      svg("text", { x: 0, y: y + 19, class: "label" }, `${b.scope} · ${b.period}${b.period_key ? ` ${b.period_key}` : ""}`),
      svg("rect", { x: LABEL, y: y + 5, width: bar, height: 18, rx: 3, class: "track" }),
      svg("rect", { x: LABEL, y: y + 5, width: scale(spent + reserved), height: 18, rx: 3, class: "reserved" }),
      svg("rect", { x: LABEL, y: y + 5, width: scale(spent), height: 18, rx: 3, class: "spent" }),
      svg("text", { x: LABEL + bar + 8, y: y + 19, class: "value" }, `${money(spent)} / ${money(limit)}`),
    );
    chart.append(group);
  });
  return chart;
}

export function spendView(app) {
  const chart = h("div.chart-box");
  const totals = h("div.totals");
  const rows = h("div.ledger");
  const root = h(
    "section.spend",
    {},
    h("div.toolbar", {}, h("button", { onclick: () => show() }, "Refresh")),
    h("h3", {}, "Budgets"),
    chart,
    h("h3", {}, "Usage"),
    totals,
    rows,
  );
  let timer;

  async function show() {
    clearTimeout(timer);
    const [budget, usage] = await Promise.allSettled([api("/api/router/budget"), api("/api/router/usage?limit=20")]);
    if (budget.status === "fulfilled") {
      const budgets = budget.value.budgets || [];
      fill(chart, budgets.length ? budgetChart(budgets) : h("p.muted", {}, "No budgets configured ([[router.budgets]] in agenthost.toml)."));
    } else fill(chart, h("p.error", {}, budget.reason.message));
    if (usage.status === "fulfilled") {
      const u = usage.value;
      const t = u.totals || u;
      fill(
        totals,
        h("span.stat", {}, h("b", {}, t.calls ?? 0), " calls"),
        h("span.stat", {}, h("b", {}, t.tokens_in ?? 0), " tokens in"),
        h("span.stat", {}, h("b", {}, t.tokens_out ?? 0), " tokens out"),
        h("span.stat.cost", {}, h("b", {}, money(t.cost)), " spent"),
      );
      const ledger = u.rows || u.ledger || [];
      fill(
        rows,
        ledger.length
          ? table(
              [
                ["time", (r) => when(r.time_ms)],
                ["agent", (r) => r.agent_name],
                ["provider", (r) => r.provider],
                ["model", (r) => r.model],
                ["tokens", (r) => `${r.tokens_in ?? 0} / ${r.tokens_out ?? 0}`],
                ["cost", (r) => money(r.cost)],
                ["outcome", (r) => r.outcome || r.status || ""],
              ],
              ledger,
            )
          : "",
      );
    } else fill(totals, h("p.error", {}, usage.reason.message));
    if (root.isConnected) timer = setTimeout(() => root.isConnected && show().catch(() => {}), 5000);
  }

  return { root, show };
}
