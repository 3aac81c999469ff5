"""A parsed flow document with the line of every value (what validation needs to name
``file:line`` in its errors); made by ``ivr_flows.loading.yaml_lines``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Located:
    """A parsed document plus the 1-based line of each path (tuple of keys / indexes)."""

    value: Any
    lines: dict[tuple[Any, ...], int]

    def line(self, *path: Any) -> int:
        """Line of the deepest known prefix of ``path``."""
        p = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p, 1)
