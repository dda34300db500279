"""Per-process tokens that authenticate plugins' calls back into the host."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenOwner:
    """Whose a runtime token is, and where it may be used."""

    plugin: str
    remote: bool  # a remote plugin calls back on the public listener; a local one on the plugins' socket


class TokenBook:
    """Issues one secret token per plugin instance and says whose a token is."""

    def __init__(self) -> None:
        self._owners: dict[str, TokenOwner] = {}

    def issue(self, plugin: str, remote: bool = False) -> str:
        token = secrets.token_urlsafe(32)
        self._owners[token] = TokenOwner(plugin, remote)
        return token

    def revoke(self, token: str) -> None:
        self._owners.pop(token, None)

    def owner(self, token: str) -> TokenOwner | None:
        """Whose `token` is, or None."""
        for known, owner in self._owners.items():
            if hmac.compare_digest(known, token):
                return owner
        return None
