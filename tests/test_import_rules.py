"""The layout's import rules: plugin_sdk stands alone, host and router never import each
other, plugins need neither, nothing outside plugin_sdk uses its underscore modules, no
import cycles, and parsing the router's config does not load litellm."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("host", "router", "plugin_sdk")

# Imports every module of the packages named in argv[2:] while the top-level packages named
# in argv[1] (comma-separated) cannot be imported; prints the first failure.
_IMPORT_ALL = """
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
for package in sys.argv[2:]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
"""


def _import_all(blocked: list[str], packages: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, ",".join(blocked), *packages],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]


def test_plugin_sdk_imports_without_host_or_router() -> None:
    _import_all(["host", "router"], ["plugin_sdk"])


def test_host_imports_without_router() -> None:
    _import_all(["router"], ["host"])


def test_router_imports_without_host() -> None:
    _import_all(["host"], ["router"])


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()))
def test_plugins_import_without_host_or_router(plugin: str) -> None:
    packages = [p.name for p in (ROOT / "plugins" / plugin).iterdir() if (p / "__init__.py").exists()]
    _import_all(["host", "router"], packages)


def _modules() -> dict[str, Path]:
    """Every module of host, router and plugin_sdk by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path) -> list[str]:
    """The modules `path` imports (every import statement, wherever it stands)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.append(module)
            targets += [f"{module}.{alias.name}" for alias in node.names]  # `from pkg import module`
    return targets


def test_no_underscore_sdk_module_is_imported_outside_plugin_sdk() -> None:
    offenders = []
    for path in [*ROOT.glob("host/**/*.py"), *ROOT.glob("router/**/*.py"), *ROOT.glob("plugins/**/*.py")]:
        for target in _imports("x.y", path):
            if target.startswith("plugin_sdk._"):
                offenders.append(f"{path.relative_to(ROOT)}: {target}")
    assert offenders == []


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        name: {t for t in _imports(name, path) if t in modules and t != name and not name.startswith(t + ".")}
        for name, path in modules.items()
    }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                here = path + [node]
                cycles.append(" -> ".join(here[here.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_parsing_the_router_config_does_not_load_litellm() -> None:
    code = "import sys, router.config; print('litellm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
