"""`agenthost plugins new`: the package it makes passes its own tests as made, and its
plugin works in a real host (services reached with ctx.service)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.testing import PluginHarness

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


def new(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTHOST, "plugins", "new", *args], cwd=where, capture_output=True, text=True, timeout=60)


def test_a_new_package_passes_its_own_tests_as_made(tmp_path: Path):
    made = new(tmp_path, "notes")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "notes"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "agenthost_plugin_notes/__init__.py",
        "agenthost_plugin_notes/__main__.py",
        "agenthost_plugin_notes/plugin.py",
        "agenthost_plugin_notes/spec.py",
        "pyproject.toml",
        "tests/test_notes_plugin.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'notes = "agenthost_plugin_notes.spec"' in pyproject and 'asyncio_mode = "auto"' in pyproject
    # Its own pytest settings, not this repository's: run from its folder, as its author does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "5 passed" in tested.stdout


def test_names_with_dashes_make_a_module_name(tmp_path: Path):
    assert new(tmp_path, "my-notes").returncode == 0
    root = tmp_path / "my-notes"
    assert (root / "agenthost_plugin_my_notes" / "plugin.py").exists()
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "agenthost-plugin-my-notes"' in pyproject
    assert 'my-notes = "agenthost_plugin_my_notes.spec"' in pyproject
    assert '"MY_NOTES_ADD"' in (root / "agenthost_plugin_my_notes" / "plugin.py").read_text()


def test_refusals_are_one_line(tmp_path: Path):
    assert new(tmp_path, "notes").returncode == 0
    for args, expected in (
        (("notes",), f"agenthost: {tmp_path / 'notes'} already exists and is not empty\n"),
        (("9lives",), "agenthost: plugin name '9lives' must start with a letter"),
        (
            ("todo", "--lang", "rust"),
            "agenthost: --lang rust is not supported yet: plugins new makes python, node packages",
        ),
    ):
        result = new(tmp_path, *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "todo").exists()


async def test_the_new_plugin_works_in_a_real_host_through_its_service(start_host, tmp_path: Path):
    assert new(tmp_path, "notes").returncode == 0
    root = tmp_path / "notes"
    spec = PluginSpec(name="notes", version="0.1.0", module="agenthost_plugin_notes", env={"PYTHONPATH": str(root)})
    host = await start_host(spec)
    said = Memory(room_id="room-1", content=Content(text="note: buy milk"))
    events = [e async for e in host.components.invoke_action("NOTES_ADD", said)]
    assert [e.text for e in events] == ["Noting: buy milk", "Noted."]
    (outcome,) = await host.components.get_providers(["NOTES"], said)
    assert outcome.error == "" and outcome.result.text == "Notes:\n- buy milk"
    # The harness gives the same values as the host: the count is a float in both.
    assert outcome.result.values == {"note_count": 1.0} and isinstance(outcome.result.values["note_count"], float)

    sys.path.insert(0, str(root))
    try:
        from agenthost_plugin_notes.plugin import plugin
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.startswith("agenthost_plugin_notes")]:
            del sys.modules[module]
    harness = PluginHarness(plugin)
    await harness.start_service("notes")
    await harness.invoke_action("NOTES_ADD", said)
    assert (await harness.get_provider("NOTES", said)).values == outcome.result.values
    await harness.stop_services()


@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs node and npm")
async def test_a_new_node_package_passes_its_own_tests_and_works_in_a_real_host(start_host, tmp_path: Path):
    made = new(tmp_path, "my-notes", "--lang", "node")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "my-notes"
    module = root / "agenthost_plugin_my_notes"
    node = module / "node"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("agenthost_plugin_my_notes/proto/")] == [
        "README.md",
        "agenthost_plugin_my_notes/__init__.py",
        "agenthost_plugin_my_notes/node/main.js",
        "agenthost_plugin_my_notes/node/package-lock.json",
        "agenthost_plugin_my_notes/node/package.json",
        "agenthost_plugin_my_notes/node/protocol.js",
        "agenthost_plugin_my_notes/node/test/main.test.js",
        "agenthost_plugin_my_notes/spec.py",
        "pyproject.toml",
    ]
    # Copies, not links: the package stands on its own outside this repository.
    repo = Path(__file__).parents[1]
    for proto in ("plugin", "runtime", "controller", "types"):
        copied = module / "proto" / "agenthost" / "v1" / f"{proto}.proto"
        assert (
            not copied.is_symlink() and copied.read_text() == (repo / f"proto/agenthost/v1/{proto}.proto").read_text()
        )
    example = repo / "plugins/node-example/agenthost_plugin_nodeecho/node"
    assert (node / "protocol.js").read_text() == (example / "protocol.js").read_text()
    package = json.loads((node / "package.json").read_text())
    assert package["name"] == "agenthost-plugin-my-notes"
    assert package["dependencies"] == json.loads((example / "package.json").read_text())["dependencies"]
    assert 'my-notes = "agenthost_plugin_my_notes.spec"' in (root / "pyproject.toml").read_text()
    readme = (root / "README.md").read_text()
    assert readme.index("npm install") < readme.index("pip install -e .")

    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=node,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = subprocess.run(["node", "--test"], cwd=node, capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "# pass 4" in tested.stdout and "# fail 0" in tested.stdout

    # The spec the host would import through the entry point, loaded from its file.
    loader = importlib.util.spec_from_file_location("scaffolded_my_notes_spec", module / "spec.py")
    assert loader is not None and loader.loader is not None
    spec_module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(spec_module)
    spec = spec_module.agenthost_plugin_spec()
    assert spec.name == "my-notes" and spec.command == ("node", str((node / "main.js").resolve()))
    host = await start_host(spec)
    said = Memory(room_id="room-1", content=Content(text="say hello"))
    (outcome,) = await host.components.get_providers(["MY_NOTES"], said)
    assert outcome.error == "" and outcome.result.text.startswith("my-notes runs on Node.js v")
    assert outcome.result.values["room_id"] == "room-1"
    events = [e async for e in host.components.invoke_action("MY_NOTES_SAY", said)]
    assert [e.text for e in events] == ["Saying: say hello", "say hello"]
