"""The `agenthost` command: serve the host, or talk to a running one."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2

from ..agent.character import CharacterError, load_character
from ..config import DEFAULT_HTTP, HTTP_ENV, HTTP_OFF, ConfigError, HostConfig, character_files, load_config
from ..deployment.settings import QUEUE_URL_ENV, check_queue_url
from ..logs import LogBuffer, LogRecord, redact_values, setup_logging, text_line
from ..store.data_dir import api_token
from .agents import add_agents_commands
from .character import add_character_commands
from .chat import add_chat_options, chat, cmd_chat
from .client import add_client_options, agent_stub, call, details, fail, router_stub, unreachable
from .knowledge import add_knowledge_commands
from .mcp import add_mcp_commands
from .output import (
    dumps,
    lifecycle_name,
    plugin_doc,
    plugin_table,
    router_providers_doc,
    status_doc,
    status_text,
)
from .router import add_router_commands
from .runs import add_run_commands
from .scaffold import add_new_command
from .times import parse_time_ms


def _call(address: str, fn: Callable[[agent_pb2_grpc.AgentServiceStub], Any]) -> Any:
    unreachable = f"cannot reach the host at {address} (is `agenthost serve` running? set --host or AGENTHOST_ADDR)"
    return call(agent_stub(address), fn, unreachable)


LOCAL_DOWN = "local model down: "  # how the router's status reason starts (RouterLink.degraded)
DATA_DIR_HELP = "where the store and the API token live (default: $AGENTHOST_DATA_DIR, the config's, .agenthost)"

# -- serve -----------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    try:
        config = load_config(
            args.config,
            listen=args.listen,
            http=args.http,
            data_dir=args.data_dir,
            log_level=args.log_level,
            log_json=args.log_json or None,
            characters=tuple(args.character) if args.character else None,
        )
        if args.queue_url:
            check_queue_url(args.queue_url)
            config = replace(config, deployment=replace(config.deployment, queue_url=args.queue_url))
        characters = [load_character(path) for path in character_files(config)]  # a broken one stops here
        if args.metrics:
            from ..metrics import parse_address

            parse_address(args.metrics)
        if config.http != HTTP_OFF:
            from ..http.address import parse_address as http_address

            http_address(config.http)
    except (ConfigError, CharacterError, ValueError) as exc:
        fail(str(exc), 2)
    # Logs never show a configured secret (the API token is added once the host has it).
    redact_values([*config.secrets.values(), config.api_token, config.router_token])
    redact_values(value for c in characters for value in c.secrets.values())
    # Chatting in the same terminal: only warnings and errors interleave with the conversation.
    console_level = "warn" if args.chat and args.log_level is None else config.log_level
    buffer = setup_logging(console_level, config.log_json, config.agent_id)
    from ..agent.agent import AgentError

    try:
        asyncio.run(_serve(config, buffer, args))
    except (ConfigError, CharacterError, AgentError, OSError) as exc:
        fail(str(exc), 2)


async def _serve(config: HostConfig, buffer: LogBuffer, args: argparse.Namespace) -> None:
    from ..api.agent_service import status_response
    from ..host import Host  # imported here so client commands start fast

    host = Host(config, buffer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics = None
    try:
        await host.start()
        redact_values([host.api_token])
        if config.http != HTTP_OFF:
            from ..http.server import serve_http_of  # FastAPI and uvicorn are loaded only when HTTP is on

            await serve_http_of(host)
        if args.metrics:
            from ..metrics import serve_metrics

            try:
                metrics = serve_metrics(host, args.metrics)
            except OSError as exc:
                raise OSError(f"cannot serve metrics on {args.metrics}: {exc.strerror or exc}") from None
        print(status_text(status_doc(status_response(host.status()))), flush=True)
        if host.http is not None:
            print(f"http on {host.http.url}/v1 (OpenAI-compatible)", flush=True)
        if metrics is not None:
            print(f"metrics on {metrics.url}", flush=True)
        if args.chat:
            _chat_beside(host.address, host.api_token, args, stop, loop)
        await stop.wait()
    finally:
        if metrics is not None:
            metrics.stop()
        await host.stop()


def _chat_beside(
    address: str, token: str, args: argparse.Namespace, stop: asyncio.Event, loop: asyncio.AbstractEventLoop
) -> None:
    """Chat on this terminal through the host's own API; end of input stops the host."""

    def run() -> None:
        print(f"Chatting in room {args.room!r}; Ctrl-D or /quit ends, Ctrl-C stops the host.", flush=True)
        chat(address, args.room, args.user, stop=stop.is_set, token=token, agent=args.agent)
        loop.call_soon_threadsafe(stop.set)

    # A daemon thread: a read blocked on the terminal must not keep the process alive.
    threading.Thread(target=run, name="chat", daemon=True).start()


