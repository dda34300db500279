"""Running a gRPC process under the host: the cookie check, version negotiation, the
handshake line, sockets, and dying with the host. Used by plugins and by the router."""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Iterable, NoReturn

import grpc
from agenthost.v1 import controller_pb2, controller_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .protocol import (
    CORE_PROTOCOL_VERSION,
    ENV_APP_VERSIONS,
    ENV_LISTEN,
    ENV_SOCKET_DIR,
    ENV_TLS_CERT,
    ENV_TLS_CLIENT_CA,
    ENV_TLS_KEY,
    HOST_SOCKET,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    NOT_A_PROGRAM,
    Handshake,
    HandshakeError,
    negotiate,
)

_PR_SET_PDEATHSIG = 1
HOST_GONE_GRACE_SECONDS = 2.0
"""After the host's pipe closes, how long a graceful stop may take before the process exits anyway."""

_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}


#: (agent id, run id) of the host's run the call being served works for, ("", "") outside one:
#: the SDK sets it for each call from what the host sent with it (PROTOCOL.md §10, Log scope),
#: and tasks a handler starts inherit it; the JSON log lines carry it.
CALL_SCOPE: ContextVar[tuple[str, str]] = ContextVar("agenthost_plugin_call_scope", default=("", ""))
RUN_ID_METADATA = "agenthost-run-id"
"""The gRPC metadata key of the run a unary call works for (a Session frame's `run_id`)."""
AGENT_ID_METADATA = "agenthost-agent-id"
"""The gRPC metadata key of that run's agent (a Session frame's `agent_id`)."""


def scope_of(metadata: Iterable[tuple[str, Any]] | None) -> tuple[str, str]:
    """(agent id, run id) from a unary call's metadata; ("", "") when it carries none."""
    agent_id = run_id = ""
    for key, value in metadata or ():
        if key == RUN_ID_METADATA:
            run_id = value
        elif key == AGENT_ID_METADATA:
            agent_id = value
    return agent_id, run_id


class _JsonLineFormatter(logging.Formatter):
    """One JSON object per line on stderr; the host parses level and message from it, and the
    run and agent the call being served works for (CALL_SCOPE) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "level": _LEVELS.get(record.levelno, "trace" if record.levelno < logging.DEBUG else "info"),
            "msg": record.getMessage(),
            "logger": record.name,
            "time": record.created,
        }
        agent_id, run_id = CALL_SCOPE.get()
        if run_id:
            doc["run_id"] = run_id
        if agent_id:
            doc["agent_id"] = agent_id
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def fail(name: str, message: str) -> NoReturn:
    """One line on stderr, exit 1."""
    print(f"agenthost plugin {name}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def start_checks(name: str) -> int:
    """Refuse to run without the host's cookie; negotiate the app version; set up output.
    Returns the app version; exits 1 with one line on stderr when it cannot go on."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print(NOT_A_PROGRAM, file=sys.stderr, flush=True)
        sys.exit(1)
    try:
        app_version = negotiate(os.environ.get(ENV_APP_VERSIONS, ""))
    except HandshakeError as exc:
        fail(name, str(exc))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLineFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return app_version


CONTROLLER_SERVICE = controller_pb2.DESCRIPTOR.services_by_name["ControllerService"].full_name


