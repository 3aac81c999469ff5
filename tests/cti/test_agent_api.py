"""The agent API: log in, ready, not ready, wrap-up — over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twisted.internet import reactor as global_reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import blockingCallFromThread
from twisted.web.server import Site

from cti.agents.desk import AgentDesk, parse_skills
from cti.agents.http_api import AgentApi
from cti.routing import events as e
from cti.routing.config import QueueConfig
from cti.routing.engine import Engine
from cti.service.gateway import Gateway
from cti.service.service import CtiService

TOKEN = "s3cret-token-for-tests"
reactor: Any = global_reactor


class Records:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def submit(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[None]:
    if not reactor.running:
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  daemon=True)
        thread.start()
        while not reactor.running:
            pass
    yield


@pytest.fixture()
def api(running_reactor: None) -> Iterator[tuple[str, CtiService, Records]]:
    records = Records()
    service = CtiService(Engine({"service": QueueConfig("service")}), records, reactor)
    desk = AgentDesk(Gateway(service, reactor), {"agent1001": {"general": 1}, "agent1002": {}})
    sessions = {"session-of-1001": "agent1001"}  # desktop session tokens (in the records)
    resource = AgentApi(desk, TOKEN, lambda token: deferLater(reactor, 0.01, sessions.get,
                                                              token))
    port = blockingCallFromThread(reactor, reactor.listenTCP, 0, Site(resource),
                                  interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}", service, records
    blockingCallFromThread(reactor, port.stopListening)


def call(base: str, method: str, path: str, body: Any = None,
         token: str = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body if isinstance(body, bytes) else (None if body is None else json.dumps(body))
    return httpx.request(method, base + path, headers=headers, content=content, timeout=5)


def test_an_agent_logs_in_goes_not_ready_and_ready(api: Any) -> None:
    base, _service, _ = api
    r = call(base, "POST", "/api/agents/agent1001/login")
    assert r.status_code == 200 and r.json()["state"] == "ready"
    r = call(base, "POST", "/api/agents/agent1001/not-ready", {"reason": "lunch"})
    assert (r.json()["state"], r.json()["reason"]) == ("not_ready", "lunch")
    assert call(base, "POST", "/api/agents/agent1001/ready").json()["state"] == "ready"
    agents = call(base, "GET", "/api/agents").json()["agents"]
    assert [a["agent_id"] for a in agents] == ["agent1001"]
    assert call(base, "GET", "/api/queues").json()["queues"][0]["name"] == "service"


def test_requests_without_the_token_are_refused(api: Any) -> None:
    base, _, _ = api
    for token in ("", "wrong"):
        r = call(base, "POST", "/api/agents/agent1001/login", token=token)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_bad_requests_get_a_4xx_with_a_reason(api: Any) -> None:
    base, _, _ = api
    assert call(base, "POST", "/api/agents/nobody/login").status_code == 404
    assert call(base, "POST", "/api/agents/agent1001/dance").json()["error"] == "unknown_action"
    assert call(base, "POST", "/api/agents/agent1001/login", b"{not json").json()["error"] == \
        "bad_json"
    assert call(base, "POST", "/api/agents/agent1001/login", b"x" * 20000).status_code == 413
    r = call(base, "POST", "/api/agents/agent1001/not-ready", {"reason": "<script>\n"})
    assert r.status_code == 400 and r.json()["error"] == "bad_reason"
    assert call(base, "GET", "/api/agents/agent1001/login").status_code == 405
    assert call(base, "GET", "/api/contacts/none").status_code == 404


def test_an_impossible_transition_is_a_conflict(api: Any) -> None:
    base, _, _ = api
    r = call(base, "POST", "/api/agents/agent1002/ready")  # never logged in
    assert r.status_code == 409


def test_wrap_up_records_the_code_on_the_last_contact(api: Any) -> None:
    base, service, records = api
    call(base, "POST", "/api/agents/agent1001/login")

    def deliver_call() -> None:
        class Handle:
            medium = "voice"

            def deliver(self, contact_id: str, command: Any) -> None:
                pass

            def find(self, transport_key: str) -> str | None:
                return None

        service.add_contact(Handle(), e.ContactArrived("call-9", "voice", "service", 5,
                                                       {"general": 1}))
        service.apply(e.OfferAccepted("call-9", "agent1001"))
        service.apply(e.ContactEnded("call-9"))

    blockingCallFromThread(reactor, deliver_call)
    assert service.agent("agent1001").state == "wrap_up"
    r = call(base, "POST", "/api/agents/agent1001/wrap-up", {"code": "resolved", "notes": "ok"})
    assert r.status_code == 200 and r.json()["state"] == "ready"
    wrap = [ev for ev in records.events if ev.type == "wrap_up"]
    assert wrap and wrap[0].interaction_id == "call-9" and wrap[0].data["code"] == "resolved"


def test_a_refused_wrap_up_is_not_recorded(api: Any) -> None:
    base, _service, records = api
    call(base, "POST", "/api/agents/agent1001/login")  # ready: no wrap-up in progress
    r = call(base, "POST", "/api/agents/agent1001/wrap-up", {"code": "resolved"})
    assert r.status_code == 409 and r.json()["error"] == "no_wrap_up"
    assert not [ev for ev in records.events if ev.type == "wrap_up"]


def test_a_deeply_nested_body_is_a_400_json_answer(api: Any) -> None:
    base, _, _ = api
    r = call(base, "POST", "/api/agents/agent1001/login", b"[" * 5000 + b"]" * 5000)
    assert r.status_code == 400 and r.json()["error"] == "bad_json"


def test_skill_specs_are_parsed_and_checked() -> None:
    assert parse_skills("general:1, address_change:2") == {"general": 1, "address_change": 2}
    with pytest.raises(ValueError, match="bad skill"):
        parse_skills("general=1")


class Ignored:
    """A contact's channel that takes every command (the agent API never talks to it)."""

    medium = "voice"

    def deliver(self, contact_id: str, command: Any) -> None:
        pass

    def find(self, transport_key: str) -> str | None:
        return None