# -- client commands ---------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> None:
    reply = _call(args.host, lambda s: s.GetStatus(agent_pb2.GetStatusRequest(), timeout=10))
    doc = status_doc(reply)
    if doc["router"]["state"] == "ready":
        doc["router"].update(_router_providers(args.host))
        doc["router"]["spend"] = _router_spend(args.host, [a["name"] for a in doc["agents"]])
    if args.json:
        print(dumps(doc))
        return
    if doc["router"].get("unavailable"):  # each down model says why on its own line: the reason once
        doc["router"]["reason"] = LOCAL_DOWN + ", ".join(sorted(doc["router"]["unavailable"]))
    print(status_text(doc))


def _router_providers(address: str) -> dict[str, dict[str, str]]:
    """Each provider's circuit breaker, and why any of the router's own local models cannot be
    called (its worker crashed), asked of the router through the host ({} if it does not answer)."""
    try:
        providers = router_stub(address).ListProviders(router_pb2.ListProvidersRequest(), timeout=5).providers
    except grpc.RpcError:
        return {"breakers": {}}
    return router_providers_doc(providers)


def _router_spend(address: str, agents: list[str]) -> dict[str, Any] | None:
    """What the agents' model calls cost, from the router's ledger (through the host): totals and
    each agent's; None when the router does not answer."""
    each = {}
    try:
        for name in agents:
            usage = router_stub(address).GetUsage(router_pb2.GetUsageRequest(agent_name=name, limit=1), timeout=5)
            each[name] = {
                "calls": usage.calls,
                "tokens_in": usage.tokens_in,
                "tokens_out": usage.tokens_out,
                "cost": usage.cost,
            }
    except grpc.RpcError:
        return None
    totals = {k: sum(s[k] for s in each.values()) for k in ("calls", "tokens_in", "tokens_out", "cost")}
    return {**totals, "agents": each}


def cmd_wait(args: argparse.Namespace) -> None:
    """Wait until the host answers and is READY (for scripts), or serves DEGRADED only because a
    local model of its router is down (said on stderr; --ready waits for READY)."""
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = agent_stub(args.host).GetStatus(agent_pb2.GetStatusRequest(), timeout=2)
            last = lifecycle_name(reply.state)
            if last == "READY":
                return
            if last == "DEGRADED" and not args.ready and _only_a_local_model_down(status_doc(reply)):
                print(f"agenthost wait: host serves DEGRADED: router: {reply.router.reason}", file=sys.stderr)
                return
            if last == "DEGRADED":
                last = f"DEGRADED: {_degraded_reason(status_doc(reply))}"
        except grpc.RpcError as exc:  # not up yet; a refusal (a wrong token) is reported at the end
            if not unreachable(exc):
                last = details(exc)
        time.sleep(0.1)
    fail(f"host at {args.host} not READY after {args.timeout:g}s (last: {last})")


def _only_a_local_model_down(doc: dict[str, Any]) -> bool:
    """Every plugin and the router are up, and the router says a local model of its is down."""
    router = doc["router"]
    plugins_up = all(p["state"] in ("ready", "stopped") for p in doc["plugins"])
    return plugins_up and router["state"] == "ready" and router["reason"].startswith(LOCAL_DOWN)


def _degraded_reason(doc: dict[str, Any]) -> str:
    parts = [p for p in [doc["router"], *doc["plugins"]] if p["state"] != "ready" or p["reason"]]
    return "; ".join(f"{p['name']} {p['state']}" + (f": {p['reason']}" if p["reason"] else "") for p in parts)


