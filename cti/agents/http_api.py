"""The agent API: agents log in, go ready / not ready, and finish wrap-up over HTTP (JSON).

A Twisted resource, so requests run on the reactor thread, the one thread that owns the
routing engine (through ``CtiService.apply``). Every request needs
``Authorization: Bearer <cti.api_token>``. Errors are JSON ``{"error": code, "message": ...}``
with a 4xx status; nothing a client sends reaches the engine unchecked.

    GET  /api/agents                    every agent's state (logged out included)
    GET  /api/queues                    waiting, longest wait, agents, estimated wait
    GET  /api/contacts/<id>             one contact: queue, position, state, agent
    POST /api/agents/<id>/login         {"max_chats": 5}  (skills come from configuration)
    POST /api/agents/<id>/ready
    POST /api/agents/<id>/not-ready     {"reason": "break"}
    POST /api/agents/<id>/logout
    POST /api/agents/<id>/wrap-up       {"code": "resolved", "notes": "..."}  ends after-call work
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from cti.routing import events as e
from cti.service.service import CtiService

log = logging.getLogger(__name__)

AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
REASON = re.compile(r"[a-z][a-z0-9_]{0,31}")
CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_BODY = 16 * 1024
MAX_NOTES = 2000


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AgentApi(Resource):
    isLeaf = True

    def __init__(self, service: CtiService, token: str, agents: Mapping[str, Mapping[str, int]],
                 max_chats: int = 5,
                 last_contact: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        if not token:
            raise ValueError("the agent API needs a token (cti.api_token)")
        self.service = service
        self.token = token.encode()
        self.agents = agents  # agent id -> skills, from configuration
        self.max_chats = max_chats
        self.last_contact = last_contact or (lambda _agent: None)

    # ------------------------------------------------------------------ plumbing

    def render(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        try:
            self._authorise(request)
            body = self._route(request)
            return json.dumps(body, ensure_ascii=False).encode()
        except ApiError as err:
            request.setResponseCode(err.status)
            return json.dumps({"error": err.code, "message": err.message}).encode()

    def _authorise(self, request: Request) -> None:
        header = request.getHeader(b"authorization") or b""
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <cti.api_token>")

    def _body(self, request: Request) -> dict[str, Any]:
        raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too_large", f"request body over {MAX_BODY} bytes")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_json", "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "the request body must be a JSON object")
        return data

    def _route(self, request: Request) -> Any:
        method = request.method.decode()
        parts = [p.decode("utf-8", "replace") for p in (request.postpath or []) if p]
        if not parts or parts[0] != "api":
            raise ApiError(404, "not_found", "no such resource")
        parts = parts[1:]
        if method == "GET" and parts == ["agents"]:
            return {"agents": [asdict(a) for a in self.service.engine.agents()]}
        if method == "GET" and parts == ["queues"]:
            now = self.service.reactor.seconds()
            return {"queues": [asdict(q) for q in self.service.engine.queue_stats(now)]}
        if method == "GET" and len(parts) == 2 and parts[0] == "contacts":
            view = self.service.engine.contact(parts[1])
            if view is None:
                raise ApiError(404, "unknown_contact", "no such contact")
            return asdict(view)
        if len(parts) == 3 and parts[0] == "agents":
            if method != "POST":
                raise ApiError(405, "method_not_allowed", "use POST")
            return self._agent_action(parts[1], parts[2], self._body(request))
        raise ApiError(404, "not_found", "no such resource")

    # ------------------------------------------------------------------ agent actions

    def _agent_action(self, agent_id: str, action: str, body: dict[str, Any]) -> Any:
        if not AGENT_ID.fullmatch(agent_id) or agent_id not in self.agents:
            raise ApiError(404, "unknown_agent", "no such agent in the configuration")
        event: e.Event
        if action == "login":
            max_chats = body.get("max_chats", self.max_chats)
            if isinstance(max_chats, bool) or not isinstance(max_chats, int) \
                    or not 0 <= max_chats <= 20:
                raise ApiError(400, "bad_max_chats", "max_chats is a whole number 0..20")
            event = e.AgentLoggedIn(agent_id, dict(self.agents[agent_id]), max_chats)
        elif action == "ready":
            event = e.AgentReady(agent_id)
        elif action == "not-ready":
            reason = body.get("reason", "break")
            if not isinstance(reason, str) or not REASON.fullmatch(reason):
                raise ApiError(400, "bad_reason", "reason is a short code like 'break'")
            event = e.AgentNotReady(agent_id, reason)
        elif action == "logout":
            event = e.AgentLoggedOut(agent_id)
        elif action == "wrap-up":
            self._record_wrap_up(agent_id, body)
            event = e.WrapUpEnded(agent_id)
        else:
            raise ApiError(404, "unknown_action", f"no agent action {action!r}")
        commands = self.service.apply(event)
        rejected = [cmd for cmd in commands if type(cmd).__name__ == "Rejected"]
        if rejected:
            raise ApiError(409, getattr(rejected[0], "reason", "rejected"),
                           f"{action} not possible in the agent's current state")
        return asdict(self.service.engine.agent_state(agent_id))

    def _record_wrap_up(self, agent_id: str, body: dict[str, Any]) -> None:
        code = body.get("code", "")
        notes = body.get("notes", "")
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise ApiError(400, "bad_code", "code is a wrap-up code like 'resolved'")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise ApiError(400, "bad_notes", f"notes are text of at most {MAX_NOTES} chars")
        contact = self.last_contact(agent_id)
        if contact is not None:
            self.service.record(contact, "wrap_up", agent=agent_id, code=code, notes=notes)


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
