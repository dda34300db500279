"""The fault-injection and load suite's short run (bench/load.py): 5 rooms x 4 messages through a
real host, its bootstrap plugin and a spawned router on mock providers, while the plugin and the
router are SIGKILLed and the primary provider fails and hangs; with the store on a private
PostgreSQL cluster, that is restarted too. Nothing may be lost."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LOAD = Path(__file__).resolve().parent.parent / "bench" / "load.py"


def run_load(tmp_path: Path, *args: str) -> dict[str, Any]:
    """bench/load.py with `args`: its last line (one JSON object), once it exited 0."""
    done = subprocess.run([sys.executable, str(LOAD), *args], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.stdout.strip(), done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, (result.get("lost_examples"), result.get("twice_examples"), done.stderr[-3000:])
    return result


@pytest.mark.timeout(300)  # ~40 s alone; the restarted router is slow to start on a busy machine
def test_a_short_chaos_run_loses_no_message_and_its_faults_happened(tmp_path: Path) -> None:
    result = run_load(tmp_path, "--rooms", "5", "--messages", "4", "--chaos")
    assert result["sent"] == 20 and result["lost"] == 0 and result["processed_twice"] == 0
    # Every fault of the schedule happened and was recovered from.
    assert [f["name"] for f in result["faults"]] == ["kill bootstrap", "primary fails", "primary hangs", "kill router"]
    assert result["restarts"]["bootstrap"] >= 1 and result["restarts"]["router"] >= 1
    assert result["fallback_calls"] > 0 and result["provider_calls"].get("primary failed", 0) > 0
    assert result["provider_calls"].get("primary hung", 0) > 0
    assert set(result["recover_s_by_fault"]) == {f["name"] for f in result["faults"]}
    # After the faults every message completes; runs that did not complete say why.
    assert result["error_rate_after_faults"] == 0.0
    assert all(
        reason.split(":")[0] in ("failed", "degraded", "ignored", "superseded")
        for reason in result["not_completed_reasons"]
    )
    for key in ("throughput_msgs_s", "p50_ms", "p99_ms", "recover_s"):
        assert result[key] > 0, key


@pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="no PostgreSQL server binaries (initdb)")
@pytest.mark.timeout(300)  # 36 s alone, 57 s beside other suites (the router's restart is most of it)
def test_a_short_chaos_run_on_a_private_postgres_restarts_it_and_loses_no_message(tmp_path: Path) -> None:
    result = run_load(tmp_path, "--rooms", "3", "--messages", "4", "--chaos", "--store", "postgres")
    assert result["sent"] == 12 and result["lost"] == 0 and result["processed_twice"] == 0
    assert result["postgres"] == "private cluster"
    # The store's server was restarted (between the provider's faults and the router's kill) and came back.
    faults = {f["name"]: f for f in result["faults"]}
    assert list(faults) == ["kill bootstrap", "primary fails", "primary hangs", "restart postgres", "kill router"]
    assert "pg_ctl stop -m fast" in faults["restart postgres"]["detail"]
    assert faults["restart postgres"]["back"] > faults["restart postgres"]["at"]
    assert "restart postgres" in result["recover_s_by_fault"]
    assert result["error_rate_after_faults"] == 0.0
    # The cluster is gone: no server left running on its directory, the directory removed.
    left = subprocess.run(["pgrep", "-f", result["postgres_dir"]], capture_output=True, text=True)
    assert left.stdout == "" and not Path(result["postgres_dir"]).exists()
