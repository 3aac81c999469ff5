"""House rule 1 for the ranking core: ``ranker.py`` and ``tokens.py`` do no I/O (no file,
clock, environment, database or socket) and import nothing of Hotline but each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cti" / "knowledge"
PURE = ("ranker.py", "tokens.py")
FORBIDDEN_IMPORTS = {
    "twisted",
    "sqlalchemy",
    "flask",
    "werkzeug",
    "yaml",
    "os",
    "time",
    "socket",
    "subprocess",
    "datetime",
    "random",
    "requests",
    "httpx",
    "pathlib",
    "logging",
    "threading",
    "rjieba",
    "jieba",
    "web_admin",
    "ivr_flows",
}
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "open",
    "getenv",
    "read_text",
    "read_bytes",
    "monotonic",
    "perf_counter",
    "time",
    "print",
    "save",
    "load",
}


def tree_of(module: str) -> ast.Module:
    return ast.parse((PACKAGE / module).read_text(encoding="utf-8"))


def imports_of(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_the_ranking_core_imports_no_io_library(module: str) -> None:
    assert not {n.split(".")[0] for n in imports_of(tree_of(module))} & FORBIDDEN_IMPORTS


@pytest.mark.parametrize("module", PURE)
def test_the_ranking_core_imports_only_itself_from_hotline(module: str) -> None:
    own = {n for n in imports_of(tree_of(module)) if n.split(".")[0] == "cti"}
    assert own <= {"cti.knowledge.tokens", "cti.knowledge.ranker"}


@pytest.mark.parametrize("module", PURE)
def test_the_ranking_core_reads_no_clock_and_no_files(module: str) -> None:
    called = {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(tree_of(module))
        if isinstance(n, ast.Call)
    }
    assert not called & FORBIDDEN_CALLS


def test_the_contract_would_catch_a_violation(tmp_path: Path) -> None:
    bad = ast.parse("import os\nfrom cti.records import knowledge\nopen('x')\n")
    assert "os" in imports_of(bad) and "cti.records" in imports_of(bad)
