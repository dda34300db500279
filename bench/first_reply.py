"""How long `make run`'s first chat takes: the first reply and the next ones, in wall and CPU seconds.

Starts the host as `make run` does (`agenthost serve --chat`: the default character Ada, the
bootstrap plugin, the router with its offline SmolLM2-135M), in a fresh data directory each
repetition (a first chat: no earlier messages, no kept prompts), and chats on its stdin. Once it
prints its "Chatting in room" line, the first line is sent after `--pause` seconds (a person
reading the prompt and typing; 0 for a line typed ahead), or, with `--settle`, once the chat
model is idle after that (what it was given at start, a warm-up, done); each next line `--gap`
seconds after the previous reply. Per reply:

- wall: from the line written to the reply printed;
- cpu: CPU seconds of the host's whole process tree (host, plugins, router, model workers) in
  that window, and of the chat model's worker alone (`router.local_worker --kind chat`), which
  with one llama.cpp thread is about what the reply takes of an idle core.

    .venv/bin/python bench/first_reply.py [--reps 3] [--pause 3] [--settle] [--gap 2] [--lines 4]

Prints each repetition, then the medians, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
LINES = ("who are you?", "what can you do?", "tell me a joke", "thanks!", "what is the capital of France?")
READY_LINE = "Chatting in room"
START_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 120.0


@dataclass
class Reply:
    """One line's answer: its times and what was printed."""

    line: str
    wall_s: float
    cpu_s: float  # the whole process tree
    worker_cpu_s: float  # the chat model's worker
    text: str


@dataclass
class Repetition:
    start_s: float  # from the command started to its "Chatting" line
    settled_s: float | None = None  # from that line to the chat worker idle (--settle)
    worker_before_s: float = 0.0  # the chat worker's CPU seconds from that line to the first line sent
    replies: list[Reply] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "agenthost: ... was skipped: ..." notices


