"""The import graph is one-way: the folder layout is the architecture."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_sfu_never_imports_the_control_plane() -> None:
    offenders = {f: n for f, n in imports_of("sfu").items() if "control" in n}
    assert offenders == {}


@pytest.mark.parametrize("package", ["sfu/core", "sfu/routing", "sfu/feedback"])
def test_the_forwarding_core_is_sans_io(package: str) -> None:
    """No sockets, clocks, event loop or aiortc: packets and time go in."""
    forbidden = {"aiortc", "aioice", "asyncio", "socket", "time", "aiohttp", "pylibsrtp", "uvloop"}
    runtime = {f: n & forbidden for f, n in imports_of(package).items() if not f.endswith("bench_core.py")}
    assert {f: n for f, n in runtime.items() if n} == {}


@pytest.mark.parametrize("package", ["sfu", "control"])
def test_the_product_never_imports_its_benchmarks(package: str) -> None:
    """``callsfu-bench`` / ``python -m benchmarks`` run them; the product does not."""
    found = imports_of(package)
    assert found, f"no module found under {package}/"
    assert {f: n for f, n in found.items() if "benchmarks" in n} == {}


def test_imports_of_sees_imports_inside_functions() -> None:
    """The check reads every import, a lazy one inside a function too."""
    tree = ast.parse("def f():\n    from benchmarks import loadtest\n")
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names == {"benchmarks"}
