"""One background thread for the small file writes the reactor must never wait on.

The calls log (one JSON line per finished call) and the agent-session file are written here,
in the order they were submitted; the reactor thread only hands over a function. ``close``
runs what is still queued and ends the thread (the composition root calls it after the
reactor stops, so the last agent-session save and the last calls are on disk).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
Job = Callable[[], None]


class Background:
    def __init__(self, name: str = "hotline-files") -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.failed = 0

    def submit(self, job: Job) -> None:
        """Run ``job()`` on the background thread, after every job submitted before it."""
        self._jobs.put(job)

    def close(self, timeout: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a failed write is logged and counted; the next one runs
                self.failed += 1
                log.exception("background file write failed")
