"""The benchmark's floor: a bare grpc.aio unary echo on a unix socket, in its own process.

Usage: echo_server.py SOCKET_PATH

Serves /bench.Echo/Echo (bytes in, the same bytes out, no proto codegen), prints
"READY" on stdout once serving, and exits when its stdin closes (the benchmark
went away, however it died) or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

import grpc

SERVICE = "bench.Echo"
METHOD = "Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _serve(socket_path: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(_echo)}),)
    )
    if server.add_insecure_port(f"unix:{socket_path}") == 0:
        raise SystemExit(f"echo_server: cannot listen on unix:{socket_path}")
    await server.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    await stop.wait()
    await server.stop(grace=0.5)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: echo_server.py SOCKET_PATH")
    asyncio.run(_serve(sys.argv[1]))


if __name__ == "__main__":
    main()
