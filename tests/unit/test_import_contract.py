"""House rule 1: the pure cores import no I/O library and read no clock, env or files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = [
    "ivr_flows/core/model.py",
    "ivr_flows/core/interpreter.py",
    "ivr_flows/core/validate.py",
    "ivr_flows/core/errors.py",
    "ivr_flows/loading/yaml_lines.py",
]
FORBIDDEN_IMPORTS = {"twisted", "flask", "sqlalchemy", "asterisk", "vosk", "pydub", "httpx",
                     "os", "socket", "subprocess", "time", "requests", "werkzeug", "zoneinfo"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "getenv", "read_text", "read_bytes",
                   "monotonic", "perf_counter"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_core_imports_no_io_library(module: str) -> None:
    assert not imports_of(ROOT / module) & FORBIDDEN_IMPORTS


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_core_reads_no_clock_and_no_files(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    called = {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }
    assert not called & FORBIDDEN_CALLS


def test_the_contract_would_catch_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import twisted\nfrom datetime import datetime\nx = datetime.now()\n")
    assert "twisted" in imports_of(bad)
