"""Where `--host` goes: before the command or after it; after it wins; not for `serve`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTHOST, *args], capture_output=True, text=True, timeout=60)


def test_host_before_the_command_is_the_address_dialled(tmp_path: Path):
    before = run("--host", f"unix://{tmp_path}/a.sock", "status")
    assert before.returncode == 1 and f"cannot reach the host at unix://{tmp_path}/a.sock" in before.stderr
    equals = run(f"--host=unix://{tmp_path}/b.sock", "plugins", "list")
    assert equals.returncode == 1 and f"cannot reach the host at unix://{tmp_path}/b.sock" in equals.stderr


def test_host_after_the_command_wins(tmp_path: Path):
    both = run("--host", f"unix://{tmp_path}/a.sock", "status", "--host", f"unix://{tmp_path}/c.sock")
    assert both.returncode == 1 and f"cannot reach the host at unix://{tmp_path}/c.sock" in both.stderr


def test_host_before_serve_is_refused():
    refused = run("--host", "127.0.0.1:1", "serve")
    assert refused.returncode == 2
    assert (
        refused.stderr.splitlines()[-1]
        == "agenthost: error: --host is for client commands; `serve` does not reach a host"
    )
