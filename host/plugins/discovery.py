"""Find installed plugins through pluggy entry points; import only their spec modules, and
those in a fresh interpreter, never in the host.

Why a child interpreter: an editable install (`pip install -e`) adds its import path through
a `.pth` file, and `.pth` files are read only when an interpreter starts. A host that looked
up entry points in its own process would see the new distribution's metadata but could not
import its spec module until restarted. A fresh interpreter, started the way plugin
processes are (the host's `sys.executable`, a plugin's environment), sees what a plugin
process will see: new distributions, their `.pth`
paths and finders, and the current code of every spec module. It also keeps plugin code,
even a spec module, out of the host process and away from the host's secrets. The price is
an interpreter start and the spec modules' imports per scan: about 0.25 s of one core on a
quiet machine (the interpreter and entry point lookup take 0.06 s, importing plugin_sdk with
gRPC most of the rest; an in-process lookup of an already-imported host took 0.02 s),
paid by `plugins list`, `load` and `reload` and once at start, never by a message.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from plugin_sdk.spec import ENTRY_POINT_GROUP, PROJECT_NAME, PluginSpec, PluginSpecHooks

log = logging.getLogger(__name__)

SCAN_TIMEOUT = 60.0
"""Seconds a scan may take: spec modules must be cheap (see PluginSpecHooks), but a cold disk
or a first import that writes bytecode can be slow."""


class DiscoveryError(LookupError):
    """A plugin that cannot be found or whose spec is unusable."""


@dataclass(frozen=True)
class Scan:
    """What one look at the installed entry points found."""

    specs: dict[str, PluginSpec] = field(default_factory=dict)
    """Usable plugins by name."""
    broken: dict[str, str] = field(default_factory=dict)
    """Entry points that cannot be used (import failed, hook failed, wrong name), by entry point
    name, with the reason."""


class Discovery:
    """Reads the `agenthost.plugins` entry point group afresh on every call, so packages
    installed after the host started, editable ones included, are found. Blocking: the host
    calls it off its event loop."""

    def __init__(self, allow: tuple[str, ...] | None = None) -> None:
        self.allow = allow

    def scan(self) -> Scan:
        """Every allowed installed plugin's spec, and the entry points that are broken."""
        # Imported here: host.plugins.process imports host.logs, which this module's child
        # (run as __main__) has no need for.
        from .process import plugin_environment

        # -P: the working directory is not put first on sys.path, so a folder there named like
        # a package (a project's own `host/`, say) cannot stand in for this module.
        argv = [sys.executable, "-P", "-m", __name__, json.dumps(self.allow)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=SCAN_TIMEOUT, env=plugin_environment(), check=False
            )
        except subprocess.TimeoutExpired:
            raise DiscoveryError(
                f"plugin discovery took longer than {SCAN_TIMEOUT:.0f} s: a spec module does too much at import"
            ) from None
        for line in done.stderr.splitlines():  # what spec modules printed, and warnings
            log.warning("plugin discovery: %s", line)
        try:
            found = json.loads(done.stdout.splitlines()[-1])
        except (IndexError, ValueError):
            last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise DiscoveryError(f"plugin discovery failed: {last[0]}") from None
        specs = {}
        for item in found["specs"]:
            item["command"] = tuple(item["command"])
            specs[item["name"]] = PluginSpec(**item)
        broken: dict[str, str] = found["broken"]
        for name, reason in broken.items():
            log.error("plugin entry point %s cannot be used: %s", name, reason)
        return Scan(specs, broken)

    def specs(self) -> dict[str, PluginSpec]:
        """Every allowed installed plugin's spec, by plugin name."""
        return self.scan().specs

    def spec(self, name: str) -> PluginSpec:
        """One plugin's spec; DiscoveryError says why it cannot be had: not allowed, installed
        but broken (with the reason), or not installed (naming what is)."""
        if self.allow is not None and name not in self.allow:
            raise DiscoveryError(f"plugin {name!r} is not in the host's allow list")
        found = self.scan()
        if name in found.specs:
            return found.specs[name]
        if name in found.broken:
            raise DiscoveryError(f"plugin {name!r} is installed but cannot be loaded: {found.broken[name]}")
        known = ", ".join(sorted(found.specs)) or "none"
        raise DiscoveryError(f"no installed plugin named {name!r} (installed: {known})")


def scan_here(allow: tuple[str, ...] | None) -> dict[str, Any]:
    """The scan itself, in this interpreter: load the entry point group with pluggy and call
    each spec hook. Runs in the child (see main); returns what main prints."""
    import importlib.metadata

    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(PluginSpecHooks)
    broken: dict[str, str] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allow is not None and entry_point.name not in allow:
            continue  # never imported: the allow list is also a list of what may run
        try:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry_point.name)
        except Exception as exc:  # a broken package must not hide the others
            broken[entry_point.name] = f"entry point {entry_point.value} cannot be imported: {_why(exc)}"
    specs: list[dict[str, Any]] = []
    for impl in manager.hook.agenthost_plugin_spec.get_hookimpls():
        entry_name = impl.plugin_name
        try:
            spec = impl.function()
        except Exception as exc:
            broken[entry_name] = f"agenthost_plugin_spec() failed: {_why(exc)}"
            continue
        if not isinstance(spec, PluginSpec):
            broken[entry_name] = f"agenthost_plugin_spec() returned {type(spec).__name__}, not a PluginSpec"
        elif spec.name != entry_name:
            broken[entry_name] = f"the entry point is named {entry_name!r} but its spec {spec.name!r}; they must match"
        else:
            specs.append(dataclasses.asdict(spec))
    return {"specs": specs, "broken": broken}


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    """The child: print one JSON line, {"specs": [...], "broken": {...}}."""
    allow = json.loads(sys.argv[1]) if len(sys.argv) > 1 else None
    out = sys.stdout
    sys.stdout = sys.stderr  # what a spec module prints must not corrupt the answer
    found = scan_here(tuple(allow) if allow is not None else None)
    out.write(json.dumps(found) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
