"""House rule 1 for the realtime core: ``cti/realtime/core`` is pure.

Every module of the folder (globbed, so a module added later is covered) imports only the
standard library's pure modules and the core itself, and calls nothing that reads the clock,
the environment or a file.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "cti" / "realtime" / "core"
PACKAGE = "cti.realtime.core"
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
    "datetime",
    "uuid",
    "secrets",
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
    "__import__",
    "import_module",
}


def violations(source: str, module: str = "x.py") -> set[str]:
    package = [*PACKAGE.split("."), *Path(module).parts[:-1]]
    found: set[str] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names = [".".join([*base, *([node.module] if node.module else [])])]
        for name in names:
            inside = name == PACKAGE or name.startswith(PACKAGE + ".")
            top = name.split(".")[0]
            if top in FORBIDDEN_STDLIB or not (inside or top in sys.stdlib_module_names):
                found.add(f"import {name}")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                found.add(f"call {called}()")
    return found


def test_the_core_folder_has_its_modules() -> None:
    assert {"__init__.py", "frames.py", "handshake.py"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_core_module_imports_only_the_pure_standard_library(module: str) -> None:
    assert violations((CORE / module).read_text(encoding="utf-8"), module) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import time\n",
        "from twisted.internet import reactor\n",
        "import autobahn\n",
        "from cti.realtime import server\n",
        "from .. import connection\n",
        "from logging import getLogger\n",
        "x = open('f')\n",
        "import os\nos.getenv('X')\n",
    ],
)
def test_the_contract_would_catch_a_violation(source: str) -> None:
    assert violations(source, "frames.py")


def test_the_contract_lets_the_core_import_itself_and_pure_modules() -> None:
    source = "import json, re, math\nfrom .frames import FrameError\nfrom typing import Any\n"
    assert violations(source, "handshake.py") == set()
