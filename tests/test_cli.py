"""The `agenthost` command against a real host process, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from support import alive

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTHOST, *args], capture_output=True, text=True, timeout=timeout, env=env)


class ServedHost:
    def __init__(self, tmp: Path, extra_path: Path) -> None:
        self.address = f"unix://{tmp}/host.sock"
        self.env = {
            **os.environ,
            "AGENTHOST_ADDR": self.address,
            "AGENTHOST_DATA_DIR": str(tmp / "data"),  # where the CLI finds the host's API token
            "PYTHONPATH": str(extra_path),
        }
        config = tmp / "agenthost.toml"
        config.write_text(
            textwrap.dedent("""
            data_dir = "data"
            router_address = "off"
            [settings]
            WEATHER_UNITS = "metric"
            [supervision]
            health_interval = 0.5
        """)
        )
        self.log = open(tmp / "host.log", "w")
        self.proc = subprocess.Popen(
            [AGENTHOST, "serve", "--listen", self.address, "--config", str(config)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        waited = run("wait", "--timeout", "30", env=self.env)
        if waited.returncode != 0:  # a host that never got READY must not outlive the test
            self.stop()
        assert waited.returncode == 0, waited.stderr + (tmp / "host.log").read_text()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, env=self.env)

    def status(self) -> dict:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedHost]:
    site = tmp_path / "site"
    site.mkdir()
    host = ServedHost(tmp_path, site)
    yield host
    host.stop()


def test_status_shows_ready_and_every_plugin(served: ServedHost):
    doc = served.status()
    assert doc["state"] == "READY" and doc["agent_name"] == "Ada"
    plugins = {p["name"]: p for p in doc["plugins"]}
    assert {"time", "weather"} <= set(plugins)
    assert plugins["time"]["state"] == "ready" and alive(plugins["time"]["pid"])
    assert plugins["time"]["components"]["providers"] == ["TIME"]
    assert plugins["weather"]["components"]["actions"] == ["GET_WEATHER"]
    text = served.cli("status")
    assert text.returncode == 0 and "state READY" in text.stdout and "weather" in text.stdout


def test_client_errors_are_one_line_and_exit_non_zero(served: ServedHost, tmp_path: Path):
    for args, expected in (
        (("plugins", "load", "nope"), "agenthost: no installed plugin named 'nope' (installed: "),
        (("plugins", "unload", "nope"), "agenthost: no loaded plugin named 'nope' (loaded: "),
        (("plugins", "reload", "nope"), "agenthost: no loaded plugin named 'nope' (loaded: "),
        (("plugins", "load", "time"), "agenthost: plugin 'time' is already loaded (ready); use reload"),
        (("status", "--host", f"unix://{tmp_path}/nobody.sock"), "agenthost: cannot reach the host at unix://"),
    ):
        result = served.cli(*args)
        assert result.returncode == 1, args
        assert result.stderr.startswith(expected), result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    bad_config = run("serve", "--config", str(tmp_path / "missing.toml"))
    assert bad_config.returncode == 2
    assert bad_config.stderr == f"agenthost: config file {tmp_path / 'missing.toml'} does not exist\n"
    taken = run("serve", "--listen", served.address)
    assert taken.returncode == 2
    assert (
        taken.stderr.startswith(f"agenthost: cannot listen on {served.address}: ") and taken.stderr.count("\n") == 1
    ), taken.stderr
    assert served.status()["state"] == "READY"


def test_logs_carry_plugin_output(served: ServedHost):
    result = served.cli("logs", "--json", "--tail", "500")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    assert any(r["message"].startswith("plugin time 1.0.0 ready") for r in records)
    only_errors = json.loads(served.cli("logs", "--json", "--level", "error").stdout)["records"]
    assert all(r["level"] in ("error", "fatal") for r in only_errors)


def _write_plugin(root: Path, version: str) -> Path:
    pkg = root / f"hotfix-{version}"
    module = pkg / "agenthost_plugin_hotfix"
    module.mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "agenthost-plugin-hotfix"
        version = "{version}"
        [project.entry-points."agenthost.plugins"]
        hotfix = "agenthost_plugin_hotfix.spec"
        [tool.setuptools]
        packages = ["agenthost_plugin_hotfix"]
    """)
    )
    (module / "__init__.py").write_text("")
    (module / "spec.py").write_text(
        textwrap.dedent(f"""
        from plugin_sdk import PluginSpec, hookimpl

        @hookimpl
        def agenthost_plugin_spec():
            return PluginSpec(name="hotfix", version="{version}", module="agenthost_plugin_hotfix")
    """)
    )
    (module / "__main__.py").write_text(
        textwrap.dedent(f"""
        from plugin_sdk import Plugin, ProviderResult, serve

        plugin = Plugin("hotfix", version="{version}")

        @plugin.provider("HOTFIX")
        async def hotfix(ctx, message, state):
            return ProviderResult(text="{version}")

        serve(plugin)
    """)
    )
    return pkg


