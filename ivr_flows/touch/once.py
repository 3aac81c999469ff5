"""One-time keys for the touch page's side effects (in process, bounded in size and time).

The page is stateless: its interpreter state travels signed in the form, so an old page can
be posted again (the browser's back button and "resend", a double tap, a copied request).
A step with an effect (an ``action`` whose HTTP method is not GET, texting a link, handing a
finished session to the CTI) therefore carries a one-time key of its session
(``session.Journey.key``). ``OnceKeys.run(key, issued, fn)`` runs ``fn`` the first time a key
is used and answers every later use with what that first run gave (the page is shown again;
nothing runs twice). Two posts at once: the second waits for the first.

Bounds: a key is kept ``ttl_s`` (the signed state's maximum age: a state older than that is
refused anyway, so its keys can no longer be posted) and at most ``max_keys`` are kept (the
oldest go first; a warning says so, as their pages could run again).

What does not survive a restart: the keys live in this process only. So a side effect
whose page (``issued``, the session's issue time) is older than this store is refused with
``IssuedBeforeStart`` (the person starts again) rather than risk running it twice; pages
without side effects go on across a restart. Several ITR processes behind one address
would each need the same store (not built: one process serves the ITR).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_KEYS = 50_000  # ~10 MB at most; a side effect per session is the usual
WAIT_S = 40.0  # longer than any action's timeout (at most 30 s): the first run is done by then


class IssuedBeforeStart(Exception):
    """The page was issued before this process started: its key may have been used."""

    code = "state_expired"


class StillRunning(Exception):
    """The first use of the key is still running after ``WAIT_S``."""

    code = "busy"


@dataclass
class _Use:
    expires: float
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    ok: bool = False


class OnceKeys:
    def __init__(
        self,
        ttl_s: float,
        *,
        max_keys: int = MAX_KEYS,
        wall: Callable[[], float] = time.time,
        wait_s: float = WAIT_S,
    ) -> None:
        if ttl_s <= 0 or max_keys <= 0:
            raise ValueError("OnceKeys needs a positive ttl_s and max_keys")
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self.wall = wall
        self.wait_s = wait_s
        self.since = int(wall())  # keys used before this are unknown (another process)
        self.evicted = 0
        self._lock = threading.Lock()
        self._uses: OrderedDict[str, _Use] = OrderedDict()

    def __len__(self) -> int:
        return len(self._uses)

    def run(self, key: str, issued: float, fn: Callable[[], T]) -> T:
        """``fn()`` the first time ``key`` is used; that first value on every later use."""
        if issued < self.since:
            raise IssuedBeforeStart(key)
        while True:
            with self._lock:
                now = self.wall()
                self._forget_old(now)
                use = self._uses.get(key)
                mine = use is None
                if use is None:
                    use = self._uses[key] = _Use(now + self.ttl_s)
            if mine:
                return self._first(key, use, fn)
            if not use.done.wait(self.wait_s):
                raise StillRunning(key)
            if use.ok:
                value: T = use.value
                return value
            # the first run failed (raised): its key was given back, try again

    def _first(self, key: str, use: _Use, fn: Callable[[], T]) -> T:
        try:
            use.value = fn()
            use.ok = True
        finally:
            if not use.ok:  # it raised: give the key back (the error goes on up)
                with self._lock:
                    if self._uses.get(key) is use:
                        del self._uses[key]
            use.done.set()
        value: T = use.value
        return value

    def _forget_old(self, now: float) -> None:
        """Expired keys (the oldest are first: one ``ttl_s`` for all), then the oldest
        beyond ``max_keys``."""
        uses = self._uses
        while uses:
            first = next(iter(uses.values()))
            if first.expires > now:
                break
            uses.popitem(last=False)
        while len(uses) >= self.max_keys:
            uses.popitem(last=False)
            self.evicted += 1
            if self.evicted == 1 or self.evicted % 1000 == 0:
                log.warning(
                    "itr: %d one-time keys forgotten before they expired (more than "
                    "%d side effects within %.0f s)",
                    self.evicted,
                    self.max_keys,
                    self.ttl_s,
                )
