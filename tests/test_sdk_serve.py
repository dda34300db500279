"""serve() run by hand: a plugin module refuses to run without the host and says why."""

import os
import subprocess
import sys

import pytest

from plugin_sdk.protocol import ENV_APP_VERSIONS, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, NOT_A_PROGRAM


def run_time_plugin(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_")}
    return subprocess.run(
        [sys.executable, "-m", "agenthost_plugin_time"],
        env={**clean, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_by_hand_says_it_is_not_a_program():
    proc = run_time_plugin()
    assert proc.returncode == 1
    assert NOT_A_PROGRAM in proc.stderr
    assert proc.stdout == ""  # nothing may ever reach stdout before a handshake


def test_a_wrong_cookie_is_the_same_as_none():
    proc = run_time_plugin(**{MAGIC_COOKIE_KEY: "not-the-cookie"})
    assert proc.returncode == 1
    assert NOT_A_PROGRAM in proc.stderr


@pytest.mark.parametrize(
    "versions, message",
    [
        ("99", "agenthost plugin time: no common protocol version: host speaks [99], plugin speaks [1]"),
        ("abc", f"agenthost plugin time: {ENV_APP_VERSIONS} is not a comma-separated list of integers"),
    ],
)
def test_without_a_common_protocol_version_it_exits_1(versions, message):
    proc = run_time_plugin(**{MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, ENV_APP_VERSIONS: versions})
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
