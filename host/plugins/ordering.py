"""In which order plugins are initialised: dependencies first, then higher priority first."""

from __future__ import annotations

import heapq

from .manifest import Manifest


def initialisation_order(
    manifests: dict[str, Manifest],
    already_loaded: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[str], dict[str, str]]:
    """Order `manifests` so every plugin comes after its dependencies, ties broken by
    priority (higher first) then name. Returns the order and, for plugins that cannot
    be initialised, why (a missing or failed dependency, or a cycle)."""
    errors: dict[str, str] = {}
    pending = {name: set(m.dependencies) - already_loaded for name, m in manifests.items()}

    changed = True
    while changed:  # a missing dependency fails its dependents too
        changed = False
        for name, deps in pending.items():
            if name in errors:
                continue
            for dep in sorted(deps):
                if dep in errors:
                    errors[name] = f"plugin {name!r} needs plugin {dep!r}, which cannot start"
                elif dep not in manifests:
                    errors[name] = f"plugin {name!r} needs plugin {dep!r}, which is not loaded"
                else:
                    continue
                changed = True
                break

    ready = [(-manifests[n].priority, n) for n, deps in pending.items() if not deps and n not in errors]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for other, deps in pending.items():
            if name in deps:
                deps.discard(name)
                if not deps and other not in errors:
                    heapq.heappush(ready, (-manifests[other].priority, other))
    for name in sorted(set(manifests) - set(order) - set(errors)):
        cycle = " -> ".join(_cycle_from(name, pending))
        errors[name] = f"plugin {name!r} is in a dependency cycle: {cycle}"
    return order, errors


def _cycle_from(start: str, pending: dict[str, set[str]]) -> list[str]:
    path, node = [start], start
    while True:
        node = sorted(pending[node])[0]
        if node in path:
            return path[path.index(node) :] + [node]
        path.append(node)
