"""How CLI commands print: a table for people, one JSON document with --json."""

from __future__ import annotations

import json
from typing import Any

from agenthost.v1 import agent_pb2


def lifecycle_name(value: int) -> str:
    return agent_pb2.LifecycleState.Name(value).removeprefix("LIFECYCLE_STATE_")


def plugin_state_name(value: int) -> str:
    return agent_pb2.PluginState.Name(value).removeprefix("PLUGIN_STATE_").lower()


def plugin_doc(plugin: agent_pb2.PluginStatus) -> dict[str, Any]:
    c = plugin.components
    return {
        "name": plugin.name,
        "version": plugin.version,
        "state": plugin_state_name(plugin.state),
        "pid": plugin.pid,
        "restarts": plugin.restarts,
        "reason": plugin.reason,
        "transport": plugin.transport,
        "address": plugin.address,
        "components": {f.name: list(getattr(c, f.name)) for f in c.DESCRIPTOR.fields},
    }


def status_doc(status: agent_pb2.GetStatusResponse) -> dict[str, Any]:
    return {
        "agent_id": status.agent_id,
        "agent_name": status.agent_name,
        "state": lifecycle_name(status.state),
        "version": status.version,
        "uptime_ms": status.uptime_ms,
        "plugins": [plugin_doc(p) for p in status.plugins],
        "router": {k: v for k, v in plugin_doc(status.router).items() if k != "components"},
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "state": lifecycle_name(a.state),
                "plugins": list(a.plugins),
                "reason": a.reason,
            }
            for a in status.agents
        ],
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2)


def plugin_table(plugins: list[dict[str, Any]]) -> str:
    if not plugins:
        return "no plugins"
    rows = [("NAME", "VERSION", "STATE", "PID", "RESTARTS", "COMPONENTS")]
    for p in plugins:
        parts = [f"{len(v)} {k.replace('_', ' ')}" for k, v in p["components"].items() if v]
        rows.append(
            (p["name"], p["version"], p["state"], str(p["pid"] or "-"), str(p["restarts"]), ", ".join(parts) or "-")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    for p in plugins:
        if p["reason"]:
            lines.append(f"  {p['name']}: {p['reason']}")
    return "\n".join(lines)


def status_text(doc: dict[str, Any]) -> str:
    head = f"agent {doc['agent_name']} ({doc['agent_id']})  state {doc['state']}  uptime {doc['uptime_ms'] / 1000:.0f}s"
    router = doc["router"]
    where = f"pid {router['pid']}" if router["pid"] else router["address"] or "-"
    reason = f" ({router['reason']})" if router["reason"] else ""
    tripped = [f"{p} {state}" for p, state in router.get("breakers", {}).items() if state != "closed"]
    breakers = (
        f"; breakers: {', '.join(tripped)}" if tripped else ("; breakers all closed" if "breakers" in router else "")
    )
    # A local model that is down says why on a line of its own: the reason is long, and it is the news.
    down = "".join(f"\n  {pid} unavailable: {why}" for pid, why in sorted(router.get("unavailable", {}).items()))
    agents = ""
    if len(doc.get("agents", [])) > 1:  # one agent is the head line already
        agents = "".join(
            f"\nagent {a['name']} ({a['id']}) {a['state']}" + (f": {a['reason']}" if a["reason"] else "")
            for a in doc["agents"]
        )
    return f"{head}{agents}\nrouter: {router['state']} {where}{reason}{breakers}{down}\n" + plugin_table(doc["plugins"])
