"""What every client command shares: its options, stubs for an address, and failures as one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import grpc
from agenthost.v1 import agent_pb2_grpc, router_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from ..config import DATA_DIR_ENV, TOKEN_ENV, default_address
from ..store.data_dir import TOKEN_FILE

TLS_CA_ENV = "AGENTHOST_TLS_CA"
ROUTER_TOKEN_ENV = "AGENTHOST_ROUTER_TOKEN"

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


def host_token() -> str:
    """The host's API token: $AGENTHOST_TOKEN, else the file the host made in its data directory
    ($AGENTHOST_DATA_DIR, else .agenthost); "" when there is neither."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    try:
        return (Path(os.environ.get(DATA_DIR_ENV, ".agenthost")) / TOKEN_FILE).read_text().strip()
    except OSError:
        return ""


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Sends `authorization: Bearer <token>` with every call."""

    def __init__(self, token: str) -> None:
        self._header = (AUTH_METADATA_KEY, AUTH_SCHEME + token)

    def _with_token(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self._header])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)


def channel(address: str, token: str) -> grpc.Channel:
    """A channel to `address` sending `token`; TLS when $AGENTHOST_TLS_CA names the CA to check
    the server's certificate against."""
    ca = os.environ.get(TLS_CA_ENV, "")
    if ca:
        try:
            with open(ca, "rb") as file:
                plain = grpc.secure_channel(address, grpc.ssl_channel_credentials(file.read()))
        except OSError as exc:
            fail(f"cannot read {TLS_CA_ENV}={ca}: {exc.strerror}")
    else:
        plain = grpc.insecure_channel(address)
    return grpc.intercept_channel(plain, _Bearer(token)) if token else plain


def agent_stub(address: str, token: str | None = None) -> agent_pb2_grpc.AgentServiceStub:
    """A client of the host's AgentService at `address`, with `token` or else the one `host_token()` finds."""
    return agent_pb2_grpc.AgentServiceStub(channel(address, host_token() if token is None else token))


def router_stub(address: str, direct: bool = False) -> router_pb2_grpc.RouterServiceStub:
    """A client of RouterService at `address`: a host (which forwards to its router), with the
    host's token, or with `direct` a standalone router, with $AGENTHOST_ROUTER_TOKEN."""
    token = os.environ.get(ROUTER_TOKEN_ENV, "") if direct else host_token()
    return router_pb2_grpc.RouterServiceStub(channel(address, token))


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
