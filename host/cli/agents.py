"""`agenthost agents list|add|remove`: the agents a running host serves."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agenthost.v1 import agent_pb2

from .client import add_client_options, agent_stub, call, fail
from .output import dumps, lifecycle_name

UNREACHABLE = "cannot reach the host at {} (is `agenthost serve` running? set --host or AGENTHOST_ADDR)"


def agent_doc(agent: agent_pb2.AgentStatus) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "state": lifecycle_name(agent.state),
        "plugins": list(agent.plugins),
        "reason": agent.reason,
        "source": agent.source,
    }


def agent_table(agents: list[dict[str, Any]]) -> str:
    if not agents:
        return "no agents"
    rows = [("NAME", "ID", "STATE", "PLUGINS")]
    rows += [(a["name"], a["id"], a["state"], ", ".join(a["plugins"]) or "(all)") for a in agents]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
    return "\n".join(lines + [f"  {a['name']}: {a['reason']}" for a in agents if a["reason"]])


def cmd_agents_list(args: argparse.Namespace) -> None:
    reply = call(agent_stub(args.host), lambda s: s.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10), _down(args))
    docs = [agent_doc(a) for a in reply.agents]
    print(dumps({"agents": docs}) if args.json else agent_table(docs))


def cmd_agents_add(args: argparse.Namespace) -> None:
    """Read the character file here and send its text (the host may not see this machine's files);
    --on-host sends the path for the host to read."""
    if args.on_host:
        request = agent_pb2.AddAgentRequest(path=args.character)
    else:
        try:
            request = agent_pb2.AddAgentRequest(character_json=Path(args.character).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read character file {args.character}: {getattr(exc, 'strerror', None) or exc}", 2)
    reply = call(agent_stub(args.host), lambda s: s.AddAgent(request, timeout=args.timeout), _down(args))
    doc = agent_doc(reply.agent)
    print(dumps(doc) if args.json else f"added agent {doc['name']} ({doc['id']}): {doc['state']}")


def cmd_agents_remove(args: argparse.Namespace) -> None:
    request = agent_pb2.RemoveAgentRequest(agent=args.agent)
    reply = call(agent_stub(args.host), lambda s: s.RemoveAgent(request, timeout=args.timeout), _down(args))
    doc = {**agent_doc(reply.agent), "interrupted_runs": reply.interrupted_runs}
    runs = f"; {reply.interrupted_runs} run(s) interrupted" if reply.interrupted_runs else ""
    print(dumps(doc) if args.json else f"removed agent {doc['name']} ({doc['id']}){runs}")


def _down(args: argparse.Namespace) -> str:
    return UNREACHABLE.format(args.host)


def add_agents_commands(sub: Any) -> None:
    """`agents list`, `agents add FILE [--on-host]`, `agents remove AGENT`."""
    agents = sub.add_parser("agents", help="list, add or remove the host's agents").add_subparsers(
        dest="action", required=True
    )
    add_client_options(agents.add_parser("list", help="the agents and their lifecycle states")).set_defaults(
        func=cmd_agents_list
    )
    add = add_client_options(agents.add_parser("add", help="start an agent from an elizaOS character file"))
    add.add_argument("character", metavar="FILE", help="character file (read here and sent to the host)")
    add.add_argument("--on-host", action="store_true", help="FILE is a path on the host's machine: the host reads it")
    add.add_argument("--timeout", type=float, default=60.0)
    add.set_defaults(func=cmd_agents_add)
    remove = add_client_options(agents.add_parser("remove", help="stop an agent (its stored memory stays)"))
    remove.add_argument("agent", metavar="AGENT", help="the agent's id or name")
    remove.add_argument("--timeout", type=float, default=60.0)
    remove.set_defaults(func=cmd_agents_remove)
