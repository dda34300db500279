"""Checks on the manifest a plugin's Describe returns."""

from __future__ import annotations

import re

from agenthost.v1 import plugin_pb2

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


class ManifestError(ValueError):
    """A manifest the host will not register; the message names the plugin and the field."""


def check_manifest(expected_name: str, manifest: plugin_pb2.PluginManifest) -> None:
    """Raise ManifestError for the first problem found in `manifest`."""
    problems: list[str] = []
    if manifest.name != expected_name:
        problems.append(f"name is {manifest.name!r}, expected {expected_name!r}")
    if not manifest.version:
        problems.append("version is empty")
    for kind, items, key in (
        ("action", manifest.actions, "name"),
        ("provider", manifest.providers, "name"),
        ("evaluator", manifest.evaluators, "name"),
        ("service", manifest.services, "name"),
        ("model handler", manifest.model_handlers, "model_type"),
    ):
        seen: set[str] = set()
        for index, item in enumerate(items):
            value = getattr(item, key)
            if not _NAME.match(value):
                problems.append(f"{kind} #{index + 1} has an invalid {key} {value!r}")
            elif value in seen:
                problems.append(f"{kind} {value!r} is listed twice")
            seen.add(value)
    for event in manifest.events:
        if not _NAME.match(event):
            problems.append(f"event subscription {event!r} is not a valid event type")
    if problems:
        raise ManifestError(
            f"plugin {expected_name!r} sent an invalid manifest: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
