"""`agenthost plugins new NAME`: a plugin package that installs, loads and passes its own
tests as made, so an author starts from something that works and changes it.

The templates live here as strings (not package data): one file to read, nothing to find at
run time, and an editable install of agenthost serves them as well as a wheel does. The Node.js
package (`--lang node`) also copies files: protocol.js, the dependencies and the lockfile from
plugins/node-example, and the protos from agenthost.v1 (see node_package_files).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from string import Template

from .client import fail

LANGUAGES = ("python", "node")
"""What `--lang` accepts (proto/PROTOCOL.md says how to write a plugin in another language)."""

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


def _values(name: str) -> dict[str, str]:
    return {
        "name": name,
        "module": "agenthost_plugin_" + name.lower().replace("-", "_"),
        "dist": "agenthost-plugin-" + name.lower().replace("_", "-"),
        "upper": name.upper().replace("-", "_"),
    }


def package_files(name: str) -> dict[str, str]:
    """The new package's files, by path relative to its folder."""
    values = _values(name)
    module = values["module"]
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


# --- Node.js -------------------------------------------------------------------------------
# The Node.js package is plugins/node-example's layout: a Python distribution whose spec
# starts `node main.js`, with the Node files and the protos as package data. protocol.js (the
# start-up and shutdown contract, the same for every Node plugin), the dependencies and the
# lockfile are copied from that example, and the protos from agenthost.v1, so there is one
# copy of each to keep current. Placeholders are __NAME__-style: JavaScript uses ${...} itself.

_NODE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "agenthost plugin __NAME__, in Node.js: a provider and an action."
requires-python = ">=3.11"
dependencies = ["agenthost"]

# How the host finds this plugin: an entry point in this group naming the spec module.
[project.entry-points."agenthost.plugins"]
__NAME__ = "__MODULE__.spec"

[tool.setuptools]
packages = ["__MODULE__"]

# The Node.js program and the protos it loads ship as package data; node_modules comes from
# `npm install` in __MODULE__/node (a wheel built before that does not run).
[tool.setuptools.package-data]
__MODULE__ = [
    "node/*.js",
    "node/package.json",
    "node/package-lock.json",
    "node/node_modules/**/*",
    "proto/agenthost/v1/*.proto",
]
"""

_NODE_README = """\
# __DIST__

An agenthost plugin named `__NAME__`, in Node.js: a provider `__UPPER__` and an action
`__UPPER___SAY`. Change them into your own in `__MODULE__/node/main.js`.

    cd __MODULE__/node && npm install && cd -   # first npm install, then
    pip install -e .                             # the host finds it by its entry point
    (cd __MODULE__/node && node --test)          # its own tests, no host needed
    agenthost plugins load __NAME__
    # edit __MODULE__/node/main.js, then
    agenthost plugins reload __NAME__
    agenthost logs --plugin __NAME__

`node/protocol.js` is the start-up and shutdown contract of agenthost's proto/PROTOCOL.md and
`proto/` holds agenthost's protos, both copied when this package was made.
"""

_NODE_INIT = '''\
"""agenthost plugin __NAME__, in Node.js: the program is node/main.js."""
'''

_NODE_SPEC = '''\
"""What the host imports to learn how to start this plugin: `node` running main.js."""

import json
from pathlib import Path

from plugin_sdk import PluginSpec, hookimpl

NODE = Path(__file__).resolve().parent / "node"
#: Absolute, because the host runs a command in its own working directory; `node` itself is
#: looked up on the PATH the host passes on.
MAIN = NODE / "main.js"


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    # package.json is where main.js reads its manifest version: one place for both.
    version = json.loads((NODE / "package.json").read_text())["version"]
    return PluginSpec(name="__NAME__", version=version, command=("node", str(MAIN)))
'''

_NODE_MAIN = """\
'use strict';
// agenthost plugin "__NAME__", in Node.js: a provider (__UPPER__) and an action (__UPPER___SAY).
// protocol.js does what agenthost's proto/PROTOCOL.md asks of every plugin process; this file
// is the PluginService (§8). The components and the service are exported, so the tests in
// test/ call them without a host; the plugin serves only when run as a program.

