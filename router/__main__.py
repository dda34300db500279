"""`python -m router`: the router process. Under the host (its magic cookie set) it speaks the
plugin handshake on a private socket; `python -m router serve --listen ADDR` runs it standalone."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from plugin_sdk.protocol import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE

from .config import RouterConfigError, load_router_config
from .server import fail, serve_standalone, serve_under_host


def main() -> None:
    parser = argparse.ArgumentParser(prog="agenthost router serve", description="Run the LLM router.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--listen", help="address to serve RouterService on: HOST:PORT or unix:///path")
    parser.add_argument("--config", type=Path, help="TOML file with a [router] table")
    parser.add_argument("--database", help="SQLite file or postgresql:// URL for budgets and ledger")
    parser.add_argument(
        "--data-dir", type=Path, help="data directory whose agenthost.db is used when no database is configured"
    )
    args = parser.parse_args()
    try:
        config = load_router_config(args.config, database=args.database, data_dir=args.data_dir)
    except RouterConfigError as exc:
        fail(str(exc))
    try:
        if os.environ.get(MAGIC_COOKIE_KEY) == MAGIC_COOKIE_VALUE and not args.listen:
            from plugin_sdk.process import start_checks

            asyncio.run(serve_under_host(config, start_checks("router")))
        else:
            asyncio.run(serve_standalone(config, args.listen or config.listen or "127.0.0.1:7532"))
    except (OSError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


main()
