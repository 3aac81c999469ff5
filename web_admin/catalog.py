"""The flow files of a folder, each with its validation result and (cached) picture.

Errors name the file relative to the folder, never the server's absolute path.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from ivr_flows.core.errors import FlowError, FlowInvalid
from ivr_flows.core.model import Flow
from ivr_flows.edges.graph import render_flow_svg
from ivr_flows.loading.loader import load_flow_file

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class FlowEntry:
    slug: str  # file name without .yaml: the flow's address in the console
    file: str
    flow: Flow | None
    errors: tuple[FlowError, ...]

    @property
    def valid(self) -> bool:
        return self.flow is not None and not self.errors


class FlowCatalog:
    """Reads ``flows_dir`` on demand; re-reads a file only when it changed."""

    def __init__(self, flows_dir: str | Path) -> None:
        self.flows_dir = Path(flows_dir)
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[int, int], FlowEntry]] = {}
        self._svgs: dict[Path, tuple[tuple[int, int], str]] = {}

    def _files(self) -> list[Path]:
        return sorted(
            p for p in self.flows_dir.glob("*.yaml") if p.is_file() and SLUG.match(p.stem)
        )

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_mtime_ns, st.st_size

    def _load(self, path: Path) -> FlowEntry | None:
        try:
            stamp = self._stamp(path)
        except FileNotFoundError:  # removed since we listed the folder
            return None
        with self._lock:
            cached = self._entries.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            flow: Flow | None = load_flow_file(path)
            errors: tuple[FlowError, ...] = ()
        except FlowInvalid as exc:
            flow = None
            errors = tuple(replace(e, source=path.name) for e in exc.errors)
        entry = FlowEntry(path.stem, path.name, flow, errors)
        with self._lock:
            self._entries[path] = (stamp, entry)
        return entry

    def entries(self) -> list[FlowEntry]:
        """Every flow file, valid or not; a flow name used by two files is an error in both."""
        entries = [e for e in map(self._load, self._files()) if e is not None]
        names = Counter(e.flow.name for e in entries if e.flow is not None)
        out = []
        for e in entries:
            if e.flow is not None and names[e.flow.name] > 1:
                clash = FlowError(
                    e.file, 1, None, f"flow name {e.flow.name!r} is used by another file too"
                )
                e = replace(e, errors=(*e.errors, clash))
            out.append(e)
        return out

    def entry(self, slug: str) -> FlowEntry | None:
        if not SLUG.match(slug):
            return None
        for e in self.entries():
            if e.slug == slug:
                return e
        return None

    def svg(self, entry: FlowEntry) -> str | None:
        """The picture of a valid flow (drawn once per file version), else None."""
        if entry.flow is None:
            return None
        path = self.flows_dir / entry.file
        stamp = self._stamp(path)
        with self._lock:
            cached = self._svgs.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        svg = render_flow_svg(entry.flow)
        with self._lock:
            self._svgs[path] = (stamp, svg)
        return svg
