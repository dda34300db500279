"""Find installed plugins through pluggy entry points; import only their spec modules."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys

import pluggy

from plugin_sdk.spec import ENTRY_POINT_GROUP, PROJECT_NAME, PluginSpec, PluginSpecHooks

log = logging.getLogger(__name__)


class DiscoveryError(LookupError):
    """A plugin that cannot be found or whose spec is unusable."""


class Discovery:
    """Reads the `agenthost.plugins` entry point group, again on every call, so
    packages installed after the host started are found."""

    def __init__(self, allow: tuple[str, ...] | None = None) -> None:
        self.allow = allow

    def specs(self) -> dict[str, PluginSpec]:
        """Every allowed installed plugin's spec, by plugin name."""
        importlib.invalidate_caches()
        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(PluginSpecHooks)
        specs: dict[str, PluginSpec] = {}
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.allow is not None and entry_point.name not in self.allow:
                continue
            # A fresh import each time: a reinstalled package may have a new spec.
            sys.modules.pop(entry_point.module, None)
            try:
                manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry_point.name)
            except Exception as exc:  # a broken package must not hide the others
                log.error("plugin entry point %s (%s) cannot be loaded: %s", entry_point.name, entry_point.value, exc)
        for impl in manager.hook.agenthost_plugin_spec.get_hookimpls():
            entry_name = impl.plugin_name
            try:
                spec = impl.function()
            except Exception as exc:
                log.error("plugin %s: agenthost_plugin_spec() failed: %s", entry_name, exc)
                continue
            if not isinstance(spec, PluginSpec):
                log.error(
                    "plugin %s: agenthost_plugin_spec() returned %s, not a PluginSpec", entry_name, type(spec).__name__
                )
                continue
            if spec.name != entry_name:
                log.error("plugin entry point %r returns a spec named %r; they must match", entry_name, spec.name)
                continue
            specs[spec.name] = spec
        return specs

    def spec(self, name: str) -> PluginSpec:
        """One plugin's spec; DiscoveryError names what is installed when it is not."""
        specs = self.specs()
        if name in specs:
            return specs[name]
        if self.allow is not None and name not in self.allow:
            raise DiscoveryError(f"plugin {name!r} is not in the host's allow list")
        known = ", ".join(sorted(specs)) or "none"
        raise DiscoveryError(f"no installed plugin named {name!r} (installed: {known})")
