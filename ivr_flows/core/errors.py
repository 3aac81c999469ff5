"""Errors a flow file can have, each naming the file, the line and the node."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowError:
    source: str
    line: int
    node: str | None
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        if self.node:
            return f"{where}: node '{self.node}': {self.message}"
        return f"{where}: {self.message}"


class FlowInvalid(ValueError):
    """Raised when a flow file does not validate; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FlowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
