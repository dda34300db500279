"""Which plugin owns each component name."""

from __future__ import annotations

from dataclasses import dataclass, field

from .manifest import COMPONENT_KINDS, Action, Evaluator, Manifest, Provider


class DuplicateComponent(ValueError):
    """Two plugins declare a component of the same kind and name."""


_EXCLUSIVE = [kind for kind in COMPONENT_KINDS if kind.exclusive]


@dataclass
class Registry:
    """Component names per kind, each owned by one plugin. Model handlers of one
    type may come from several plugins; the highest priority serves."""

    owners: dict[str, dict[str, str]] = field(default_factory=lambda: {kind.name: {} for kind in _EXCLUSIVE})
    manifests: dict[str, Manifest] = field(default_factory=dict)

    def check(self, plugin: str, manifest: Manifest) -> None:
        """Raise DuplicateComponent if `manifest` clashes with another plugin's components."""
        for kind in _EXCLUSIVE:
            for name in manifest.names(kind):
                owner = self.owners[kind.name].get(name)
                if owner is not None and owner != plugin:
                    raise DuplicateComponent(
                        f"{kind.name} {name!r} is declared by both plugin {owner!r} and plugin {plugin!r}"
                    )

    def register(self, plugin: str, manifest: Manifest) -> None:
        """Add (or replace) a plugin's components."""
        self.check(plugin, manifest)
        self.unregister(plugin)
        for kind in _EXCLUSIVE:
            for name in manifest.names(kind):
                self.owners[kind.name][name] = plugin
        self.manifests[plugin] = manifest

    def unregister(self, plugin: str) -> None:
        for table in self.owners.values():
            for name in [n for n, owner in table.items() if owner == plugin]:
                del table[name]
        self.manifests.pop(plugin, None)

    def owner(self, kind: str, name: str) -> str | None:
        return self.owners[kind].get(name)

    def providers(self) -> list[tuple[str, Provider]]:
        """(plugin, provider) for every provider, in position order."""
        found = [(plugin, p) for plugin, m in self.manifests.items() for p in m.providers]
        return sorted(found, key=lambda item: (item[1].position, item[1].name))

    def actions(self) -> list[tuple[str, Action]]:
        """(plugin, action) for every action, by name."""
        return sorted(((p, a) for p, m in self.manifests.items() for a in m.actions), key=lambda item: item[1].name)

    def evaluators(self) -> list[tuple[str, Evaluator]]:
        """(plugin, evaluator) for every evaluator, by name."""
        found = ((p, e) for p, m in self.manifests.items() for e in m.evaluators)
        return sorted(found, key=lambda item: item[1].name)

    def model_handlers(self, model_type: str) -> list[str]:
        """Plugins serving `model_type`, highest priority first."""
        found = [
            (h.priority, plugin)
            for plugin, m in self.manifests.items()
            for h in m.model_handlers
            if h.model_type == model_type
        ]
        return [plugin for _, plugin in sorted(found, key=lambda item: -item[0])]

    def subscribers(self, event_type: str) -> list[str]:
        return [plugin for plugin, m in self.manifests.items() if event_type in m.events]
