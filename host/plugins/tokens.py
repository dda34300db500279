"""Per-process tokens that authenticate plugins' calls back into the host."""

from __future__ import annotations

import hmac
import secrets


class TokenBook:
    """Issues one secret token per plugin instance and says whose a token is."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def issue(self, plugin: str) -> str:
        token = secrets.token_urlsafe(32)
        self._owners[token] = plugin
        return token

    def revoke(self, token: str) -> None:
        self._owners.pop(token, None)

    def owner(self, token: str) -> str | None:
        """The plugin a token was issued to, or None."""
        for known, plugin in self._owners.items():
            if hmac.compare_digest(known, token):
                return plugin
        return None
