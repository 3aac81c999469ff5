"""Agents' sessions survive a CTI restart: who was logged in, ready or not ready, and why.

The routing engine keeps agent state in memory; this store writes the logged-in agents to a
small JSON file (atomically, at most once a second) whenever an agent's state changes, and
replays them into a fresh engine at start. Agents who were ringing, talking or wrapping up
when the CTI stopped come back *not ready* (``cti_restart``): their calls went to the
dialplan's fallback, and they press ready when they are.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cti.routing import commands as c
from cti.routing import events as e
from cti.service.service import CtiService

log = logging.getLogger(__name__)
SAVE_DELAY_S = 1.0


class AgentStore:
    def __init__(self, path: Path, service: CtiService,
                 profiles: dict[str, dict[str, int]]) -> None:
        self.path = path
        self.service = service
        self.profiles = profiles
        self._pending: Any = None
        service.agent_listeners.append(self._changed)

    def _changed(self, _change: c.AgentStateChanged) -> None:
        if self._pending is None or not self._pending.active():
            self._pending = self.service.reactor.callLater(SAVE_DELAY_S, self.save)

    def save(self) -> None:
        self._pending = None
        agents = [
            {"agent_id": v.agent_id, "state": v.state, "reason": v.reason,
             "max_chats": v.max_chats}
            for v in self.service.engine.agents() if v.state != "logged_out"
        ]
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"agents": agents}, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("agent sessions not saved to %s: %s", self.path, exc.strerror)

    def restore(self) -> int:
        """Log the saved agents back in; returns how many."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.error("agent sessions in %s unreadable (%s); agents must log in again",
                      self.path, exc)
            return 0
        restored = 0
        for item in data.get("agents", []):
            agent = str(item.get("agent_id", ""))
            if agent not in self.profiles:
                continue
            max_chats = item.get("max_chats", 5)
            self.service.apply(e.AgentLoggedIn(agent, dict(self.profiles[agent]),
                                               int(max_chats) if isinstance(max_chats, int)
                                               else 5, ready=False))
            state, reason = item.get("state"), item.get("reason")
            if state == "ready":
                self.service.apply(e.AgentReady(agent))
            elif state == "not_ready" and isinstance(reason, str) and reason:
                self.service.apply(e.AgentNotReady(agent, reason[:32]))
            else:
                self.service.apply(e.AgentNotReady(agent, "cti_restart"))
            restored += 1
        log.info("cti: restored %d agent session(s) from %s", restored, self.path)
        return restored