def _pip_install(pkg: Path, target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--upgrade",
            "--target",
            str(target),
            str(pkg),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_package_installed_after_start_is_loaded_then_reloaded_with_its_new_version(
    served: ServedHost, tmp_path: Path
):
    site = Path(served.env["PYTHONPATH"])
    assert "hotfix" not in {p["name"] for p in json.loads(served.cli("plugins", "list", "--json").stdout)["plugins"]}
    _pip_install(_write_plugin(tmp_path, "1.0.0"), site)
    listed = {p["name"]: p for p in json.loads(served.cli("plugins", "list", "--json").stdout)["plugins"]}
    assert listed["hotfix"]["state"] == "available" and listed["hotfix"]["version"] == "1.0.0"

    loaded = served.cli("plugins", "load", "hotfix", "--json")
    assert loaded.returncode == 0, loaded.stderr
    first = json.loads(loaded.stdout)
    assert first["state"] == "ready" and first["version"] == "1.0.0" and alive(first["pid"])

    _pip_install(_write_plugin(tmp_path, "2.0.0"), site)
    reloaded = served.cli("plugins", "reload", "hotfix", "--json")
    assert reloaded.returncode == 0, reloaded.stderr
    second = json.loads(reloaded.stdout)
    assert second["version"] == "2.0.0" and second["pid"] != first["pid"]
    deadline = time.monotonic() + 5
    while alive(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(first["pid"])

    unloaded = served.cli("plugins", "unload", "hotfix")
    assert unloaded.returncode == 0 and unloaded.stdout == "unloaded hotfix\n"
    assert not alive(second["pid"])
    assert "hotfix" not in {p["name"] for p in served.status()["plugins"]}


def test_sigkill_of_the_host_leaves_no_plugin_process_and_no_socket(served: ServedHost):
    doc = served.status()
    pids = [p["pid"] for p in doc["plugins"]]
    sockets = [p["address"].removeprefix("unix://") for p in doc["plugins"]]
    assert pids and all(alive(pid) for pid in pids) and all(os.path.exists(s) for s in sockets)
    served.proc.send_signal(signal.SIGKILL)
    served.proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)], "plugins outlived their host by 5 s"
    time.sleep(0.2)
    assert not [s for s in sockets if os.path.exists(s)]
    leftover = os.path.dirname(sockets[0])
    assert not os.path.exists(leftover), os.listdir(leftover)


def test_chat_says_what_a_degraded_run_went_without(capsys):
    from agenthost.v1 import agent_pb2

    from host.cli.chat import _show
    from plugin_sdk.types import Content
    from plugin_sdk.wire import content_to_proto

    skipped = [{"kind": "provider", "name": "TIME", "plugin": "time", "error": "plugin 'time' is restarting"}]
    ended = agent_pb2.SendMessageResponse(
        run_id="r",
        event_type="RUN_ENDED",
        content=content_to_proto(Content(extra={"status": "degraded", "skipped": skipped})),
    )
    assert _show(ended, as_json=False) is False  # degraded is not failed: the exit status stays 0
    assert capsys.readouterr().err == "agenthost: provider TIME was skipped: plugin 'time' is restarting\n"
