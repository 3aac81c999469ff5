"""House rule 1: the pure flow core imports no I/O library and reads no clock, env or files.

Checked by folder: every module under ``ivr_flows/core/`` (files added later included).
The routing engine and the records core have the same contract in their own test folders.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "ivr_flows" / "core"
PURE_MODULES = sorted(str(p.relative_to(ROOT)) for p in CORE.rglob("*.py"))
FORBIDDEN_IMPORTS = {"twisted", "flask", "sqlalchemy", "asterisk", "vosk", "pydub", "httpx",
                     "urllib3", "yaml", "itsdangerous", "graphviz", "os", "socket", "subprocess",
                     "time", "requests", "werkzeug", "zoneinfo", "pathlib", "threading", "cti",
                     "web_admin", "asterisk_conf"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "getenv", "read_text", "read_bytes",
                   "monotonic", "perf_counter"}
ALLOWED_OWN = "ivr_flows.core"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_folder_has_its_modules() -> None:
    names = {Path(m).name for m in PURE_MODULES}
    assert {"model.py", "interpreter.py", "validate.py", "errors.py"} <= names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_core_imports_no_io_library(module: str) -> None:
    roots = {name.split(".")[0] for name in imports_of(ROOT / module)}
    assert not roots & FORBIDDEN_IMPORTS


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_core_imports_only_itself_from_hotline(module: str) -> None:
    own = {n for n in imports_of(ROOT / module) if n.split(".")[0] == "ivr_flows"}
    assert all(n == ALLOWED_OWN or n.startswith(ALLOWED_OWN + ".") for n in own), own


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
    bad.write_text("import twisted\nfrom ivr_flows.voice import renderer\n"
                   "from datetime import datetime\nx = datetime.now()\n")
    assert "twisted" in {n.split(".")[0] for n in imports_of(bad)}
    assert "ivr_flows.voice" in imports_of(bad)