class Host:
    """`agenthost serve --chat` in a fresh data directory; its output read line by line."""

    def __init__(self, data_dir: Path) -> None:
        env = {**os.environ, "AGENTHOST_HTTP": "off", "PYTHONUNBUFFERED": "1"}
        env.pop("AGENTHOST_DATA_DIR", None)
        socket = f"unix://{data_dir}/agent.sock"
        command = [str(ROOT / ".venv/bin/agenthost"), "serve", "--chat", "--data-dir", str(data_dir)]
        self.process = subprocess.Popen(
            [*command, "--listen", socket],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.skipped: list[str] = []  # components the runs went on without, as the chat said
        self.out: queue.Queue[tuple[float, str]] = queue.Queue()
        self.err: queue.Queue[tuple[float, str]] = queue.Queue()
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=_read, args=(stream, lines), daemon=True).start()

    def wait_for(self, prefix: str, timeout: float) -> tuple[float, str]:
        """The next stdout line starting with `prefix` (others are skipped), and when it came."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                when, line = self.out.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(prefix):
                return when, line
        raise TimeoutError(f"no line starting {prefix!r} within {timeout:.0f} s; stderr: {self.stderr()[-800:]}")

    def reply(self, timeout: float) -> tuple[float, str]:
        """The next printed reply (an action's line "  [NAME] ..." is skipped); a failure on stderr
        raises. A run that went on without a component ("agenthost: ... was skipped: ...", e.g. an
        evaluator after the reply) is noted in `skipped`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            said = [line for _, line in _drain(self.err) if line.startswith("agenthost:")]
            self.skipped += [line for line in said if " was skipped: " in line]
            failure = next((line for line in said if " was skipped: " not in line), None)
            if failure:
                raise RuntimeError(failure)
            try:
                when, line = self.out.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            if line.strip() and not line.startswith("  ["):
                return when, line
        raise TimeoutError(f"no reply within {timeout:.0f} s")

    def say(self, line: str) -> float:
        assert self.process.stdin is not None
        _drain(self.out)
        sent = time.monotonic()
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return sent

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the process tree, and of the chat worker."""
        total = worker = 0.0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0, 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                used = times.user + times.system
                if "router.local_worker" in " ".join(process.cmdline()) and "chat" in process.cmdline():
                    worker += used
            except psutil.NoSuchProcess:
                continue
            total += used
        return total, worker

    def settle(self, quiet_s: float = 1.0, timeout: float = START_TIMEOUT_S) -> float:
        """Wait until the chat worker has used no CPU for `quiet_s` (done with what it was given
        at start); return when."""
        deadline = time.monotonic() + timeout
        last, since = self.cpu()[1], time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.cpu()[1]
            if now - last > 0.02:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return since
        return time.monotonic()

    def stderr(self) -> str:
        return "\n".join(line for _, line in _drain(self.err))

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # end of input stops the host
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _read(stream: IO[str], lines: queue.Queue[tuple[float, str]]) -> None:
    for line in stream:
        lines.put((time.monotonic(), line.rstrip("\n")))


def _drain(lines: queue.Queue[tuple[float, str]]) -> list[tuple[float, str]]:
    out = []
    while True:
        try:
            out.append(lines.get_nowait())
        except queue.Empty:
            return out


def repetition(args: argparse.Namespace) -> Repetition:
    """One first chat in a fresh host: its lines, timed."""
    data_dir = Path(tempfile.mkdtemp(prefix="first-reply-"))
    began = time.monotonic()
    host = Host(data_dir)
    try:
        ready, _ = host.wait_for(READY_LINE, START_TIMEOUT_S)
        rep = Repetition(round(ready - began, 2))
        _, worker_at_prompt = host.cpu()
        time.sleep(args.pause)
        if args.settle:
            rep.settled_s = round(host.settle() - ready, 2)
        rep.worker_before_s = round(host.cpu()[1] - worker_at_prompt, 2)
        for line in LINES[: args.lines]:
            cpu_before, worker_before = host.cpu()
            sent = host.say(line)
            try:
                answered, text = host.reply(REPLY_TIMEOUT_S)
            except (RuntimeError, TimeoutError) as exc:
                rep.errors.append(f"{line!r}: {exc}")
                continue
            cpu_after, worker_after = host.cpu()
            rep.replies.append(
                Reply(line, answered - sent, cpu_after - cpu_before, worker_after - worker_before, text.strip())
            )
            time.sleep(args.gap)
        rep.skipped = host.skipped + [line for _, line in _drain(host.err) if " was skipped: " in line]
        return rep
    finally:
        host.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="first chats, each in a fresh host (default 3)")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds from the prompt to the first line (3)")
    parser.add_argument(
        "--settle", action="store_true", help="then wait for the chat model to be idle (what it does at start done)"
    )
    parser.add_argument("--gap", type=float, default=2.0, help="seconds from a reply to the next line (2)")
    parser.add_argument("--lines", type=int, default=4, help=f"lines per chat, at most {len(LINES)} (4)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    reps = []
    for number in range(1, args.reps + 1):
        rep = repetition(args)
        reps.append(rep)
        settled = f", its model idle {rep.settled_s:.1f} s after" if rep.settled_s is not None else ""
        print(
            f"repetition {number}: host up in {rep.start_s:.1f} s{settled}; the chat worker used "
            f"{rep.worker_before_s:.2f} cpu-s before the first line"
        )
        for i, r in enumerate(rep.replies):
            print(
                f"  {'first' if i == 0 else 'next':>5} {r.wall_s:6.2f} s wall {r.cpu_s:6.2f} cpu-s "
                f"(worker {r.worker_cpu_s:5.2f})  {r.line!r} -> {r.text[:90]!r}"
            )
        for error in rep.errors:
            print(f"  FAILED {error}")
        for notice in rep.skipped:
            print(f"  skipped: {notice}")
    first = [r.replies[0] for r in reps if r.replies and r.replies[0].line == LINES[0]]
    later = [reply for r in reps for reply in r.replies[1:]]
    summary: dict[str, Any] = {
        "reps": args.reps,
        "pause_s": args.pause,
        "settle": args.settle,
        "gap_s": args.gap,
        "first_wall_s": median([r.wall_s for r in first]),
        "first_cpu_s": median([r.cpu_s for r in first]),
        "first_worker_cpu_s": median([r.worker_cpu_s for r in first]),
        "later_wall_s": median([r.wall_s for r in later]),
        "later_cpu_s": median([r.cpu_s for r in later]),
        "later_worker_cpu_s": median([r.worker_cpu_s for r in later]),
        "settled_s": median([r.settled_s for r in reps if r.settled_s is not None]),
        "worker_before_cpu_s": median([r.worker_before_s for r in reps]),
        "first_wall_all": [round(r.wall_s, 2) for r in first],
        "later_wall_all": [round(r.wall_s, 2) for r in later],
        "failed": sum(len(r.errors) for r in reps),
        "skipped": sum(len(r.skipped) for r in reps),
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(
        f"median first reply {summary['first_wall_s']} s wall, {summary['first_cpu_s']} cpu-s "
        f"(worker {summary['first_worker_cpu_s']}); later {summary['later_wall_s']} s wall, "
        f"{summary['later_cpu_s']} cpu-s (worker {summary['later_worker_cpu_s']}); load {summary['loadavg']}"
    )
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
