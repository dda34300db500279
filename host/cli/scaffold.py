"""`agenthost plugins new NAME`: a plugin package that installs, loads and passes its own
tests as made, so an author starts from something that works and changes it.

The templates live here as strings (not package data): one file to read, nothing to find at
run time, and an editable install of agenthost serves them as well as a wheel does.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from string import Template

from .client import fail

LANGUAGES = ("python",)
"""What `--lang` accepts today; a Node.js template is planned (see proto/PROTOCOL.md for writing
one by hand meanwhile)."""

# A plugin name as the SDK accepts it, narrowed to what also makes a Python module name once
# '-' becomes '_' (the SDK also allows '.', which a module name cannot hold).
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
dynamic = ["version"]
description = "agenthost plugin $name: notes the user asks the agent to keep."
requires-python = ">=3.11"
dependencies = ["agenthost"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.24"]

# How the host finds this plugin: an entry point in this group naming the spec module.
[project.entry-points."agenthost.plugins"]
$name = "$module.spec"

[tool.setuptools]
packages = ["$module"]

[tool.setuptools.dynamic]
version = { attr = "$module.__version__" }

[tool.pytest.ini_options]
testpaths = ["tests"]
# The harness is async: every `async def` test and fixture runs on an event loop.
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
# The tests import the package from this folder, installed or not.
pythonpath = ["."]
"""

_README = """\
# $dist

An agenthost plugin named `$name`: a `notes` service, an action `${upper}_ADD`, a provider
`$upper` and an evaluator `${upper}_REVIEW`. Change them into your own.

    python -m pytest                   # the harness tests, no processes
    pip install -e .                   # while the host runs: no restart needed
    agenthost plugins load $name
    # edit $module/plugin.py, then
    agenthost plugins reload $name
    agenthost logs --plugin $name
"""

_INIT = '''\
"""agenthost plugin $name."""

#: The plugin's version, written once: pyproject.toml, the spec and the manifest read it.
__version__ = "0.1.0"
'''

_SPEC = '''\
"""What the host imports to learn how to start this plugin, in a fresh interpreter each
time it looks: keep it to this (no heavy imports, nothing started)."""

from plugin_sdk import PluginSpec, hookimpl

from . import __version__


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    return PluginSpec(name="$name", version=__version__, module="$module")
'''

_MAIN = '''\
"""The plugin process: the host runs `python -m $module`."""

from plugin_sdk import serve

from .plugin import plugin

serve(plugin)
'''

_PLUGIN = '''\
"""The $name plugin: a service that keeps notes, an action that adds one, a provider that
shows them to the model, and an evaluator that reports how many there are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from plugin_sdk import ActionResult, Content, Context, Memory, Plugin, ProviderResult, State

from . import __version__

plugin = Plugin("$name", version=__version__, description="Keeps the notes the user asks for.")


@plugin.service("notes", description="The notes taken so far, in memory.")
class Notes:
    """One instance per plugin process, started by the host after Init; handlers reach it
    with ctx.service("notes")."""

    def __init__(self) -> None:
        self.items: list[str] = []

    async def start(self, ctx: Context) -> None:
        ctx.log.info("notes service started")

    async def stop(self) -> None:
        self.items.clear()


def asks_to_note(ctx: Context, message: Memory, state: State) -> bool:
    return message.content.text.lower().startswith("note:")


@plugin.action(
    "${upper}_ADD",
    description="Keep the note the user gives after 'note:'.",
    similes=["TAKE_NOTE"],
    examples=[
        [
            {"speaker": "user", "text": "note: buy milk"},
            {"speaker": "agent", "text": "Noted.", "actions": ["${upper}_ADD"]},
        ]
    ],
    validate=asks_to_note,
)
async def add_note(
    ctx: Context,
    message: Memory,
    state: State,
    options: dict[str, Any],
    callback: Callable[[Content], Awaitable[None]],
) -> ActionResult:
    notes: Notes = ctx.service("notes")
    text = message.content.text.partition(":")[2].strip()
    await callback(Content(text=f"Noting: {text}"))
    notes.items.append(text)
    return ActionResult(text="Noted.", values={"note_count": len(notes.items)})


@plugin.provider("$upper", description="The notes kept so far.", position=10)
async def list_notes(ctx: Context, message: Memory, state: State) -> ProviderResult:
    notes: Notes = ctx.service("notes")
    if not notes.items:
        return ProviderResult(text="No notes yet.", values={"note_count": 0})
    lines = "\\n".join(f"- {item}" for item in notes.items)
    return ProviderResult(text=f"Notes:\\n{lines}", values={"note_count": len(notes.items)})


@plugin.evaluator("${upper}_REVIEW", description="Tell the host how many notes there are.", always_run=True)
async def review(ctx: Context, message: Memory, state: State, responses: list[Memory]) -> ActionResult:
    count = len(ctx.service("notes").items)
    await ctx.host.emit_event("${upper}_REVIEWED", {"note_count": count})
    return ActionResult(values={"note_count": count})
'''

