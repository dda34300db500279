"""pyproject.toml lists every package of the code, so an install that is not editable (a wheel)
has all of it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("host", "plugin_sdk", "router")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set()
