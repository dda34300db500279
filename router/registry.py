"""The provider registry: which models exist, what they cost and can do, and whether
their keys are set. Loaded from a JSON or TOML file; errors name the entry and field."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

CAPABILITIES = frozenset({"chat", "embedding", "vision", "audio", "local"})
DEFAULT_PROVIDERS = Path(__file__).with_name("providers.json")


class RegistryError(ValueError):
    """A providers file that cannot be used; the message names the file, entry and field."""


@dataclass(frozen=True)
class Provider:
    """One model at one provider. Costs are USD per 1,000 tokens."""

    name: str
    model: str
    litellm_model: str
    cost_in: float
    cost_out: float
    max_context: int
    latency_ms: int
    endpoint_env: str = ""
    api_base: str = ""
    capabilities: frozenset[str] = frozenset({"chat"})
    tags: frozenset[str] = frozenset()
    max_output_tokens: int = 1024
    rpm: int = 0  # requests per minute across every router sharing the database (0: no limit)
    tpm: int = 0  # tokens (input bound + max output at reservation, real usage once settled) per minute

    @cached_property
    def id(self) -> str:
        """How policies, decisions and fallbacks name the provider: "name:model"."""
        return f"{self.name}:{self.model}"

    @property
    def local(self) -> bool:
        """Runs on this machine: the only kind a confidential call may use."""
        return "local" in self.capabilities

    def not_configured_reason(self, env: Mapping[str, str] = os.environ) -> str:
        """Why the provider cannot be called now ("" when it can)."""
        if self.endpoint_env and not env.get(self.endpoint_env):
            return f"{self.endpoint_env} is not set"
        return ""

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """USD for a call with these token counts."""
        return (tokens_in * self.cost_in + tokens_out * self.cost_out) / 1000.0


_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "model": (str,),
    "litellm_model": (str,),
    "cost_in": (int, float),
    "cost_out": (int, float),
    "max_context": (int,),
    "latency_ms": (int,),
    "endpoint_env": (str,),
    "api_base": (str,),
    "capabilities": (list,),
    "tags": (list,),
    "max_output_tokens": (int,),
    "rpm": (int,),
    "tpm": (int,),
}
_REQUIRED = ("name", "model", "litellm_model", "cost_in", "cost_out", "max_context", "latency_ms")


def _provider(raw: Any, where: str) -> Provider:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: must be an object with the provider's fields")
    label = f"{where} ({raw.get('name', '?')}:{raw.get('model', '?')})"
    for key in raw:
        if key not in _FIELDS:
            raise RegistryError(f"{label}: unknown field {key!r}")
    for key in _REQUIRED:
        if key not in raw:
            raise RegistryError(f"{label}: field {key!r} is missing")
    for key, kinds in _FIELDS.items():
        if key in raw and (not isinstance(raw[key], kinds) or isinstance(raw[key], bool)):
            names = " or ".join(dict.fromkeys("number" if k in (int, float) else k.__name__ for k in kinds))
            raise RegistryError(f"{label}: field {key!r} must be a {names}, got {raw[key]!r}")
    for key in ("cost_in", "cost_out"):
        if raw[key] < 0:
            raise RegistryError(f"{label}: field {key!r} must not be negative")
    for key in ("max_context", "latency_ms", "max_output_tokens", "rpm", "tpm"):
        if key in raw and raw[key] <= 0:
            raise RegistryError(f"{label}: field {key!r} must be positive")
    for key in ("name", "model", "litellm_model"):
        if not raw[key].strip():
            raise RegistryError(f"{label}: field {key!r} must not be empty")
    capabilities = frozenset(raw.get("capabilities", ["chat"]))
    unknown = capabilities - CAPABILITIES
    if unknown:
        raise RegistryError(
            f"{label}: field 'capabilities' has unknown {sorted(unknown)}; use {', '.join(sorted(CAPABILITIES))}"
        )
    return Provider(
        name=raw["name"],
        model=raw["model"],
        litellm_model=raw["litellm_model"],
        cost_in=float(raw["cost_in"]),
        cost_out=float(raw["cost_out"]),
        max_context=raw["max_context"],
        latency_ms=raw["latency_ms"],
        endpoint_env=raw.get("endpoint_env", ""),
        api_base=raw.get("api_base", ""),
        capabilities=capabilities,
        tags=frozenset(str(t) for t in raw.get("tags", [])),
        max_output_tokens=raw.get("max_output_tokens", 1024),
        rpm=raw.get("rpm", 0),
        tpm=raw.get("tpm", 0),
    )


def parse_providers(entries: Any, source: str) -> tuple[Provider, ...]:
    """Validate a list of provider entries; RegistryError names the first bad one."""
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{source}: expected a non-empty list of providers")
    providers = tuple(_provider(raw, f"{source}: entry {i + 1}") for i, raw in enumerate(entries))
    seen: set[str] = set()
    for i, provider in enumerate(providers):
        if provider.id in seen:
            raise RegistryError(f"{source}: entry {i + 1} ({provider.id}): provider id is listed twice")
        seen.add(provider.id)
    return providers


def load_providers(path: Path = DEFAULT_PROVIDERS) -> tuple[Provider, ...]:
    """Read a providers file: JSON (a list) or TOML (a [[providers]] array)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise RegistryError(f"providers file {path} does not exist") from None
    try:
        if str(path).endswith(".toml"):
            entries = tomllib.loads(text).get("providers")
        else:
            entries = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: not valid {'TOML' if str(path).endswith('.toml') else 'JSON'}: {exc}") from None
    return parse_providers(entries, str(path))
