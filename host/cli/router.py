"""`agenthost router ...`: talk to the LLM router through the host (which forwards) or directly."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from agenthost.v1 import router_pb2, router_pb2_grpc
from google.protobuf import json_format

from .client import add_client_options, call, fail, router_stub
from .output import dumps

ROUTER_ADDRESS_ENV = "AGENTHOST_ROUTER_ADDR"


def _call(args: argparse.Namespace, fn: Callable[[router_pb2_grpc.RouterServiceStub], Any]) -> Any:
    address = args.router or args.host
    where = "router" if args.router else "host"
    unreachable = f"cannot reach the {where} at {address} (is it running? set --host, --router or their env vars)"
    # The router answers UNAVAILABLE itself (all providers failed) and the host forwards it, or its own "no router".
    return call(
        router_stub(address, direct=bool(args.router)),
        fn,
        unreachable,
        answered=lambda details: "failed to connect" not in details,
    )


def _doc(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _request(args: argparse.Namespace) -> router_pb2.InvokeRequest:
    meta = router_pb2.CallMeta(
        confidential=args.confidential,
        quality=args.quality,
        task_id=args.task,
        agent_name=args.agent,
        model_type=router_pb2.ModelType.Value(f"MODEL_TYPE_{args.model_type}"),
        max_output_tokens=args.max_tokens,
    )
    if args.image:
        message = router_pb2.ChatMessage(role="user", content=args.prompt, image_urls=args.image)
        return router_pb2.InvokeRequest(messages=[message], meta=meta)
    if args.audio:
        try:
            audio = Path(args.audio).read_bytes()
        except OSError as exc:
            fail(f"cannot read {args.audio}: {exc.strerror}")
        return router_pb2.InvokeRequest(meta=meta, audio=audio, audio_format=Path(args.audio).suffix.lstrip("."))
    return router_pb2.InvokeRequest(prompt=args.prompt, meta=meta)


def _decision_text(decision: router_pb2.Decision) -> str:
    lines = [f"choice: {decision.provider}:{decision.model}" if decision.provider else "choice: none (refused)"]
    lines.append(
        f"rule: {decision.rule or '-'}   input {decision.input_tokens} tokens, "
        f"worst case ${decision.worst_case_cost:.6f}, budget left {decision.budget_left:.0%}"
    )
    if decision.fallbacks:
        lines.append("fallbacks: " + ", ".join(decision.fallbacks))
    lines.append("rules:")
    lines += [f"  {'*' if r.matched else ' '} {r.rule:14} {r.detail}" for r in decision.rules]
    lines.append("candidates:")
    lines += [f"  {'+' if c.kept else '-'} {c.provider:26} {c.reason}" for c in decision.candidates]
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> None:
    reply = _call(args, lambda s: s.Explain(router_pb2.ExplainRequest(request=_request(args)), timeout=60))
    print(dumps(_doc(reply.decision)) if args.json else _decision_text(reply.decision))


def cmd_invoke(args: argparse.Namespace) -> None:
    request = _request(args)
    reply = _call(args, lambda s: s.Invoke(request, timeout=args.timeout))
    rows = _call(args, lambda s: s.GetUsage(router_pb2.GetUsageRequest(limit=50), timeout=30)).rows
    ledger = [r for r in rows if r.request_id == reply.request_id]
    if args.json:
        print(dumps({**_doc(reply), "ledger": [_doc(r) for r in sorted(ledger, key=lambda r: r.attempt)]}))
        return
    print(reply.text)
    print(
        f"\n-- {reply.provider}:{reply.model}  {reply.tokens_in} in / {reply.tokens_out} out  "
        f"${reply.cost:.6f}  {reply.latency_ms} ms  rule {reply.decision.rule}"
    )
    for row in sorted(ledger, key=lambda r: r.attempt):
        print(
            f"   ledger: attempt {row.attempt} {row.provider}:{row.model} {row.status}"
            f"{' ' + row.error_class if row.error_class else ''} ${row.cost:.6f} {row.latency_ms} ms"
        )


def cmd_usage(args: argparse.Namespace) -> None:
    request = router_pb2.GetUsageRequest(
        period=args.period, agent_name=args.agent, task_id=args.task, provider=args.provider, limit=args.limit
    )
    reply = _call(args, lambda s: s.GetUsage(request, timeout=30))
    if args.json:
        print(dumps(_doc(reply)))
        return
    print(f"{reply.calls} attempt(s), {reply.tokens_in} tokens in, {reply.tokens_out} out, ${reply.cost:.6f}")
    for r in reply.rows:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.time_ms / 1000))
        print(
            f"  {stamp}  {r.provider}:{r.model:20} {r.status:8} {r.tokens_in:>6} {r.tokens_out:>6}  "
            f"${r.cost:.6f}  {r.agent_name or '-'} {r.task_id or '-'} {r.error_class}"
        )


def cmd_budget(args: argparse.Namespace) -> None:
    reply = _call(args, lambda s: s.GetBudget(router_pb2.GetBudgetRequest(), timeout=30))
    if args.json:
        print(dumps(_doc(reply)))
        return
    for b in reply.budgets:
        # An overrun (cost beyond what a call had reserved) is named only where there was one.
        overrun = f", overrun ${b.overrun:.6f} in {b.overruns} call(s)" if b.overruns else ""
        print(
            f"{b.scope} {b.period} {b.period_key}: spent ${b.spent:.6f}, reserved ${b.reserved:.6f}, "
            f"left ${b.left:.6f} of ${b.limit:.2f}{overrun}"
        )


def cmd_providers(args: argparse.Namespace) -> None:
    reply = _call(args, lambda s: s.ListProviders(router_pb2.ListProvidersRequest(), timeout=30))
    if args.json:
        print(dumps(_doc(reply)))
        return
    for p in reply.providers:
        state = "configured" if p.configured else f"not configured: {p.not_configured_reason}"
        print(f"{p.id:28} {p.litellm_model:42} breaker {p.breaker:9} {state}")


def cmd_serve(args: argparse.Namespace) -> None:
    """Run a standalone router (the router's own entry point; the host never imports it)."""
    argv = [sys.executable, "-m", "router", "serve"]
    for flag in ("listen", "config", "database"):
        if getattr(args, flag):
            argv += [f"--{flag}", str(getattr(args, flag))]
    os.execv(sys.executable, argv)


def add_router_commands(sub: Any) -> None:
    router = sub.add_parser("router", help="the LLM router: explain, invoke, usage, budget, providers, serve")
    commands = router.add_subparsers(dest="router_command", required=True)

    def client(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        add_client_options(p, host_help="reach the router through this host (it forwards)")
        p.add_argument("--router", default=os.environ.get(ROUTER_ADDRESS_ENV, ""), help="reach a router directly")
        return p

    def model_call(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        client(p)
        p.add_argument("prompt")
        p.add_argument("--confidential", action="store_true", help="local providers only")
        p.add_argument("--quality", default="", help='e.g. "high"')
        p.add_argument("--agent", default="", help="agent name (budget scope and ledger)")
        p.add_argument("--task", default="", help="task id (budget scope and ledger)")
        p.add_argument(
            "--model-type",
            default="TEXT_LARGE",
            choices=[n.removeprefix("MODEL_TYPE_") for n in router_pb2.ModelType.keys()[1:]],
        )
        p.add_argument("--max-tokens", type=int, default=0)
        p.add_argument("--image", action="append", default=[], help="an image URL (IMAGE_DESCRIPTION), repeatable")
        p.add_argument("--audio", help="an audio file to transcribe (TRANSCRIPTION; PROMPT is then ignored)")
        return p

    model_call(commands.add_parser("explain", help="the routing decision, without calling a model")).set_defaults(
        func=cmd_explain
    )
    invoke = model_call(
        commands.add_parser("invoke", help="one call through the router: reply, decision, cost, ledger")
    )
    invoke.add_argument("--timeout", type=float, default=300.0)
    invoke.set_defaults(func=cmd_invoke)
    usage = client(commands.add_parser("usage", help="the ledger, by period, agent, task, provider"))
    usage.add_argument("--period", default="", help='"2026-11", "2026-11-24" or "" for all time')
    usage.add_argument("--agent", default="")
    usage.add_argument("--task", default="")
    usage.add_argument("--provider", default="")
    usage.add_argument("--limit", type=int, default=20)
    usage.set_defaults(func=cmd_usage)
    client(commands.add_parser("budget", help="spend, holds, overruns and what is left, per budget")).set_defaults(
        func=cmd_budget
    )
    client(commands.add_parser("providers", help="the registry and each provider's state")).set_defaults(
        func=cmd_providers
    )
    serve = commands.add_parser("serve", help="run a standalone router several hosts can share")
    serve.add_argument("--listen", default="127.0.0.1:7532")
    serve.add_argument("--config", help="TOML file with a [router] table")
    serve.add_argument("--database", help="SQLite file or postgresql:// URL")
    serve.set_defaults(func=cmd_serve)
