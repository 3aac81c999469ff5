"""House rule 1 for the routing engine: no I/O library, no clock, no environment, no files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cti" / "routing"
MODULES = sorted(p.name for p in PACKAGE.glob("*.py"))
FORBIDDEN_IMPORTS = {"twisted", "sqlalchemy", "flask", "asterisk", "pyst2", "vosk", "pydub",
                     "httpx", "os", "time", "socket", "subprocess", "datetime", "random",
                     "requests", "pathlib", "logging"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "getenv", "read_text", "read_bytes",
                   "monotonic", "perf_counter", "time", "print"}


def tree_of(module: str) -> ast.Module:
    return ast.parse((PACKAGE / module).read_text(encoding="utf-8"))


def imports_of(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_has_modules() -> None:
    assert {"engine.py", "events.py", "commands.py", "config.py"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_routing_imports_no_io_library(module: str) -> None:
    assert not imports_of(tree_of(module)) & FORBIDDEN_IMPORTS


@pytest.mark.parametrize("module", MODULES)
def test_routing_imports_nothing_outside_itself_but_the_standard_library(module: str) -> None:
    assert not {n for n in imports_of(tree_of(module)) if n in {"cti", "ivr_flows", "web_admin"}}


@pytest.mark.parametrize("module", MODULES)
def test_routing_reads_no_clock_and_no_files(module: str) -> None:
    called = {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(tree_of(module))
        if isinstance(n, ast.Call)
    }
    assert not called & FORBIDDEN_CALLS


def test_the_contract_would_catch_a_violation() -> None:
    bad = ast.parse("import time\nfrom twisted.internet import reactor\n")
    assert imports_of(bad) == {"time", "twisted"}
