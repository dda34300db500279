"""The host's gRPC server: AgentService, RuntimeService, RouterService forwarded to the
router, health and reflection, on the public address and the plugins' socket."""

from __future__ import annotations

import os
import socket

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, runtime_pb2, runtime_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..config import unix_path
from ..plugins.router_link import RouterLink
from .agent_service import AgentServicer
from .router_forwarding import forwarding_handler
from .runtime_service import RuntimeServicer

SERVICE_NAMES = (
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name,
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


async def start_server(
    listen: str, runtime_address: str, agent: AgentServicer, runtime: RuntimeServicer, router: RouterLink
) -> tuple[grpc.aio.Server, str]:
    """Serve on `listen` and `runtime_address`; returns the server and the bound public address
    (a port of 0 made real). OSError with one line when `listen` cannot be had."""
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent, server)
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    server.add_generic_rpc_handlers((forwarding_handler(router),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    _refuse_live_socket(listen)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {listen}: the address is in use or not this machine's")
    server.add_insecure_port(runtime_address)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"
