"""Agents' sessions survive a CTI restart: who was logged in, ready or not ready, and why.

The routing engine keeps agent state in memory; this store writes the logged-in agents to a
small JSON file (atomically, at most once a second) whenever an agent's state changes, and
replays them into a fresh engine at start. Agents who were ringing, talking or wrapping up
when the CTI stopped come back *not ready* (``cti_restart``): their calls went to the
dialplan's fallback, and they press ready when they are.

It reads and changes live state only through the gateway. The reactor thread only takes the
snapshot; the file is written by ``offload`` (the composition root's background thread),
so no file I/O happens on the reactor. ``restore`` runs once at start, before the reactor.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cti.routing import events as e
from cti.service.gateway import Change, Gateway

log = logging.getLogger(__name__)
SAVE_DELAY_S = 1.0
Offload = Callable[[Callable[[], None]], None]


class AgentStore:
    def __init__(self, path: Path, gateway: Gateway, profiles: Mapping[str, Mapping[str, int]],
                 offload: Offload, chat_while_voice: bool = False) -> None:
        self.path = path
        self.chat_while_voice = chat_while_voice
        self.gateway = gateway
        self.profiles = profiles
        self.offload = offload
        self._pending: Any = None
        gateway.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        if change.kind != "agent":
            return
        if self._pending is None or not self._pending.active():
            self._pending = self.gateway.call_later(SAVE_DELAY_S, self.save)

    def save(self) -> None:
        """Snapshot the logged-in agents now; the file is written in the background."""
        self._pending = None
        agents = [
            {"agent_id": v.agent_id, "state": v.state, "reason": v.reason,
             "max_chats": v.max_chats}
            for v in self.gateway.agents() if v.state != "logged_out"
        ]
        text = json.dumps({"agents": agents}, indent=1)
        self.offload(lambda: self._write(text))

    def _write(self, text: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
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
        items = data.get("agents", []) if isinstance(data, dict) else []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            agent = str(item.get("agent_id", ""))
            if agent not in self.profiles:
                continue
            max_chats = item.get("max_chats", 5)
            self.gateway.command(e.AgentLoggedIn(
                agent, dict(self.profiles[agent]),
                max_chats if isinstance(max_chats, int) and 0 <= max_chats <= 20 else 5,
                self.chat_while_voice, ready=False))
            state, reason = item.get("state"), item.get("reason")
            if state == "ready":
                self.gateway.command(e.AgentReady(agent))
            elif state == "not_ready" and isinstance(reason, str) and reason:
                self.gateway.command(e.AgentNotReady(agent, reason[:32]))
            else:
                self.gateway.command(e.AgentNotReady(agent, "cti_restart"))
            restored += 1
        log.info("cti: restored %d agent session(s) from %s", restored, self.path)
        return restored
