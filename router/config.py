"""Router configuration: the [router] table of an agenthost TOML file, or defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin_sdk.auth import token_from_file

from .accounting import DEFAULT_LEASE_S, Budget
from .policy import DEFAULT_POLICY
from .registry import DEFAULT_PROVIDERS
from .requests import RetrySettings
from .response_cache import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_S


class RouterConfigError(ValueError):
    """A [router] table that cannot be used; the message names the key."""


@dataclass(frozen=True)
class RouterConfig:
    """Where the registry, policy and database are, the budgets, and retry/breaker settings."""

    providers: Path = DEFAULT_PROVIDERS
    policy: Path = DEFAULT_POLICY
    database: str = ""  # empty: agenthost.db in data_dir
    data_dir: Path = Path(".agenthost")  # the host's data directory (its store is there too)
    budgets: tuple[Budget, ...] = (Budget("global", "monthly", 20.0),)
    retry: RetrySettings = RetrySettings()
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0
    reservation_lease_s: float = DEFAULT_LEASE_S  # a dead router's holds are released this long after it died
    # [router.response_cache]: answers to temperature-0 and embedding calls kept this long, at most this
    # many (router.response_cache); max_entries = 0 keeps none.
    response_cache_entries: int = DEFAULT_MAX_ENTRIES
    response_cache_ttl_s: float = DEFAULT_TTL_S
    listen: str = ""  # standalone: where to serve (default 127.0.0.1:7532)
    api_token: str = ""  # standalone: clients' bearer token; "" = $AGENTHOST_ROUTER_TOKEN, else data_dir/router-token
    tls_cert_file: str = ""  # standalone: the listener's certificate (needed beyond loopback)
    tls_key_file: str = ""


def load_router_config(path: Path | None, **overrides: Any) -> RouterConfig:
    """Read the [router] table of `path` (if given) and apply non-None overrides."""
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text()).get("router", {})
        except FileNotFoundError:
            raise RouterConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise RouterConfigError(f"config file {path} is not valid TOML: {exc}") from None
        base = Path(path).parent
    known = {"providers", "policy", "database", "budgets", "retry", "breaker_threshold", "breaker_cooldown_s", "listen"}
    known |= {"api_token", "tls_cert_file", "tls_key_file", "reservation_lease_s", "response_cache"}
    unknown = set(raw) - known
    if unknown:
        raise RouterConfigError(f"[router]: unknown key(s) {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for key in ("providers", "policy"):
        if key in raw:
            kwargs[key] = base / raw[key]
    if "database" in raw:
        kwargs["database"] = _database(str(raw["database"]), base)
    try:
        if "budgets" in raw:
            kwargs["budgets"] = tuple(
                Budget(str(b["scope"]), str(b["period"]), float(b["limit"])) for b in raw["budgets"]
            )
        if "retry" in raw:
            kwargs["retry"] = RetrySettings(**raw["retry"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RouterConfigError(f"[router]: {exc}") from None
    for key in ("breaker_threshold", "breaker_cooldown_s", "listen", "api_token"):
        if key in raw:
            kwargs[key] = raw[key]
    if "reservation_lease_s" in raw:
        lease = raw["reservation_lease_s"]
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise RouterConfigError(f"[router]: reservation_lease_s must be a positive number (seconds), got {lease!r}")
        kwargs["reservation_lease_s"] = float(lease)
    if "response_cache" in raw:
        kwargs.update(_response_cache(raw["response_cache"]))
    for key in ("tls_cert_file", "tls_key_file"):
        if key in raw:
            kwargs[key] = str(base / raw[key])
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if "database" in overrides and overrides["database"] is not None:
        kwargs["database"] = _database(overrides["database"], Path.cwd())
    return RouterConfig(**kwargs)


def _response_cache(table: Any) -> dict[str, Any]:
    """[router.response_cache] `max_entries` (a whole number, 0 = off) and `ttl_s` (seconds, > 0)."""
    if not isinstance(table, dict) or set(table) - {"max_entries", "ttl_s"}:
        raise RouterConfigError("[router.response_cache]: give max_entries (0 turns it off) and/or ttl_s")
    entries = table.get("max_entries", DEFAULT_MAX_ENTRIES)
    if isinstance(entries, bool) or not isinstance(entries, int) or entries < 0:
        raise RouterConfigError(f"[router.response_cache]: max_entries must be a whole number >= 0, got {entries!r}")
    ttl = table.get("ttl_s", DEFAULT_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise RouterConfigError(f"[router.response_cache]: ttl_s must be a positive number (seconds), got {ttl!r}")
    return {"response_cache_entries": entries, "response_cache_ttl_s": float(ttl)}


def _database(url: str, base: Path) -> str:
    """A PostgreSQL URL as given; a SQLite file ("path/x.db" or "sqlite://path/x.db", relative to
    the config file) as "sqlite://<absolute path>"."""
    if url.startswith(("postgresql://", "postgres://")):
        return url
    path = Path(url.removeprefix("sqlite://"))
    return f"sqlite://{(base / path).resolve()}"


def database_url(config: RouterConfig) -> str:
    """The configured database, or the SQLite file the host's store uses in its data directory."""
    return config.database or _database(str(config.data_dir / "agenthost.db"), Path.cwd())


TOKEN_ENV = "AGENTHOST_ROUTER_TOKEN"
TOKEN_FILE = "router-token"


def api_token(config: RouterConfig) -> str:
    """A standalone router's bearer token: [router] api_token, else $AGENTHOST_ROUTER_TOKEN, else the
    one kept in the data directory (made there, 0600, on first start)."""
    return config.api_token or os.environ.get(TOKEN_ENV, "") or token_from_file(config.data_dir / TOKEN_FILE)
