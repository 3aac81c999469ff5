"""The house (ARCHITECTURE.md): layers and no import cycles, checked on the whole tree.

- ``ivr_flows`` never imports ``cti`` or ``web_admin``; ``asterisk_conf`` never imports
  ``cti``; only the composition root (``cti/app/``) imports ``web_admin`` and
  ``asterisk_conf``; product code never imports ``tests`` or ``bench``;
- no import cycle between modules anywhere, counting imports inside functions too (imports
  under ``if TYPE_CHECKING:`` aside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cti", "ivr_flows", "web_admin", "asterisk_conf")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "migrations" not in p.parts}


def imported(name: str, path: Path) -> set[str]:
    """Every module or package name ``name`` imports, with relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(x) for n in ast.walk(tree) if isinstance(n, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(n.test) for x in ast.walk(n)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    deps: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges = set()
        for target in imported(name, path):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        deps[name] = edges
    return deps


def cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in deps:
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(deps.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def offenders(deps: dict[str, set[str]], src: str, banned: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} -> {d}" for m, ds in deps.items() if m.split(".")[0] == src
                  for d in ds if d.split(".")[0] in banned)


def test_flows_never_import_the_cti_or_the_console() -> None:
    assert offenders(graph(), "ivr_flows", ("cti", "web_admin")) == []


def test_asterisk_conf_never_imports_the_cti() -> None:
    assert offenders(graph(), "asterisk_conf", ("cti", "web_admin")) == []


def test_only_the_composition_root_imports_the_console_and_asterisk_conf() -> None:
    deps = graph()
    bad = sorted(f"{m} -> {d}" for m, ds in deps.items()
                 if m.split(".")[0] == "cti" and not m.startswith("cti.app")
                 for d in ds if d.split(".")[0] in ("web_admin", "asterisk_conf"))
    assert bad == []


def test_product_code_never_imports_tests_or_bench() -> None:
    mods = modules()
    bad = sorted(f"{m} -> {t}" for m, p in mods.items() for t in imported(m, p)
                 if t.split(".")[0] in ("tests", "bench"))
    assert bad == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_would_catch_a_cycle() -> None:
    deps = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(deps) == [["a", "b", "c"]]
    assert offenders({"ivr_flows.x": {"cti.app.config"}}, "ivr_flows", ("cti",)) == \
        ["ivr_flows.x -> cti.app.config"]


def test_nothing_outside_the_service_reads_the_engine() -> None:
    """Live state is reached through the gateway: no ``x.engine`` outside cti/service and the
    composition root (which builds the engine and hands it to the service)."""
    allowed = ("cti.service", "cti.routing", "cti.app.wiring")
    bad = []
    for name, path in modules().items():
        if name.startswith(allowed):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{name}:{n.lineno}" for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr == "engine"
                and not ast.unparse(n.value).startswith("sqlalchemy")]
    assert bad == []


def test_the_cti_service_runs_without_loading_sqlalchemy() -> None:
    """Only cti/records (its store, not its pure core) imports SQLAlchemy."""
    import subprocess
    import sys

    code = ("import sys, cti.service.service, cti.service.gateway, cti.channels.voice.entry, "
            "cti.agents.http_api; print('sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
