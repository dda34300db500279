"""pyproject.toml lists every package of the code, so an install that is not editable (a wheel)
has all of it."""

from __future__ import annotations

import subprocess
import sys
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


def test_a_script_run_from_bench_imports_the_standard_http_package() -> None:
    # bench/http.py (the name issue 13 gives the benchmark) must not shadow the standard library's
    # `http` for the other scripts there: aiohttp, httpx and uvicorn import it.
    probe = "import http, http.client, aiohttp; print(http.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); {probe}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "bench" not in done.stdout, done.stderr
