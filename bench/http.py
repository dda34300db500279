"""`bench/http.py` (issue 13): runs bench/http_face.py, the HTTP face's benchmark (its docstring
says what it measures). Usage: `.venv/bin/python bench/http.py [--quick] [...]`.

A module named http.py in bench/ would shadow the standard library's `http` package for every
script run from bench/ (their folder comes first on sys.path: aiohttp, httpx and uvicorn import
`http`), so when this file is imported under that name it loads the standard package in its
place, and the import returns that."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    import runpy

    runpy.run_path(str(_HERE / "http_face.py"), run_name="__main__")
else:
    import importlib.machinery
    import importlib.util

    _spec = importlib.machinery.PathFinder.find_spec(
        __name__, [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    )
    assert _spec is not None and _spec.loader is not None, "the standard library's http package"
    sys.modules[__name__] = _standard = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_standard)
