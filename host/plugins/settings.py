"""What a plugin may read through GetSetting."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Grant


@dataclass(frozen=True)
class PluginSettings:
    """A plugin's own settings first ([plugins.config.NAME]), then the settings every plugin
    shares (the character's and [settings]), then the secrets its grant names."""

    own: dict[str, dict[str, str]] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)

    def get(self, plugin: str, key: str) -> str | None:
        """The value `plugin` sees for `key`, or None."""
        value = self.own.get(plugin, {}).get(key, self.shared.get(key))
        if value is None and key in self.grants.get(plugin, Grant()).secrets:
            value = self.secrets.get(key)
        return value
