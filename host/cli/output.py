"""How CLI commands print: a table for people, one JSON document with --json."""

from __future__ import annotations

import json
from typing import Any, Iterable

from agenthost.v1 import agent_pb2, router_pb2


def lifecycle_name(value: int) -> str:
    return agent_pb2.LifecycleState.Name(value).removeprefix("LIFECYCLE_STATE_")


def plugin_state_name(value: int) -> str:
    return agent_pb2.PluginState.Name(value).removeprefix("PLUGIN_STATE_").lower()


def plugin_doc(plugin: agent_pb2.PluginStatus) -> dict[str, Any]:
    c = plugin.components
    doc = {
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
    if plugin.HasField("process"):  # GetStatus samples it; ListPlugins does not
        doc["process"] = process_doc(plugin.process)
    # Components whose breaker is not closed, or has failures counted; the others are closed.
    doc["breakers"] = [
        {"kind": b.kind, "name": b.name, "state": b.state, "failures": b.failures, "retry_in_s": b.retry_in_ms / 1000}
        for b in plugin.breakers
    ]
    return doc


def process_doc(p: agent_pb2.ProcessStats) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "rss_bytes": p.rss_bytes,
        "peak_rss_bytes": p.peak_rss_bytes,
        "cpu_percent": p.cpu_percent,
        "cpu_seconds": p.cpu_seconds,
    }


def runs_doc(r: agent_pb2.RunFigures) -> dict[str, Any]:
    return {
        "active": r.active,
        "queued": r.queued,
        "ended": r.ended,
        "completed": r.completed,
        "failed": r.failed,
        "by_status": dict(sorted(r.by_status.items())),
        "avg_ms": round(r.avg_ms, 3),
        "p95_ms": round(r.p95_ms, 3),
        "error_rate": round(r.error_rate, 4),
        "throughput_per_s": round(r.throughput_per_s, 4),
    }


def status_doc(status: agent_pb2.GetStatusResponse) -> dict[str, Any]:
    return {
        "agent_id": status.agent_id,
        "agent_name": status.agent_name,
        "state": lifecycle_name(status.state),
        "version": status.version,
        "uptime_ms": status.uptime_ms,
        "plugins": [plugin_doc(p) for p in status.plugins],
        # (the router's breakers are its providers', from its ListProviders: not a plugin's)
        "router": {k: v for k, v in plugin_doc(status.router).items() if k not in ("components", "breakers")},
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "state": lifecycle_name(a.state),
                "plugins": list(a.plugins),
                "reason": a.reason,
                "runs": runs_doc(a.runs),
            }
            for a in status.agents
        ],
        "process": process_doc(status.process) if status.HasField("process") else None,
        "runs": runs_doc(status.runs),
        "router_cache": cache_doc(status.router_cache) if status.HasField("router_cache") else None,
        "cache_hit_rate": cache_hit_rate(status.router_cache) if status.HasField("router_cache") else None,
        "deployment": deployment_doc(status.deployment) if status.HasField("deployment") else None,
    }


def deployment_doc(d: agent_pb2.DeploymentStatus) -> dict[str, Any]:
    """The deployment this host is one of, as `status --json` gives it."""
    hosts = [
        {
            "host_id": h.host_id,
            "address": h.address,
            "heartbeat_age_s": round(h.heartbeat_age_s, 2),
            "stopping": h.stopping,
            "partitions": list(h.partitions),
            "running_runs": h.running_runs,
            "active_rooms": h.active_rooms,
            "messages": h.messages,
            "plugins": list(h.plugins),
        }
        for h in d.hosts
    ]
    return {
        "host_id": d.host_id,
        "partitions": d.partitions,
        "hosts": hosts,
        "waiting_messages": d.waiting_messages,
        "lagging_runs": d.lagging_runs,
    }


def deployment_text(d: dict[str, Any]) -> str:
    """A line for the deployment and one per host."""
    lines = [
        f"deployment: {len(d['hosts'])} host(s), {d['partitions']} partitions; this host {d['host_id']}; "
        f"{d['waiting_messages']} message(s) waiting for an owner, {d['lagging_runs']} lagging run(s)"
    ]
    for h in d["hosts"]:
        mark = " (this host)" if h["host_id"] == d["host_id"] else ""
        stopping = ", stopping" if h["stopping"] else ""
        lines.append(
            f"  {h['host_id']}{mark} {h['address']}: {len(h['partitions'])} partitions, {h['running_runs']} runs "
            f"going in {h['active_rooms']} room(s), {h['messages']} messages; heartbeat {h['heartbeat_age_s']:.1f} s "
            f"ago{stopping}"
        )
    return "\n".join(lines) + "\n"


OWN_MODELS = "agenthost-local/"  # the litellm model ids of the models the router runs itself


def router_providers_doc(providers: Iterable[router_pb2.ProviderInfo]) -> dict[str, dict[str, str]]:
    """Each provider's circuit breaker, and why any of the router's own local models cannot be
    called (its worker crashed): what `status --json` adds to its router entry."""
    providers = list(providers)
    # Only the router's own models: a cloud provider without its key is not configured by choice.
    down = {
        p.id: p.not_configured_reason for p in providers if not p.configured and p.litellm_model.startswith(OWN_MODELS)
    }
    return {"breakers": {p.id: p.breaker for p in providers}, "unavailable": down}