const { grpc, v1, log, serve } = require('./protocol');
const { version } = require('./package.json');

const NAME = '__NAME__';

// The components. Each validate/provider function gets the request's Memory and State.
const providers = {
  __UPPER__: async (message) => ({
    text: `__NAME__ runs on Node.js ${process.version}.`,
    values: toStruct({ node_version: process.version, room_id: message?.room_id || '' }),
  }),
};

const actions = {
  __UPPER___SAY: {
    validate: (message) => /\\bsay\\b/i.test(message.content?.text || ''),
    // Streams one callback, then the result; `runtime.call` reaches the host's RuntimeService.
    run: async (message, options, send) => {
      const text = message.content?.text || '';
      send({ text: `Saying: ${text}` });
      return { success: true, text, values: toStruct({ length: text.length }) };
    },
  },
};

const evaluators = {};

const manifest = {
  name: NAME,
  version,
  description: 'agenthost plugin __NAME__, in Node.js.',
  providers: [{ name: '__UPPER__', description: 'Which Node.js runs this plugin.', position: 0, dynamic: false }],
  actions: [
    {
      name: '__UPPER___SAY',
      description: 'Say the message back.',
      similes: [],
      examples: [
        {
          turns: [
            { speaker: 'user', text: 'say hello', actions: [] },
            { speaker: 'agent', text: 'Saying: say hello', actions: ['__UPPER___SAY'] },
          ],
        },
      ],
    },
  ],
  evaluators: [],
};

