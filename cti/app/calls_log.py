"""The calls log: every finished FastAGI call as one JSON line of ``<data_dir>/calls.jsonl``.

What the handler saw and did (flow, path, exit, variables); the end-to-end tests and the
voice benchmark read it. The FastAGI factory's ``on_outcome`` hook only hands the finished
``CallOutcome`` (immutable) to the background thread: formatting, writing and flushing happen
there, never on the reactor. The file stays open; it is reopened if it was moved away or
deleted (log rotation).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ivr_flows.voice.session import CallOutcome

log = logging.getLogger(__name__)


def outcome_record(outcome: CallOutcome) -> dict[str, Any]:
    """One finished call as plain JSON data."""
    ex = outcome.exit
    return {
        "flow": outcome.flow, "uniqueid": outcome.uniqueid, "ended": outcome.ended,
        "reason": outcome.reason, "commands": outcome.commands,
        "exit": None if ex is None else {
            "kind": ex.kind, "node": ex.node, "target": ex.target, "priority": ex.priority,
            "skills": dict(ex.skills), "attributes": dict(ex.attributes), "reason": ex.reason},
        "path": [[p.node, p.input] for p in outcome.path],
        "state": dict(outcome.state),
    }


class CallsLog:
    """Appends outcomes to ``path``; ``write`` runs on the background thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._ino: int | None = None

    def _open(self) -> IO[str]:
        try:
            ino: int | None = self.path.stat().st_ino
        except OSError:
            ino = None
        if self._fh is None or ino != self._ino:
            if self._fh is not None:
                self._fh.close()
            self._fh = self.path.open("a", encoding="utf-8")
            self._ino = os.fstat(self._fh.fileno()).st_ino
        return self._fh

    def write(self, outcome: CallOutcome) -> None:
        try:
            fh = self._open()
            fh.write(json.dumps(outcome_record(outcome), ensure_ascii=False, default=str) + "\n")
            fh.flush()
        except OSError as exc:
            log.warning("calls log %s not written: %s", self.path, exc.strerror)
            self._fh = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def calls_log_hook(path: Path, submit: Callable[[Callable[[], None]], None]
                   ) -> Callable[[CallOutcome], None]:
    """The FastAGI ``on_outcome`` hook: the outcome goes to the background thread."""
    calls = CallsLog(path)

    def on_outcome(outcome: CallOutcome) -> None:
        submit(lambda: calls.write(outcome))

    return on_outcome