_TESTS = '''\
"""The $name plugin's components through the SDK's harness: no processes, and values cross
the same proto conversion as with a real host (numbers come back as floats)."""

from collections.abc import AsyncIterator

import pytest
from plugin_sdk import Content, Memory
from plugin_sdk.testing import FakeHost, PluginHarness

from $module.plugin import plugin


def said(text: str) -> Memory:
    return Memory(content=Content(text=text), room_id="room-1")


@pytest.fixture
async def harness() -> AsyncIterator[PluginHarness]:
    harness = PluginHarness(plugin, host=FakeHost())
    await harness.start_service("notes")  # the host starts services after Init; the harness when asked
    yield harness
    await harness.stop_services()


async def test_no_notes_at_first(harness: PluginHarness) -> None:
    result = await harness.get_provider("$upper", said("hello"))
    assert result.text == "No notes yet." and result.values == {"note_count": 0}


async def test_the_action_applies_only_to_notes(harness: PluginHarness) -> None:
    assert await harness.validate_action("${upper}_ADD", said("note: buy milk"))
    assert not await harness.validate_action("${upper}_ADD", said("hello"))


async def test_a_note_added_is_shown(harness: PluginHarness) -> None:
    callbacks, result = await harness.invoke_action("${upper}_ADD", said("note: buy milk"))
    assert [c.text for c in callbacks] == ["Noting: buy milk"]
    assert result.text == "Noted." and result.values == {"note_count": 1.0}
    shown = await harness.get_provider("$upper", said("what did I note?"))
    assert shown.text == "Notes:\\n- buy milk"


async def test_the_evaluator_reports_the_count(harness: PluginHarness) -> None:
    await harness.invoke_action("${upper}_ADD", said("note: call Ada"))
    result = await harness.run_evaluator("${upper}_REVIEW", said("note: call Ada"))
    assert result.values == {"note_count": 1.0}
    assert harness.host.events == [("${upper}_REVIEWED", {"note_count": 1.0})]


def test_the_manifest_lists_every_component() -> None:
    manifest = plugin.manifest()
    assert [a.name for a in manifest.actions] == ["${upper}_ADD"]
    assert [p.name for p in manifest.providers] == ["$upper"]
    assert [(e.name, e.always_run) for e in manifest.evaluators] == [("${upper}_REVIEW", True)]
    assert [s.name for s in manifest.services] == ["notes"]
'''


def package_files(name: str) -> dict[str, str]:
    """The new package's files, by path relative to its folder."""
    module = "agenthost_plugin_" + name.lower().replace("-", "_")
    values = {
        "name": name,
        "module": module,
        "dist": "agenthost-plugin-" + name.lower().replace("_", "-"),
        "upper": name.upper().replace("-", "_"),
    }
    templates = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{module}/__init__.py": _INIT,
        f"{module}/spec.py": _SPEC,
        f"{module}/__main__.py": _MAIN,
        f"{module}/plugin.py": _PLUGIN,
        f"tests/test_{module.removeprefix('agenthost_plugin_')}_plugin.py": _TESTS,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def new_package(name: str, where: Path) -> Path:
    """Write the package for plugin `name` into `where`/NAME; ValueError if it cannot be."""
    if not _NAME.match(name):
        raise ValueError(f"plugin name {name!r} must start with a letter and hold only letters, digits, _ and -")
    root = where / name
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} already exists and is not empty")
    for path, text in package_files(name).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def cmd_plugins_new(args: argparse.Namespace) -> None:
    if args.lang not in LANGUAGES:
        fail(
            f"--lang {args.lang} is not supported yet: plugins new makes {', '.join(LANGUAGES)} packages "
            "(proto/PROTOCOL.md says how to write a plugin in another language)",
            2,
        )
    try:
        root = new_package(args.name, Path.cwd())
    except ValueError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot write the package: {exc}", 2)
    print(f"made {root}: test it with `python -m pytest`, then `pip install -e {root}`")


def add_new_command(plugins: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`plugins new NAME [--lang python]` beside list, load, unload and reload."""
    new = plugins.add_parser("new", help="make a plugin package to start from, in ./NAME")
    new.add_argument("name")
    new.add_argument("--lang", default="python", help="the plugin's language (python; node is planned)")
    new.set_defaults(func=cmd_plugins_new)