def cmd_plugins_list(args: argparse.Namespace) -> None:
    reply = _call(args.host, lambda s: s.ListPlugins(agent_pb2.ListPluginsRequest(), timeout=10))
    docs = [plugin_doc(p) for p in reply.plugins]
    print(dumps({"plugins": docs}) if args.json else plugin_table(docs))


def cmd_plugins_load(args: argparse.Namespace) -> None:
    reply = _call(args.host, lambda s: s.LoadPlugin(agent_pb2.LoadPluginRequest(name=args.name), timeout=args.timeout))
    doc = plugin_doc(reply.plugin)
    print(dumps(doc) if args.json else f"loaded {doc['name']} {doc['version']} (pid {doc['pid']})")


def cmd_plugins_unload(args: argparse.Namespace) -> None:
    _call(args.host, lambda s: s.UnloadPlugin(agent_pb2.UnloadPluginRequest(name=args.name), timeout=args.timeout))
    print(dumps({"name": args.name, "unloaded": True}) if args.json else f"unloaded {args.name}")


def cmd_plugins_reload(args: argparse.Namespace) -> None:
    reply = _call(
        args.host, lambda s: s.ReloadPlugin(agent_pb2.ReloadPluginRequest(name=args.name), timeout=args.timeout)
    )
    doc = {**plugin_doc(reply.plugin), "duration_ms": reply.duration_ms}
    print(
        dumps(doc)
        if args.json
        else f"reloaded {doc['name']} {doc['version']} (pid {doc['pid']}) in {doc['duration_ms']} ms"
    )


def cmd_logs(args: argparse.Namespace) -> None:
    import json

    now = time.time()
    try:
        since = parse_time_ms(args.since, now) if args.since else 0
        until = parse_time_ms(args.until, now) if args.until else 0
    except ValueError as exc:
        fail(f"--since/--until: {exc}", 2)
    if until and until < since:
        fail("--until is before --since: no record can match", 2)
    request = agent_pb2.GetLogsRequest(
        tail=args.tail,
        level=args.level,
        plugin=args.plugin,
        follow=args.follow,
        agent=args.agent,
        run_id=args.run,
        since_ms=since,
        until_ms=until,
    )

    def stream(stub: agent_pb2_grpc.AgentServiceStub) -> None:
        records = []
        for r in stub.GetLogs(request, timeout=None if args.follow else 10):
            doc = {
                "time_ms": r.time_ms,
                "time": _iso(r.time_ms),
                "level": r.level,
                "agent_id": r.agent_id,
                "agent": r.agent_name,
                "plugin": r.plugin,
                "run_id": r.run_id,
                "logger": r.logger,
                "message": r.message,
            }
            if args.json and not args.follow:
                records.append(doc)
            elif args.json:
                print(json.dumps(doc), flush=True)
            else:
                record = LogRecord(r.time_ms, r.level, r.message, r.logger, r.plugin, r.agent_id, r.run_id)
                print(text_line(record), flush=True)
        if args.json and not args.follow:
            print(dumps({"records": records}))

    try:
        _call(args.host, stream)
    except KeyboardInterrupt:
        pass


def _iso(time_ms: int) -> str:
    """A record's time as ISO 8601 in UTC, to the millisecond."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time_ms / 1000)) + f".{time_ms % 1000:03d}Z"


def cmd_token(args: argparse.Namespace) -> None:
    """Print the host's API token (made in the data directory if there is none yet)."""
    try:
        config = load_config(args.config, data_dir=args.data_dir)
        print(api_token(config.data_dir, config.api_token))
    except ConfigError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot read or make the token in {args.data_dir or config.data_dir}: {exc.strerror}", 2)