// RuntimeService: dialled on the socket file of Init's runtime_address (unix:///...), with
// this instance's token on every call (§9).
const runtime = {
  client: null,
  metadata: null,
  init(address, token) {
    this.close();
    this.client = new v1.RuntimeService(address, grpc.credentials.createInsecure());
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${token}`);
    this.metadata.set('x-agenthost-plugin', NAME);
  },
  call(method, request) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + 30000);
      this.client[method](request, this.metadata, { deadline }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  },
  close() {
    if (this.client) this.client.close();
    this.client = null;
  },
};

let initialised = false;

// gRPC errors with a status code, as §8 names them.
const status = (code, details) => Object.assign(new Error(details), { code, details });
const notInitialised = () => status(grpc.status.FAILED_PRECONDITION, 'plugin is not initialised: call Init first');
const unknown = (kind, names, table) => {
  const missing = names.filter((n) => !(n in table));
  return missing.length ? status(grpc.status.NOT_FOUND, `unknown ${kind}: ${missing.join(', ')}`) : null;
};
const errorText = (err) => `${err?.constructor?.name || 'Error'}: ${err?.message ?? err}`;

// A unary handler: checks Init first, turns a thrown status into the call's error.
function unary(handler, needsInit = true) {
  return (call, callback) => {
    if (needsInit && !initialised) return callback(notInitialised());
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (reply) => callback(null, reply),
        (err) => callback(err.code !== undefined ? err : status(grpc.status.INTERNAL, errorText(err))),
      );
  };
}

function validate(table) {
  return async (request) => {
    const missing = unknown('component', request.names, table);
    if (missing) throw missing;
    const results = await Promise.all(
      request.names.map(async (name) => {
        try {
          return { name, valid: table[name].validate ? Boolean(await table[name].validate(request.message)) : true };
        } catch (err) {
          return { name, valid: false, error: errorText(err) };
        }
      }),
    );
    return { results };
  };
}

const pluginService = {
  Describe: unary(() => ({ manifest }), false),
  Init: unary((request) => {
    runtime.init(request.runtime_address, request.runtime_token);
    initialised = true;
    log('info', `plugin ${NAME} ${version} ready (Node.js ${process.version})`);
    return {};
  }, false),
  GetProviders: unary(async (request) => {
    const missing = unknown('provider', request.names, providers);
    if (missing) throw missing;
    const results = await Promise.all(
      request.names.map(async (name) => {
        try {
          return { name, ...(await providers[name](request.message, request.state)) };
        } catch (err) {
          return { name, error: errorText(err) };
        }
      }),
    );
    return { results };
  }),
  ValidateActions: unary(validate(actions)),
  ValidateEvaluators: unary(validate(evaluators)),
  // Callbacks as they come, then exactly one result; a failure is a result, not a status.
  InvokeAction(call) {
    if (!initialised) return call.destroy(notInitialised());
    const action = actions[call.request.name];
    if (!action) return call.destroy(status(grpc.status.NOT_FOUND, `unknown action: ${call.request.name}`));
    const send = (content) => call.write({ callback: content });
    action
      .run(call.request.message, fromStruct(call.request.options), send)
      .catch((err) => ({ success: false, error: errorText(err) }))
      .then((result) => {
        call.write({ result });
        call.end();
      });
  },
  RunEvaluator: unary(async (request) => {
    const evaluator = evaluators[request.name];
    if (!evaluator) throw status(grpc.status.NOT_FOUND, `unknown evaluator: ${request.name}`);
    try {
      return { result: await evaluator.run(request.message, request.responses) };
    } catch (err) {
      return { result: { success: false, error: errorText(err) } };
    }
  }),
  StartService: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `unknown service: ${request.name}`);
  }),
  StopService: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `unknown service: ${request.name}`);
  }),
  HandleEvent: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `no handler for event ${request.event_type}`);
  }),
  UseModel: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `no model handler for ${request.model_type}`);
  }),
};

// google.protobuf.Struct as proto-loader represents it ({fields: {k: {stringValue: ...}}}),
// to and from plain JSON values.
function toValue(v) {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

function toStruct(obj) {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}

function fromValue(v) {
  // A decoded Value names its set member in `kind`; one made by toValue has only that member.
  const kind = v.kind || Object.keys(v).find((k) => k.endsWith('Value'));
  switch (kind) {
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return v[kind];
    case 'listValue':
      return (v.listValue.values || []).map(fromValue);
    case 'structValue':
      return fromStruct(v.structValue);
    default:
      return null;
  }
}

function fromStruct(struct) {
  return Object.fromEntries(Object.entries(struct?.fields || {}).map(([k, v]) => [k, fromValue(v)]));
}

module.exports = { manifest, providers, actions, evaluators, pluginService, fromStruct };

if (require.main === module) serve(NAME, pluginService, async () => runtime.close());
"""

_NODE_TEST = """\
'use strict';
// The __NAME__ plugin's components without a host: `node --test` in the node folder.

const test = require('node:test');
const assert = require('node:assert/strict');

const { manifest, providers, actions, pluginService, fromStruct } = require('../main.js');

const said = (text) => ({ room_id: 'room-1', content: { text } });

test('the manifest names the plugin and its components', () => {
  assert.equal(manifest.name, '__NAME__');
  assert.deepEqual(manifest.providers.map((p) => p.name), ['__UPPER__']);
  assert.deepEqual(manifest.actions.map((a) => a.name), ['__UPPER___SAY']);
});

test('Describe answers before Init', async () => {
  const reply = await new Promise((resolve, reject) =>
    pluginService.Describe({ request: {} }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  assert.equal(reply.manifest.name, '__NAME__');
});

test('the provider says which Node.js runs it', async () => {
  const result = await providers.__UPPER__(said('hi'));
  assert.equal(result.text, `__NAME__ runs on Node.js ${process.version}.`);
  assert.deepEqual(fromStruct(result.values), { node_version: process.version, room_id: 'room-1' });
});

test('the action applies to "say" and says the message back', async () => {
  const action = actions.__UPPER___SAY;
  assert.equal(action.validate(said('say hello')), true);
  assert.equal(action.validate(said('hello')), false);
  const sent = [];
  const result = await action.run(said('say hello'), {}, (content) => sent.push(content.text));
  assert.deepEqual(sent, ['Saying: say hello']);
  assert.equal(result.success, true);
  assert.deepEqual(fromStruct(result.values), { length: 9 });
});
"""


_EXAMPLE = "plugins/node-example/agenthost_plugin_nodeecho/node"


def _example_node_dir() -> Path:
    """plugins/node-example's node folder: in this checkout (an editable install), else the
    installed example package; ValueError in one line if neither is there."""
    repo = Path(__file__).resolve().parents[2] / _EXAMPLE
    if (repo / "protocol.js").is_file():
        return repo
    found = importlib.util.find_spec("agenthost_plugin_nodeecho")
    if found is not None and found.origin is not None:
        installed = Path(found.origin).parent / "node"
        if (installed / "protocol.js").is_file():
            return installed
    raise ValueError(
        f"--lang node copies protocol.js from agenthost's {_EXAMPLE}, which this installation does not have "
        "(use an agenthost checkout, or install plugins/node-example)"
    )


def _protos() -> dict[str, str]:
    """agenthost's protos (package data of agenthost.v1), by file name."""
    found = importlib.util.find_spec("agenthost.v1")
    folders = [Path(p) for p in (found.submodule_search_locations or [])] if found else []
    protos = {p.name: p.read_text() for folder in folders for p in sorted(folder.glob("*.proto"))}
    if not protos:
        raise ValueError("--lang node copies agenthost's protos, but agenthost.v1 holds no .proto files here")
    return protos


def node_package_files(name: str) -> dict[str, str]:
    """The new Node.js package's files, by path relative to its folder."""
    values = _values(name)
    module, dist = values["module"], values["dist"]
    example = _example_node_dir()
    example_package = json.loads((example / "package.json").read_text())
    package = {
        "name": dist,
        "version": "0.1.0",
        "private": True,
        "description": f"agenthost plugin {name}, in Node.js.",
        "main": "main.js",
        "scripts": {"test": "node --test"},
        "engines": example_package.get("engines", {"node": ">=18"}),
        "dependencies": example_package["dependencies"],
    }
    lock = json.loads((example / "package-lock.json").read_text())
    lock["name"] = dist
    lock["version"] = package["version"]
    root_entry = lock.get("packages", {}).get("")
    if root_entry is not None:
        root_entry.update(name=dist, version=package["version"])
    templates = {
        "pyproject.toml": _NODE_PYPROJECT,
        "README.md": _NODE_README,
        f"{module}/__init__.py": _NODE_INIT,
        f"{module}/spec.py": _NODE_SPEC,
        f"{module}/node/main.js": _NODE_MAIN,
        f"{module}/node/test/main.test.js": _NODE_TEST,
    }
    files = {path: _fill(text, values) for path, text in templates.items()}
    files[f"{module}/node/protocol.js"] = (example / "protocol.js").read_text()
    files[f"{module}/node/package.json"] = json.dumps(package, indent=2) + "\n"
    files[f"{module}/node/package-lock.json"] = json.dumps(lock, indent=2) + "\n"
    for proto, text in _protos().items():
        files[f"{module}/proto/agenthost/v1/{proto}"] = text
    return files


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", value)
    return text


def new_package(name: str, where: Path, lang: str = "python") -> Path:
    """Write the `lang` package for plugin `name` into `where`/NAME; ValueError if it cannot be."""
    if not _NAME.match(name):
        raise ValueError(f"plugin name {name!r} must start with a letter and hold only letters, digits, _ and -")
    root = where / name
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} already exists and is not empty")
    files = node_package_files(name) if lang == "node" else package_files(name)
    for path, text in files.items():
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
        root = new_package(args.name, Path.cwd(), args.lang)
    except ValueError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot write the package: {exc}", 2)
    if args.lang == "node":
        node = root / _values(args.name)["module"] / "node"
        print(f"made {root}: `npm install` in {node}, test it with `node --test` there, then `pip install -e {root}`")
    else:
        print(f"made {root}: test it with `python -m pytest`, then `pip install -e {root}`")


def add_new_command(plugins: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`plugins new NAME [--lang python|node]` beside list, load, unload and reload."""
    new = plugins.add_parser("new", help="make a plugin package to start from, in ./NAME")
    new.add_argument("name")
    new.add_argument("--lang", default="python", help="the plugin's language: python or node")
    new.set_defaults(func=cmd_plugins_new)