def cache_hit_rate(cache: router_pb2.ResponseCacheStats) -> float:
    lookups = cache.hits + cache.misses
    return round(cache.hits / lookups, 4) if lookups else 0.0


def cache_doc(cache: router_pb2.ResponseCacheStats) -> dict[str, Any]:
    return {
        "hits": cache.hits,
        "misses": cache.misses,
        "entries": cache.entries,
        "max_entries": cache.max_entries,
        "ttl_s": cache.ttl_s,
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2)


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def _process_cells(p: dict[str, Any]) -> tuple[str, str, str]:
    process = p.get("process")
    if not process:
        return "-", "-", "-"
    return megabytes(process["rss_bytes"]), megabytes(process["peak_rss_bytes"]), f"{process['cpu_percent']:.1f}%"


def plugin_table(plugins: list[dict[str, Any]]) -> str:
    if not plugins:
        return "no plugins"
    sampled = any("process" in p for p in plugins)  # status samples processes; plugins list does not
    usage = ("RSS", "PEAK RSS", "CPU") if sampled else ()
    rows = [("NAME", "VERSION", "STATE", "PID", "RESTARTS", *usage, "COMPONENTS")]
    for p in plugins:
        parts = [f"{len(v)} {k.replace('_', ' ')}" for k, v in p["components"].items() if v]
        cells = _process_cells(p) if sampled else ()
        rows.append(
            (
                p["name"],
                p["version"],
                p["state"],
                str(p["pid"] or "-"),
                str(p["restarts"]),
                *cells,
                ", ".join(parts) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    for p in plugins:
        if p["reason"]:
            lines.append(f"  {p['name']}: {p['reason']}")
        tripped = [b for b in p.get("breakers", []) if b["state"] != "closed"]
        if tripped:
            lines.append(f"  {p['name']} breakers: " + ", ".join(map(_breaker_text, tripped)))
    return "\n".join(lines)


def _breaker_text(b: dict[str, Any]) -> str:
    wait = f", trial call in {b['retry_in_s']:.1f} s" if b["state"] == "open" else ""
    return f"{b['kind']} {b['name']} {b['state']} ({b['failures']} failures{wait})"


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
            f"\nagent {a['name']} ({a['id']}) {a['state']}"
            + (f": {a['reason']}" if a["reason"] else "")
            + (f"; runs: {runs_text(a['runs'])}" if "runs" in a else "")
            for a in doc["agents"]
        )
    figures = _figures_text(doc)
    usage = f"; {_process_text(router['process'])}" if router.get("process") else ""
    spend = f"\n  spend: {_spend_text(router['spend'])}" if "spend" in router else ""
    return (
        f"{head}{agents}{figures}\nrouter: {router['state']} {where}{reason}{usage}{breakers}{down}{spend}\n"
        + plugin_table(doc["plugins"])
        + (deployment_text(doc["deployment"]) if doc.get("deployment") else "")
    )


def runs_text(r: dict[str, Any]) -> str:
    others = ", ".join(f"{n} {s}" for s, n in r["by_status"].items() if s not in ("completed", "degraded", "failed"))
    return (
        f"{r['active']} active ({r['queued']} queued), {r['ended']} ended: {r['completed']} completed, "
        f"{r['failed']} failed" + (f", {others}" if others else "") + f"; response avg {r['avg_ms']:.0f} ms, "
        f"p95 {r['p95_ms']:.0f} ms; error rate {r['error_rate'] * 100:.1f}%; {r['throughput_per_s']:.2f} runs/s"
    )


def _process_text(p: dict[str, Any]) -> str:
    return (
        f"rss {megabytes(p['rss_bytes'])} (peak {megabytes(p['peak_rss_bytes'])}), "
        f"cpu {p['cpu_percent']:.1f}% ({p['cpu_seconds']:.1f} s)"
    )


def _spend_text(spend: dict[str, Any] | None) -> str:
    if spend is None:
        return "- (the router did not report its usage)"
    each = ", ".join(f"{name} ${s['cost']:.6f}" for name, s in spend["agents"].items())
    return (
        f"${spend['cost']:.6f} in {spend['calls']} call(s), {spend['tokens_in']} tokens in, "
        f"{spend['tokens_out']} out" + (f" ({each})" if len(spend["agents"]) > 1 else "")
    )


def _figures_text(doc: dict[str, Any]) -> str:
    """The host's process, runs and router cache (each absent from older hosts)."""
    lines = []
    if doc.get("process"):
        lines.append(f"host: pid {doc['process']['pid']} {_process_text(doc['process'])}")
    if "runs" in doc:
        lines.append(f"runs: {runs_text(doc['runs'])}")
    if cache := doc.get("router_cache"):
        lookups = cache["hits"] + cache["misses"]
        rate = f"{doc['cache_hit_rate']:.0%}" if lookups else "-"
        lines.append(
            f"router cache: hit rate {rate} ({cache['hits']} of {lookups} lookups), "
            f"{cache['entries']} kept of {cache['max_entries']}, for {cache['ttl_s']:g} s"
        )
    return "".join(f"\n{line}" for line in lines)
