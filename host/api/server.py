"""The host's gRPC servers: on the public address, AgentService and RouterService (forwarded
to the router) for clients with the API token, and RuntimeService for remote plugins; on the
plugins' socket file, RuntimeService for the plugins the host started. Both with health and
reflection."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, runtime_pb2, runtime_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from plugin_sdk.auth import BearerTokenCheck, is_loopback
from plugin_sdk.decoding import ParseInCall

from ..config import TOKEN_ENV, ServerTls, unix_path
from ..plugins.router_link import RouterLink
from .agent_service import AgentServicer
from .router_forwarding import forwarding_handler
from .runtime_service import RuntimeServicer

RUNTIME_SERVICE = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name
REFUSED = (
    "missing or wrong API token: send 'authorization: Bearer <token>' (`agenthost token` prints it on the "
    f"host's machine; the CLI reads ${TOKEN_ENV} or the data directory)"
)
"""Why a client without the API token is refused (RuntimeService checks plugins' own tokens)."""
SERVICE_NAMES = (
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    RUNTIME_SERVICE,
    router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name,
)


def _refuse_live_socket(listen: str) -> None:
    """gRPC replaces an existing unix socket file when it binds; refuse if a live server owns it."""
    path = unix_path(listen)
    if not path or not os.path.exists(path):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return  # a stale file from a dead process: gRPC replaces it
    raise OSError(f"cannot listen on {listen}: another process is serving there")


def _health_and_reflection(server: grpc.aio.Server, names: tuple[str, ...]) -> health.aio.HealthServicer:
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return health_servicer


async def _serving(server: grpc.aio.Server, health_servicer: health.aio.HealthServicer, names: tuple[str, ...]) -> None:
    await server.start()
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


async def start_public_server(
    listen: str,
    tls: ServerTls | None,
    token: str,
    agent: AgentServicer,
    runtime: RuntimeServicer,
    router: RouterLink,
) -> tuple[grpc.aio.Server, str]:
    """Serve clients (AgentService, RouterService, with the API token) and remote plugins'
    callbacks (RuntimeService) on `listen`; returns the server and the bound address (a port
    of 0 made real). OSError with one line when `listen` cannot be had or must not be."""
    if tls is None and not is_loopback(listen):
        raise OSError(
            f"refusing to listen on {listen} without TLS: the API token would cross the network in clear; "
            "set [tls] cert_file and key_file, or listen on a loopback address"
        )
    server = grpc.aio.server(
        interceptors=(BearerTokenCheck(token, REFUSED, open=(f"/{RUNTIME_SERVICE}/",)), ParseInCall())
    )
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent, server)
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    server.add_generic_rpc_handlers((forwarding_handler(router),))
    health_servicer = _health_and_reflection(server, SERVICE_NAMES)
    _refuse_live_socket(listen)
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, _credentials(tls))
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {listen}: the address is in use or not this machine's")
    await _serving(server, health_servicer, SERVICE_NAMES)
    return server, listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"


async def start_plugin_server(socket: Path, runtime: RuntimeServicer) -> grpc.aio.Server:
    """Serve RuntimeService to the host's own plugins on a socket file only its user can open."""
    server = grpc.aio.server(interceptors=(ParseInCall(),))
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    health_servicer = _health_and_reflection(server, (RUNTIME_SERVICE,))
    server.add_insecure_port(f"unix://{socket}")
    await _serving(server, health_servicer, (RUNTIME_SERVICE,))
    socket.chmod(0o600)
    return server


def _credentials(tls: ServerTls) -> grpc.ServerCredentials:
    try:
        with open(tls.cert_file, "rb") as cert, open(tls.key_file, "rb") as key:
            return grpc.ssl_server_credentials([(key.read(), cert.read())])
    except OSError as exc:
        raise OSError(f"cannot read the [tls] certificate or key: {exc}") from None
