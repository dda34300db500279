"""Serving the HTTP face: uvicorn on the host's own event loop, beside its gRPC servers.

uvicorn runs as a task of the host's loop (`Server.serve`), not a thread or a process: the
routes call the agents and the router directly, and the host's `serve` keeps SIGINT and SIGTERM
(uvicorn's own signal handlers are left out). The socket is bound here first, so a port in use
is one clear error at start and a port of 0 is known at once."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from typing import TYPE_CHECKING, Iterator

import uvicorn

from plugin_sdk.auth import is_loopback

from ..config import ServerTls
from ..mcp_server.http import close_mcp
from .address import parse_address
from .app import create_app

if TYPE_CHECKING:
    from ..host import Host

log = logging.getLogger("host.http")
START_TIMEOUT = 10.0
BACKLOG = 2048  # uvicorn's own default
STOP_GRACE = 1  # seconds open requests (streams) get to finish when the host stops


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the host's `serve` owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """The running HTTP face: its bound address and URL; `stop` ends it."""

    def __init__(self, server: _Server, task: asyncio.Task[None], where: str, port: int, tls: bool) -> None:
        self._server, self._task = server, task
        self.address = f"[{where}]:{port}" if ":" in where else f"{where}:{port}"
        self.url = f"{'https' if tls else 'http'}://{self.address}"

    async def stop(self) -> None:
        """Stop taking requests; open ones get STOP_GRACE seconds, then are cut."""
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE + 2.0)
        except (asyncio.TimeoutError, Exception):
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await close_mcp(self._server.config.app)  # /mcp's session manager: its task group ends too


def _bind(where: str, port: int, text: str) -> socket.socket:
    """The listening socket, made with protocol IPPROTO_TCP: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on connections of such a socket, and with it on (socket.create_server
    makes protocol 0) a keep-alive request waited ~40 ms for a delayed ACK before its response's
    body went out."""
    try:
        family = socket.AF_INET6 if isinstance(ipaddress.ip_address(where), ipaddress.IPv6Address) else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a name such as localhost
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((where, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OSError(f"cannot serve HTTP on {text}: {why}") from None
    return sock


async def serve_http_of(host: Host) -> None:
    """Serve the HTTP face of a started `host` as its config says (`http`; not "off"), as
    host.http, which the host stops first when it stops. Whoever runs a host calls it after
    Host.start (the serve command, tests, benches): host.host cannot import this package, which
    depends on it. HttpAddressError / OSError as serve_http."""
    host.http = await serve_http(host, host.config.http, host.config.tls, host.api_token)


async def serve_http(host: Host, address: str, tls: ServerTls | None, token: str) -> HttpServer:
    """Serve the HTTP face of `host` on `address` (HOST:PORT, :PORT or PORT; 0 picks a port),
    with TLS when the host has a [tls] certificate, refusing requests without `token`.
    HttpAddressError for a bad address; OSError (one line) when it cannot be served."""
    where, port = parse_address(address)
    if tls is None and not is_loopback(f"{where}:{port}"):
        raise OSError(
            f"refusing to serve HTTP on {address} without TLS: the API token would cross the network in clear; "
            "set [tls] cert_file and key_file, or serve on a loopback address"
        )
    sock = _bind(where, port, address)
    quiet = logging.getLogger("uvicorn.error")  # its start and stop lines: the host's own line says where
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    config = uvicorn.Config(
        create_app(host, token),
        log_config=None,  # the host's logging, as configured
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=STOP_GRACE,
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            sock.close()
            why = _failure(task)
            raise OSError(f"cannot serve HTTP on {address}: {why}")
        await asyncio.sleep(0.005)
    bound = sock.getsockname()
    http = HttpServer(server, task, where, bound[1], tls is not None)
    log.info("HTTP (OpenAI-compatible /v1) on %s", http.url)
    return http


def _failure(task: asyncio.Task[None]) -> str:
    if not task.done():
        task.cancel()
        return f"uvicorn did not start in {START_TIMEOUT:g} s"
    try:
        task.result()
    except (Exception, SystemExit) as exc:  # uvicorn exits when it cannot start (a bad certificate, ...)
        return str(exc) or type(exc).__name__
    return "uvicorn stopped at start"
