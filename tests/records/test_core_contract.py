"""House rule 1 for the records core: ``cti/records/core`` is pure.

Every module of the folder (globbed: a module added later is covered too) imports nothing but
the standard library and ``cti.records.core`` itself, no I/O or clock module of the standard
library either, and calls nothing that reads the clock, the environment or a file.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "cti" / "records" / "core"
PACKAGE = "cti.records.core"
MODULES = sorted(p.relative_to(CORE).as_posix() for p in CORE.rglob("*.py"))
FORBIDDEN_STDLIB = {
    "os",
    "time",
    "socket",
    "subprocess",
    "logging",
    "pathlib",
    "io",
    "shutil",
    "tempfile",
    "random",
    "threading",
    "asyncio",
    "sqlite3",
    "urllib",
    "http",
}
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "open",
    "getenv",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "monotonic",
    "perf_counter",
    "time",
    "print",
    "__import__",
    "import_module",
}


def imported(source: str, module: str = "x.py") -> set[str]:
    """Every module named by an import statement, relative ones resolved against the package
    of ``module`` (a path inside the core folder)."""
    package = [*PACKAGE.split("."), *Path(module).parts[:-1]]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def violations(source: str, module: str = "x.py") -> set[str]:
    found = set()
    for name in imported(source, module):
        top = name.split(".")[0]
        inside = name == PACKAGE or name.startswith(PACKAGE + ".")
        if top in FORBIDDEN_STDLIB or not (inside or top in sys.stdlib_module_names):
            found.add(f"import {name}")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                found.add(f"call {called}()")
    return found


def test_the_core_folder_has_its_modules() -> None:
    assert {"__init__.py", "events.py", "projection.py"} <= set(MODULES)
    assert ast.get_docstring(ast.parse((CORE / "__init__.py").read_text(encoding="utf-8")))


@pytest.mark.parametrize("module", MODULES)
def test_a_core_module_imports_only_the_standard_library_and_the_core(module: str) -> None:
    assert violations((CORE / module).read_text(encoding="utf-8"), module) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import os\n",
        "import time as clock\n",
        "from logging import getLogger\n",
        "from pathlib import Path\n",
        "import sqlalchemy.orm\n",
        "from twisted.internet import reactor\n",
        "from flask import Flask\n",
        "import socket, subprocess\n",
        "from cti.records import models\n",
        "from cti.records.store import record\n",
        "from .. import models\n",
        "from ..store import record\n",
        "from datetime import datetime\nx = datetime.now()\n",
        "import datetime\nx = datetime.datetime.utcnow()\n",
        "from datetime import date\nx = date.today()\n",
        "x = open('spill.jsonl')\n",
        "import sys\nx = sys.modules['os'].getenv('HOME')\n",
    ],
)
def test_the_contract_would_catch_a_violation(source: str) -> None:
    assert violations(source, "events.py")


def test_the_contract_lets_the_core_import_itself_and_the_standard_library() -> None:
    source = ("from __future__ import annotations\nimport json, uuid\nfrom typing import Any\n"
              "from cti.records.core.events import Fact\nfrom .fields import EventError\n"
              "from . import projection\n")  # fmt: skip
    assert violations(source, "events.py") == set()
