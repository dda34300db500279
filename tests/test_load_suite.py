"""The fault-injection and load suite's short run (bench/load.py): 5 rooms x 4 messages through a
real host, its bootstrap plugin and a spawned router on mock providers, while the plugin and the
router are SIGKILLed and the primary provider fails and hangs. Nothing may be lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LOAD = Path(__file__).resolve().parent.parent / "bench" / "load.py"


@pytest.mark.timeout(300)  # ~40 s alone; the restarted router is slow to start on a busy machine
def test_a_short_chaos_run_loses_no_message_and_its_faults_happened(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(LOAD), "--rooms", "5", "--messages", "4", "--chaos"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, (result.get("lost_examples"), result.get("twice_examples"), done.stderr[-3000:])
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