def into_wrap_up(service: CtiService, contact_id: str) -> None:
    """agent1001 (logged in) takes ``contact_id`` and the contact ends: after-call work."""

    def handled() -> None:
        service.add_contact(Ignored(), e.ContactArrived(contact_id, "voice", "service", 5,
                                                        {"general": 1}))
        service.apply(e.OfferAccepted(contact_id, "agent1001"))
        service.apply(e.ContactEnded(contact_id))

    blockingCallFromThread(reactor, handled)
    assert service.agent("agent1001").state == "wrap_up"


def test_wrap_up_notes_with_nul_are_a_400_and_nothing_changes(api: Any) -> None:
    base, service, records = api
    call(base, "POST", "/api/agents/agent1001/login")
    into_wrap_up(service, "call-nul")
    for notes in ("called back\x00", "bell\x07", "esc\x1b[31m"):
        r = call(base, "POST", "/api/agents/agent1001/wrap-up",
                 {"code": "resolved", "notes": notes})
        assert r.status_code == 400 and r.json()["error"] == "bad_notes"
        assert "control characters" in r.json()["message"]
    assert service.agent("agent1001").state == "wrap_up"  # still in after-call work
    assert not [ev for ev in records.events if ev.type == "wrap_up"]


def test_wrap_up_notes_keep_tabs_and_line_breaks(api: Any) -> None:
    base, service, records = api
    call(base, "POST", "/api/agents/agent1001/login")
    into_wrap_up(service, "call-lines")
    r = call(base, "POST", "/api/agents/agent1001/wrap-up",
             {"code": "resolved", "notes": "line 1\r\nline 2\n\tindented"})
    assert r.status_code == 200
    (wrap,) = [ev for ev in records.events if ev.type == "wrap_up"]
    assert wrap.data["notes"] == "line 1\nline 2\n\tindented"  # CR is no line of its own


def test_a_desktop_session_token_acts_for_its_own_agent_only(api: Any) -> None:
    base, _service, _ = api
    mine = "session-of-1001"
    r = call(base, "POST", "/api/agents/agent1001/login", token=mine)
    assert r.status_code == 200 and r.json()["state"] == "ready"
    assert call(base, "POST", "/api/agents/agent1002/login").status_code == 200  # operator
    other = call(base, "POST", "/api/agents/agent1002/logout", token=mine)
    assert (other.status_code, other.json()["error"]) == (403, "not_yours")
    seen = call(base, "GET", "/api/agents", token=mine).json()["agents"]
    assert [a["agent_id"] for a in seen] == ["agent1001"]
    assert call(base, "GET", "/api/agents").json()["agents"][1]["agent_id"] == "agent1002"
    stale = call(base, "POST", "/api/agents/agent1001/ready", token="ended-session")
    assert (stale.status_code, stale.json()["error"]) == (401, "unauthorized")
