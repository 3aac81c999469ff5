"""The agent API: agents log in, go ready / not ready, and finish wrap-up over HTTP (JSON).

A Twisted resource, so requests run on the reactor thread, the one thread that owns the
routing engine; every request is one use case of ``cti.agents.desk.AgentDesk`` (which reaches
live state through the gateway), and its ``AgentError`` becomes a 4xx JSON answer here.
Every request needs ``Authorization: Bearer <token>``: the operator token ``cti.api_token``
(``var/api.token``: acts for every agent, for the CLI and integrations) or an agent's desktop
session token (acts for that agent only: its own state and contacts). Errors are JSON
``{"error": code, "message": ...}`` with a 4xx status; nothing a client sends reaches the
engine unchecked.

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
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from cti.agents.desk import AgentDesk, AgentError

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
STATUS = {"not_found": 404, "invalid": 400, "conflict": 409}
SessionAgent = Callable[[str], "Deferred[str | None]"]  # desktop session token -> its agent


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AgentApi(Resource):
    isLeaf = True

    def __init__(self, desk: AgentDesk, token: str,
                 session_agent: SessionAgent | None = None) -> None:
        super().__init__()
        if not token:
            raise ValueError("the agent API needs a token (cti.api_token)")
        self.desk = desk
        self.token = token.encode()
        self.session_agent = session_agent

    # ------------------------------------------------------------------ plumbing

    def render(self, request: Request) -> bytes | int:
        """The operator token (``cti.api_token``) acts for every agent; a desktop session
        token acts only for its own agent (looked up off the reactor thread)."""
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        given = self._bearer(request)
        if given is not None and not hmac.compare_digest(given, self.token) and \
                self.session_agent is not None and 0 < len(given) <= 100:
            def failed(failure: Any) -> None:
                log.error("agent API session lookup failed: %s", failure.value)
                self._answer(request, None)

            d = self.session_agent(given.decode("ascii", "replace"))
            d.addCallbacks(lambda agent: self._answer(request, agent), failed)
            return NOT_DONE_YET
        try:
            if given is None or not hmac.compare_digest(given, self.token):
                raise ApiError(401, "unauthorized", "send Authorization: Bearer <cti.api_token>"
                               " or a desktop session token")
            return self._json(request, self._route(request, None))
        except (AgentError, ApiError) as err:
            return self._error(request, err)

    def _answer(self, request: Request, agent: str | None) -> None:
        if getattr(request, "_disconnected", False):
            return
        try:
            if agent is None:
                raise ApiError(401, "unauthorized", "the session has ended: sign in again")
            out = self._json(request, self._route(request, agent))
        except (AgentError, ApiError) as err:
            out = self._error(request, err)
        request.write(out)
        request.finish()

    @staticmethod
    def _json(request: Request, body: Any) -> bytes:
        return json.dumps(body, ensure_ascii=False).encode()

    @staticmethod
    def _error(request: Request, err: AgentError | ApiError) -> bytes:
        request.setResponseCode(STATUS[err.kind] if isinstance(err, AgentError) else err.status)
        return json.dumps({"error": err.code, "message": err.message}).encode()

    @staticmethod
    def _bearer(request: Request) -> bytes | None:
        header = request.getHeader(b"authorization") or b""
        scheme, _, given = header.partition(b" ")
        return given.strip() if scheme.lower() == b"bearer" and given.strip() else None

    def _body(self, request: Request) -> dict[str, Any]:
        raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too_large", f"request body over {MAX_BODY} bytes")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(400, "bad_json", "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "the request body must be a JSON object")
        return data

    def _route(self, request: Request, only: str | None) -> Any:
        """``only``: the one agent a session token acts for (None: the operator token)."""
        method = request.method.decode()
        parts = [p.decode("utf-8", "replace") for p in (request.postpath or []) if p]
        if not parts or parts[0] != "api":
            raise ApiError(404, "not_found", "no such resource")
        parts = parts[1:]
        desk = self.desk
        if method == "GET" and parts == ["agents"]:
            return {"agents": [asdict(a) for a in desk.agents()
                               if only is None or a.agent_id == only]}
        if method == "GET" and parts == ["queues"]:
            return {"queues": [asdict(q) for q in desk.queues()]}
        if method == "GET" and len(parts) == 2 and parts[0] == "contacts":
            view = desk.contact(parts[1])
            if only is not None and view.agent != only:
                raise ApiError(404, "unknown_contact", "no such contact of yours")
            return asdict(view)
        if len(parts) == 3 and parts[0] == "agents":
            if method != "POST":
                raise ApiError(405, "method_not_allowed", "use POST")
            if only is not None and parts[1] != only:
                raise ApiError(403, "not_yours", "a desktop session acts for its own agent")
            return self._agent_action(parts[1], parts[2], self._body(request))
        raise ApiError(404, "not_found", "no such resource")

    def _agent_action(self, agent_id: str, action: str, body: dict[str, Any]) -> Any:
        desk = self.desk
        if action == "login":
            view = desk.login(agent_id, body.get("max_chats"))
        elif action == "ready":
            view = desk.ready(agent_id)
        elif action == "not-ready":
            view = desk.not_ready(agent_id, body.get("reason", "break"))
        elif action == "logout":
            view = desk.logout(agent_id)
        elif action == "wrap-up":
            view = desk.wrap_up(agent_id, body.get("code", ""), body.get("notes", ""))
        else:
            desk.check_agent(agent_id)  # an unknown agent is a 404 before an unknown action
            raise ApiError(404, "unknown_action", f"no agent action {action!r}")
        return asdict(view)
