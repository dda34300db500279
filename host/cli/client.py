"""What every client command shares: its options, stubs for an address, and failures as one line and an exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, TypeVar

import grpc
from agenthost.v1 import agent_pb2_grpc, router_pb2_grpc

from ..config import default_address

S = TypeVar("S")
T = TypeVar("T")

HOST_HELP = "host address (default: $AGENTHOST_ADDR or 127.0.0.1:7531)"


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with `agenthost: <message>` on stderr and exit status `code` (never a traceback)."""
    print(f"agenthost: {message}", file=sys.stderr)
    sys.exit(code)


def add_client_options(
    parser: argparse.ArgumentParser, host_help: str = HOST_HELP, json_flag: bool = True
) -> argparse.ArgumentParser:
    """Give a client command `--host` (where the host listens) and, unless `json_flag` is false, `--json`."""
    parser.add_argument("--host", default=default_address(), help=host_help)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def agent_stub(address: str) -> agent_pb2_grpc.AgentServiceStub:
    """A client of the host's AgentService at `address`."""
    return agent_pb2_grpc.AgentServiceStub(grpc.insecure_channel(address))


def router_stub(address: str) -> router_pb2_grpc.RouterServiceStub:
    """A client of RouterService at `address`: a router, or a host (which forwards to its router)."""
    return router_pb2_grpc.RouterServiceStub(grpc.insecure_channel(address))


def _never(details: str) -> bool:
    return False


def details(exc: grpc.RpcError) -> str:
    """What a failed call says: the server's message, or the status code's name when there is none."""
    return exc.details() or exc.code().name


def unreachable(exc: grpc.RpcError, answered: Callable[[str], bool] = _never) -> bool:
    """True when nothing answered the call: UNAVAILABLE, unless `answered(details)` recognises a server's own
    UNAVAILABLE (a host not ready yet, a router whose providers all failed)."""
    return exc.code() == grpc.StatusCode.UNAVAILABLE and not answered(exc.details() or "")


def call(stub: S, fn: Callable[[S], T], unreachable_line: str, answered: Callable[[str], bool] = _never) -> T:
    """`fn(stub)`; a gRPC error ends the command with one line: `unreachable_line` when nothing answered
    (see `unreachable`), else the server's message."""
    try:
        return fn(stub)
    except grpc.RpcError as exc:
        fail(unreachable_line if unreachable(exc, answered) else details(exc))