# -- parsing -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agenthost", description="Run an AI agent whose plugins are separate processes."
    )
    # Also accepted before the command (`agenthost --host X status`), as users type it; its own
    # dest, because a subcommand's default would overwrite a shared one.
    parser.add_argument(
        "--host", dest="top_host", metavar="ADDR", help="for client commands: the same as --host after the command"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the host in the foreground")
    serve.add_argument("--listen", help="address to serve AgentService on: HOST:PORT or unix:///path")
    serve.add_argument(
        "--http",
        metavar="ADDR",
        help=f"serve the HTTP face (OpenAI-compatible /v1) on HOST:PORT, :PORT or PORT (0 picks a port), or off "
        f"(default: the config's `http`, ${HTTP_ENV}, {DEFAULT_HTTP})",
    )
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument(
        "--queue-url",
        metavar="URL",
        help=f"join a deployment of several hosts coordinated in this PostgreSQL database "
        f"(default: the config's [deployment] queue_url, ${QUEUE_URL_ENV}; none: one host on its own)",
    )
    serve.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)
    serve.add_argument("--log-level", choices=["trace", "debug", "info", "warn", "error", "fatal"])
    serve.add_argument("--log-json", action="store_true", help="log JSON lines")
    serve.add_argument(
        "--character",
        type=Path,
        action="append",
        metavar="FILE",
        help="elizaOS character file or directory of them; repeat for several agents (default: the config's, else Ada)",
    )
    serve.add_argument("--chat", action="store_true", help="also chat with the agent on this terminal")
    serve.add_argument(
        "--metrics",
        metavar="ADDR",
        help="serve Prometheus metrics at http://ADDR/metrics (HOST:PORT, :PORT or PORT; off by default)",
    )
    add_chat_options(serve)
    serve.set_defaults(func=cmd_serve)

    talk = add_client_options(sub.add_parser("chat", help="send each line of input to the agent and print its replies"))
    add_chat_options(talk)
    talk.set_defaults(func=cmd_chat)
    status_help = "lifecycle, plugins, runs, response times, memory and CPU of the host and each plugin, router spend"
    add_client_options(sub.add_parser("status", help=status_help)).set_defaults(func=cmd_status)
    wait_help = (
        "wait until the host is READY, or serves DEGRADED only because a local model of its router is down "
        "(said on stderr)"
    )
    wait = add_client_options(sub.add_parser("wait", help=wait_help), json_flag=False)
    wait.add_argument("--timeout", type=float, default=30.0)
    wait.add_argument("--ready", action="store_true", help="wait for READY: a down local model keeps waiting")
    wait.set_defaults(func=cmd_wait)

    logs = add_client_options(sub.add_parser("logs", help="recent host and plugin log records"))
    logs.add_argument("--tail", type=int, default=100)
    logs.add_argument("--level", default="", choices=["", "trace", "debug", "info", "warn", "error", "fatal"])
    logs.add_argument("--plugin", default="", help="only this plugin's records")
    logs.add_argument("--agent", default="", help="only this agent's records (its name or id)")
    logs.add_argument("--run", default="", help="only this run's records (its id, or the start of it)")
    logs.add_argument(
        "--since", default="", metavar="TIME", help="records from TIME on: 10m, 2h, 1d ago or an ISO time"
    )
    logs.add_argument("--until", default="", metavar="TIME", help="records up to TIME (as --since)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    logs.set_defaults(func=cmd_logs)

    plugins = sub.add_parser("plugins", help="list, load, unload or reload plugins").add_subparsers(
        dest="action", required=True
    )
    add_client_options(plugins.add_parser("list", help="loaded and installed plugins")).set_defaults(
        func=cmd_plugins_list
    )
    for name, func, text in (
        ("load", cmd_plugins_load, "start an installed plugin"),
        ("unload", cmd_plugins_unload, "stop a plugin"),
        ("reload", cmd_plugins_reload, "restart a plugin on its newly installed code without failing calls"),
    ):
        p = add_client_options(plugins.add_parser(name, help=text))
        p.add_argument("name")
        p.add_argument("--timeout", type=float, default=60.0)
        p.set_defaults(func=func)
    add_new_command(plugins)
    token = sub.add_parser("token", help="print the API token clients send (AGENTHOST_TOKEN)")
    token.add_argument("--config", type=Path, help="TOML config file (its api_token or data_dir)")
    token.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)
    token.set_defaults(func=cmd_token)
    add_router_commands(sub)
    add_character_commands(sub)
    add_knowledge_commands(sub)
    add_agents_commands(sub)
    add_run_commands(sub)
    add_mcp_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_host is not None:
        if not hasattr(args, "host"):
            command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
            parser.error(f"--host is for client commands; `{command}` does not reach a host")
        given = sum(a == "--host" or a.startswith("--host=") for a in (sys.argv[1:] if argv is None else argv))
        if given == 1:  # only before the command: it applies; one after the command wins
            args.host = args.top_host
    args.func(args)
