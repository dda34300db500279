"""`agenthost plugins new`: the package it makes passes its own tests as made, and its
plugin works in a real host (services reached with ctx.service)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
        (("todo", "--lang", "node"), "agenthost: --lang node is not supported yet: plugins new makes python packages"),
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
