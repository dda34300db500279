"""The plugin author's loop against a real host, with no host restart: `plugins new`, then
`pip install -e` while the host runs, list, load, edit, reload; a plugin switched from a
regular install to an editable one reloads; a broken spec module is reported with its reason.

The host runs in a virtualenv of its own (made here, extending this one's site-packages), so
what pip installs lands there and not in the environment the rest of the suite uses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from support import alive

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


class VenvHost:
    """A host served by `python -m host serve` from a fresh virtualenv, driven by the CLI."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        self.python = str(venv / "bin" / "python")
        site = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # addsitedir, not a bare path: this environment's own .pth files (agenthost's editable
        # finder among them) must be read too.
        here = sysconfig.get_paths()["purelib"]
        Path(site, "_agenthost_test_base.pth").write_text(f"import site; site.addsitedir({here!r})\n")
        self.address = f"unix://{tmp}/host.sock"
        self.env = {**os.environ, "AGENTHOST_ADDR": self.address, "AGENTHOST_DATA_DIR": str(tmp / "data")}
        self.env.pop("PYTHONPATH", None)
        config = tmp / "agenthost.toml"
        config.write_text('data_dir = "data"\nrouter_address = "off"\n[supervision]\nhealth_interval = 0.5\n')
        self.log = open(tmp / "host.log", "w")
        self.proc = subprocess.Popen(
            [self.python, "-m", "host", "serve", "--listen", self.address, "--config", str(config)],
            env=self.env,
            cwd=tmp,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        waited = self.cli("wait", "--timeout", "60")
        assert waited.returncode == 0, waited.stderr + (tmp / "host.log").read_text()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AGENTHOST, *args], capture_output=True, text=True, timeout=120, env=self.env, cwd=self.tmp
        )

    def ok(self, *args: str) -> dict:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def listed(self) -> dict[str, dict]:
        return {p["name"]: p for p in self.ok("plugins", "list")["plugins"]}

    def pip_install(self, *args: str) -> None:
        """pip (this environment's) installing into the host's virtualenv; offline."""
        done = subprocess.run(
            [self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.tmp,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[VenvHost]:
    served = VenvHost(tmp_path)
    yield served
    served.stop()


def new_plugin(host: VenvHost, name: str) -> Path:
    made = host.cli("plugins", "new", name)
    assert made.returncode == 0, made.stderr
    return host.tmp / name


def edit(root: Path, version: str, extra_provider: str = "") -> None:
    """A new version, optionally with one more provider: what an author's edit looks like."""
    module = next(root.glob("agenthost_plugin_*"))
    (module / "__init__.py").write_text(f'__version__ = "{version}"\n')
    if extra_provider:
        with open(module / "plugin.py", "a") as plugin:
            plugin.write(
                textwrap.dedent(f"""

                @plugin.provider("{extra_provider}")
                async def added(ctx, message, state):
                    return ProviderResult(text="added in {version}")
                """)
            )


def test_an_editable_install_hot_loads_then_reloads_each_edit(host: VenvHost):
    root = new_plugin(host, "notes")
    assert "notes" not in host.listed()
    missing = host.cli("plugins", "load", "notes")
    assert missing.returncode == 1 and missing.stderr.startswith("agenthost: no installed plugin named 'notes'")

    host.pip_install("-e", str(root))
    listed = host.listed()
    assert listed["notes"]["state"] == "available" and listed["notes"]["version"] == "0.1.0", listed
    first = host.ok("plugins", "load", "notes")
    assert first["state"] == "ready" and first["version"] == "0.1.0" and alive(first["pid"])
    assert first["components"]["providers"] == ["NOTES"] and first["components"]["services"] == ["notes"]

    edit(root, "0.2.0", extra_provider="NOTES_ADDED")  # no reinstall: the install is editable
    second = host.ok("plugins", "reload", "notes")
    assert second["version"] == "0.2.0" and second["pid"] != first["pid"]
    assert second["components"]["providers"] == ["NOTES", "NOTES_ADDED"]
    assert host.listed()["notes"]["state"] == "ready"
    logs = host.ok("logs", "--plugin", "notes", "--tail", "500")["records"]
    assert any(r["message"] == "notes service started" for r in logs), logs


def test_a_loaded_plugin_switched_to_an_editable_install_reloads(host: VenvHost):
    root = new_plugin(host, "todo")
    host.pip_install(str(root))  # a regular install first
    first = host.ok("plugins", "load", "todo")
    assert first["version"] == "0.1.0"

    edit(root, "0.2.0", extra_provider="TODO_ADDED")
    host.pip_install("-e", str(root))
    second = host.ok("plugins", "reload", "todo")
    assert second["version"] == "0.2.0" and second["components"]["providers"] == ["TODO", "TODO_ADDED"]

    edit(root, "0.3.0")
    assert host.ok("plugins", "reload", "todo")["version"] == "0.3.0"


def test_a_broken_spec_module_is_reported_with_its_reason(host: VenvHost):
    root = new_plugin(host, "notes")
    host.pip_install("-e", str(root))
    assert host.ok("plugins", "load", "notes")["state"] == "ready"
    spec = root / "agenthost_plugin_notes" / "spec.py"
    good = spec.read_text()
    spec.write_text("import agenthost_plugin_missing_dependency\n" + good)

    reason = "entry point agenthost_plugin_notes.spec cannot be imported: ModuleNotFoundError: No module named"
    failed = host.cli("plugins", "reload", "notes")
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"agenthost: plugin 'notes' is installed but cannot be loaded: {reason}")
    assert host.listed()["notes"]["state"] == "ready"  # the running version keeps serving

    assert host.cli("plugins", "unload", "notes").returncode == 0
    listed = host.listed()["notes"]
    assert listed["state"] == "failed" and listed["reason"].startswith(reason), listed
    assert reason in host.cli("plugins", "list").stdout
    refused = host.cli("plugins", "load", "notes")
    assert refused.returncode == 1 and reason in refused.stderr and refused.stderr.count("\n") == 1

    spec.write_text(good)
    assert host.ok("plugins", "load", "notes")["state"] == "ready"