class _Controller(controller_pb2_grpc.ControllerServiceServicer):
    """Shutdown for the host: reply first, then stop (the caller's `stop` event)."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop

    async def Shutdown(
        self, request: controller_pb2.ShutdownRequest, context: grpc.aio.ServicerContext
    ) -> controller_pb2.ShutdownResponse:
        asyncio.get_running_loop().call_soon(self._stop.set)
        return controller_pb2.ShutdownResponse()


async def serve_until_stopped(
    name: str,
    app_version: int,
    server: grpc.aio.Server,
    service_names: tuple[str, ...],
    stop: asyncio.Event,
    on_stop: Callable[[], Awaitable[None]],
) -> None:
    """Add the controller (Shutdown), health and reflection to `server`, bind it as the
    protocol says, print the handshake, and serve until `stop` is set, Shutdown,
    SIGTERM/SIGINT, or the host goes away."""
    loop = asyncio.get_running_loop()
    controller_pb2_grpc.add_ControllerServiceServicer_to_server(_Controller(stop), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*service_names, CONTROLLER_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    socket_path = ""
    listen = os.environ.get(ENV_LISTEN, "")
    if listen:
        handshake = Handshake(CORE_PROTOCOL_VERSION, app_version, "tcp", _bind_tls(server, listen), "grpc")
    else:
        socket_dir = os.environ.get(ENV_SOCKET_DIR, "")
        if not socket_dir or not os.path.isdir(socket_dir):
            raise HandshakeError(f"{ENV_SOCKET_DIR} must name an existing directory (got {socket_dir!r})")
        socket_path = os.path.join(socket_dir, f"{name}-{os.getpid()}.sock")
        server.add_insecure_port(f"unix:{socket_path}")
        handshake = Handshake(CORE_PROTOCOL_VERSION, app_version, "unix", socket_path, "grpc")

    await server.start()
    for service in ("", *service_names):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    sys.stdout.write(handshake.line() + "\n")
    sys.stdout.flush()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host_gone = threading.Event()
    if not listen:
        _die_with_host()
        _watch_host_pipe(loop, stop, socket_path, host_gone)

    await stop.wait()
    await health_servicer.enter_graceful_shutdown()
    try:
        await asyncio.wait_for(on_stop(), timeout=HOST_GONE_GRACE_SECONDS)
    except asyncio.TimeoutError:
        logging.getLogger("plugin_sdk").warning("did not stop within %.0fs", HOST_GONE_GRACE_SECONDS)
    await server.stop(grace=HOST_GONE_GRACE_SECONDS)
    _remove(socket_path, host_gone.is_set())


def _bind_tls(server: grpc.aio.Server, listen: str) -> str:
    """Bind a TCP port with mutual TLS; return the address to put in the handshake."""
    paths = {name: os.environ.get(name, "") for name in (ENV_TLS_CERT, ENV_TLS_KEY, ENV_TLS_CLIENT_CA)}
    missing = [name for name, path in paths.items() if not path]
    if missing:
        raise HandshakeError(f"{ENV_LISTEN} needs mutual TLS: set {', '.join(missing)}")
    try:
        cert, key, ca = (open(paths[n], "rb").read() for n in (ENV_TLS_CERT, ENV_TLS_KEY, ENV_TLS_CLIENT_CA))
    except OSError as exc:
        raise HandshakeError(f"cannot read TLS file: {exc}") from exc
    credentials = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    port = server.add_secure_port(listen, credentials)
    host = listen.rsplit(":", 1)[0]
    return f"{host}:{port}"


def _die_with_host() -> None:
    """Ask Linux to SIGTERM this process when its parent (the host) dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the stdin pipe still says when the host is gone


def _watch_host_pipe(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, socket_path: str, host_gone: threading.Event
) -> None:
    """Stop when the host's end of stdin closes (the host exited, however it died).

    If the event loop is stuck (a handler blocking), exit anyway after a grace period:
    a plugin must never outlive its host.
    """

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        host_gone.set()
        loop.call_soon_threadsafe(stop.set)
        time.sleep(HOST_GONE_GRACE_SECONDS + 0.5)
        _remove(socket_path, host_gone=True)
        os._exit(0)

    threading.Thread(target=watch, name="host-pipe-watch", daemon=True).start()


def _remove(path: str, host_gone: bool) -> None:
    """Remove our socket; if the host is gone it cannot clean up, so the last plugin
    out removes the host's socket and the socket directory too."""
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if host_gone:
        directory = os.path.dirname(path)
        try:
            os.unlink(os.path.join(directory, HOST_SOCKET))  # the dead host's own socket
        except OSError:
            pass
        try:
            os.rmdir(directory)
        except OSError:
            pass  # another plugin's socket is still there, or it is gone already
