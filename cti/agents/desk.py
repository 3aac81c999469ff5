"""What an agent does, as use cases: log in, ready, not ready, log out, wrap up.

Each reads as a checklist: check the agent, check the arguments, then act through the
gateway (the only door into live state). A precondition that fails raises ``AgentError``
with a stable ``code`` (and a ``kind`` the edges map to their own words: HTTP statuses in
``http_api.py``, exit codes in the CLI client); what the engine refuses comes back as its
own stable reason (``already_logged_in``, ``no_wrap_up`` ...). Runs on the reactor thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cti.records.core.events import WrapUp
from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.agents import AgentView
from cti.routing.queues import ContactView, QueueStats
from cti.service.gateway import Gateway

AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
REASON = re.compile(r"[a-z][a-z0-9_]{0,31}")
CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NOTES = 2000
# NUL and the other C0 controls but tab and line breaks: no keyboard types them, PostgreSQL
# refuses NUL; a client that sends them has a bug worth a clear answer
NOTES_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MAX_CHATS = 20

ErrorKind = Literal["not_found", "invalid", "conflict"]


class AgentError(Exception):
    """A refused agent action: ``code`` is stable and machine-readable."""

    def __init__(self, kind: ErrorKind, code: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.code, self.message = kind, code, message


@dataclass
class AgentDesk:
    gateway: Gateway
    profiles: Mapping[str, Mapping[str, int]]  # agent id -> skills, from configuration
    max_chats: int = 5
    chat_while_voice: bool = False  # the configured rule for a call offer while chatting

    # ------------------------------------------------------------------ reads

    def agents(self) -> list[AgentView]:
        return self.gateway.agents()

    def queues(self) -> list[QueueStats]:
        return self.gateway.queues()

    def contact(self, contact_id: str) -> ContactView:
        view = self.gateway.contact(contact_id)
        if view is None:
            raise AgentError("not_found", "unknown_contact", "no such contact")
        return view

    # ------------------------------------------------------------------ actions

    def login(self, agent_id: str, max_chats: object = None, ready: bool = True) -> AgentView:
        self.check_agent(agent_id)
        chats = self.max_chats if max_chats is None else max_chats
        if isinstance(chats, bool) or not isinstance(chats, int) or not 0 <= chats <= MAX_CHATS:
            raise AgentError("invalid", "bad_max_chats",
                             f"max_chats is a whole number 0..{MAX_CHATS}")
        return self._act("login", agent_id,
                         e.AgentLoggedIn(agent_id, dict(self.profiles[agent_id]), chats,
                                         self.chat_while_voice, ready))

    def ready(self, agent_id: str) -> AgentView:
        self.check_agent(agent_id)
        return self._act("ready", agent_id, e.AgentReady(agent_id))

    def not_ready(self, agent_id: str, reason: object = "break") -> AgentView:
        self.check_agent(agent_id)
        if not isinstance(reason, str) or not REASON.fullmatch(reason):
            raise AgentError("invalid", "bad_reason", "reason is a short code like 'break'")
        return self._act("not-ready", agent_id, e.AgentNotReady(agent_id, reason))

    def logout(self, agent_id: str) -> AgentView:
        self.check_agent(agent_id)
        return self._act("logout", agent_id, e.AgentLoggedOut(agent_id))

    def wrap_up(self, agent_id: str, code: object, notes: object = "", *,
                contact: str = "", record: bool = True) -> AgentView:
        """End after-call work: of ``contact`` (an agent with several chats wraps each up on
        its own), else of everything; the code and notes land on that contact, else on the
        one the agent last had (``record=False``: the caller records them itself).
        Refused by the engine (no wrap-up in progress): nothing is recorded."""
        self.check_agent(agent_id)
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise AgentError("invalid", "bad_code", "code is a wrap-up code like 'resolved'")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise AgentError("invalid", "bad_notes",
                             f"notes are text of at most {MAX_NOTES} chars")
        if NOTES_CONTROL.search(notes):
            raise AgentError("invalid", "bad_notes",
                             "notes must not contain NUL or other control characters "
                             "(tabs and line breaks are fine)")
        about = contact or self.gateway.last_contact(agent_id)
        view = self._act("wrap-up", agent_id, e.WrapUpEnded(agent_id, contact))
        if about is not None and record:
            self.gateway.record(about, WrapUp(agent_id, code, notes))
        return view

    # ------------------------------------------------------------------ checks

    def check_agent(self, agent_id: str) -> None:
        if not AGENT_ID.fullmatch(agent_id) or agent_id not in self.profiles:
            raise AgentError("not_found", "unknown_agent", "no such agent in the configuration")

    def _act(self, action: str, agent_id: str, event: e.Event) -> AgentView:
        commands = self.gateway.command(event)
        rejected = next((cmd for cmd in commands if isinstance(cmd, c.Rejected)), None)
        if rejected is not None:
            raise AgentError("conflict", rejected.reason,
                             f"{action} not possible in the agent's current state")
        return self.gateway.agent(agent_id)


def personal_skill(agent_id: str) -> str:
    """The skill only ``agent_id`` has: a contact requiring it waits for that agent alone
    (how a transfer to one agent is routed, through the same queues)."""
    return f"agent:{agent_id}"


def parse_skills(spec: str) -> dict[str, int]:
    """``"general:1,address_change:2"`` -> ``{"general": 1, "address_change": 2}``."""
    skills: dict[str, int] = {}
    for part in spec.split(","):
        name, _, level = part.strip().partition(":")
        if not name:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name) or not level.strip().isdigit():
            raise ValueError(f"bad skill {part!r}: write name:level, e.g. general:1")
        skills[name] = int(level)
    return skills
