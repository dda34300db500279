"""Chatting with the agent from a terminal: `agenthost chat`, and `agenthost serve --chat`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, TextIO

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2

from plugin_sdk.wire import struct_to_dict

from .client import agent_stub, details, unreachable

DEFAULT_ROOM = "terminal"
DEFAULT_USER = "terminal-user"


def add_chat_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--room", default=DEFAULT_ROOM, help=f"conversation id (default: {DEFAULT_ROOM})")
    parser.add_argument("--user", default=DEFAULT_USER, help=f"your entity id (default: {DEFAULT_USER})")
    parser.add_argument("--agent", default="", help="the agent's id or name (needed when the host runs several)")


def chat(
    address: str,
    room: str,
    user: str,
    lines: TextIO = sys.stdin,
    as_json: bool = False,
    stop: Callable[[], bool] = lambda: False,
    token: str | None = None,
    agent: str = "",
) -> int:
    """Send each line read from `lines` as a message and print the run's events (with `token`,
    else the one `host_token()` finds). Returns 0, or 1 if any message failed; stops at end of
    input or when `stop()` says so."""
    stub = agent_stub(address, token)
    interactive = lines.isatty() and not as_json
    speaker = (agent or _agent_name(stub)) if interactive else ""
    failed = False
    while not stop():
        if interactive:
            print("you> ", end="", flush=True)
        line = lines.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        request = agent_pb2.SendMessageRequest(
            agent_id=agent, room_id=room, entity_id=user, content=types_pb2.Content(text=text)
        )
        try:
            for event in stub.SendMessage(request):
                failed |= show_event(event, as_json, speaker)
        except grpc.RpcError as exc:
            failed = True
            # A host that is not ready yet says so; the next line may find it ready.
            if unreachable(exc, answered=lambda text: "not ready" in text):
                print(f"agenthost: cannot reach the host at {address}", file=sys.stderr, flush=True)
                return 1
            print(f"agenthost: {details(exc)}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def _agent_name(stub: agent_pb2_grpc.AgentServiceStub) -> str:
    try:
        return str(stub.GetStatus(agent_pb2.GetStatusRequest(), timeout=5).agent_name)
    except grpc.RpcError:
        return "agent"


def show_event(event: agent_pb2.SendMessageResponse, as_json: bool, speaker: str = "") -> bool:
    """Print one run event; True if it reports a failed run."""
    extra = struct_to_dict(event.content.extra)
    if as_json:
        doc = {
            "run_id": event.run_id,
            "event": event.event_type,
            "text": event.content.text,
            "actions": list(event.content.actions),
            "source": event.content.source,
            **({"thought": event.content.thought} if event.content.thought else {}),
            **({"extra": extra} if extra else {}),
        }
        print(json.dumps(doc), flush=True)
    elif event.event_type == "REPLY":
        print(f"{speaker}: {event.content.text}" if speaker else event.content.text, flush=True)
    elif event.event_type == "ACTION" and (event.content.text or extra.get("error")):
        name = ",".join(event.content.actions) or event.content.source
        print(f"  [{name}] {event.content.text or 'failed: ' + str(extra['error'])}", flush=True)
    ended = event.event_type == "RUN_ENDED"
    failed = ended and extra.get("status") == "failed"
    if failed and not as_json:
        print(f"agenthost: {extra.get('error', 'the run failed')}", file=sys.stderr, flush=True)
    if ended and extra.get("status") == "degraded" and not as_json:
        for skip in extra.get("skipped", []):  # the run went on without these: say so, on stderr
            what = f"{skip.get('kind', 'component')} {skip.get('name', '?')}"
            print(f"agenthost: {what} was skipped: {skip.get('error', 'no answer')}", file=sys.stderr, flush=True)
    return failed


def cmd_chat(args: argparse.Namespace) -> None:
    try:
        sys.exit(chat(args.host, args.room, args.user, as_json=args.json, agent=args.agent))
    except KeyboardInterrupt:
        sys.exit(130)


_show = show_event  # its former name (tests/test_cli.py imports it)
