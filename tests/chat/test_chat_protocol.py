"""Chat over the real WebSocket layer, without a browser: a customer and agents' desktops
against the wired chat site (engine, journal, records on SQLite)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from cti.records import chat as store
from cti.records.models import Interaction, InteractionEvent
from tests.chat.harness import Client, Site, chat_site


def open_chat(site: Site, customer: Client, text: str = "hello", cid: str = "c1"
              ) -> tuple[str, dict[str, Any]]:
    customer.send(t="hello", role="customer", visitor=None, lang="en", resume={})
    welcome = customer.wait("welcome")
    assert welcome["open"] is True
    customer.send(t="send", conv=None, cid=cid, text=text)
    ack = customer.wait("ack", cid=cid)
    return ack["conv"], welcome


def desk(site: Site, agent_id: str, username: str) -> Client:
    agent = site.agent(site.agent_cookie(username, agent_id))
    agent.send(t="hello", role="agent", resume={})
    agent.wait("welcome")
    agent.wait("agent")
    return agent


def records(site: Site, conv: str, kind: str | None = None, timeout: float = 5.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        with site.sf() as s:
            q = select(InteractionEvent).where(InteractionEvent.interaction_id == conv)
            rows = list(s.scalars(q))
        if kind is None or any(r.type == kind for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_chat_is_stored_offered_accepted_and_answered(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer, "where is my order?")
        offer = agent.wait("offer", contact=conv)
        assert offer["medium"] == "chat" and offer["expires_in"] > 0
        agent.send(t="accept", contact=conv)
        assert customer.wait("joined", conv=conv)["name"] == "alice"
        first = agent.wait("msg", conv=conv)
        assert (first["seq"], first["from"], first["text"]) == (1, "customer",
                                                                "where is my order?")
        agent.send(t="send", conv=conv, cid="a1", text="It ships today.")
        assert agent.wait("ack", cid="a1")["seq"] == 2
        reply = customer.wait("msg", conv=conv, seq=2)
        assert (reply["from"], reply["text"]) == ("agent", "It ships today.")
        transcript = store.transcript(site.sf, conv)
        assert [(m.seq, m.sender, m.body) for m in transcript] == [
            (1, "customer", "where is my order?"), (2, "agent", "It ships today.")]


def test_a_resent_message_is_acknowledged_again_and_stored_once(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer, "one")
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        agent.wait("msg", conv=conv, seq=1)
        customer.send(t="send", conv=conv, cid="c1", text="one")  # the resend
        assert customer.wait("ack", cid="c1")["seq"] == 1
        customer.send(t="send", conv=conv, cid="c2", text="two")
        assert customer.wait("ack", cid="c2")["seq"] == 2
        got = [f for f in agent.quiet(0.5) if f["t"] == "msg"]
        assert [f["seq"] for f in got] == [2]
        assert [m.client_id for m in store.transcript(site.sf, conv)] == ["c1", "c2"]


def test_a_reconnecting_customer_gets_exactly_what_it_missed(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, welcome = open_chat(site, customer, "hi")
        customer.wait("msg", conv=conv, seq=1)
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        customer.close()
        for i in range(3):
            agent.send(t="send", conv=conv, cid=f"a{i}", text=f"answer {i}")
            agent.wait("ack", cid=f"a{i}")
        again = site.customer()
        again.send(t="hello", role="customer", visitor=welcome["visitor"], lang="en",
                   resume={conv: 2})
        assert again.wait("welcome")["conv"] == conv
        msgs = [f for f in again.quiet(0.8) if f["t"] == "msg"]
        assert [(f["seq"], f["text"]) for f in msgs] == [(3, "answer 1"), (4, "answer 2")]


def test_an_agent_at_capacity_gets_no_more_chat_offers(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, max_chats=2) as site:
        agent = desk(site, "agent1001", "alice")
        convs = []
        for n in range(3):
            customer = site.customer()
            conv, _ = open_chat(site, customer, f"chat {n}", cid=f"c{n}")
            convs.append(conv)
            if n < 2:
                agent.wait("offer", contact=conv)
                agent.send(t="accept", contact=conv)
                agent.wait("card", contact=conv)
        state = [f for f in agent.seen if f["t"] == "agent"][-1]
        assert (state["chats"], state["max_chats"]) == (2, 2)
        assert not [f for f in agent.quiet(0.5) if f["t"] == "offer"]
        view = site.on_reactor(site.cti.gateway.contact, convs[2])
        assert view is not None and view.state == "waiting"


def test_an_offer_not_accepted_in_time_goes_to_the_next_agent(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, ring_timeout_s=1) as site:
        slow = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer)
        slow.wait("offer", contact=conv)
        fast = desk(site, "agent1002", "bob")
        assert slow.wait("offer_gone", contact=conv, timeout=4)["why"] == "timeout"
        fast.wait("offer", contact=conv, timeout=4)
        fast.send(t="accept", contact=conv)
        assert customer.wait("joined")["name"] == "bob"
        assert slow.wait("agent", state="not_ready")["reason"] == "missed"  # as a phone


def test_end_wrap_up_and_records(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer, "bye soon")
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        customer.wait("joined", conv=conv)
        customer.send(t="end", conv=conv)
        assert agent.wait("ended", conv=conv)["by"] == "customer"
        assert agent.wait("card", contact=conv)["state"] == "wrap_up"
        agent.send(t="wrapup", contact=conv, code="resolved", notes="told them")
        agent.wait("card_gone", contact=conv)
        kinds = [r.type for r in records(site, conv, "wrap_up")]
        for kind in ("interaction_started", "queued", "offered", "connected", "ended",
                     "wrap_up"):
            assert kind in kinds
        time.sleep(0.3)
        with site.sf() as s:
            row = s.get(Interaction, conv)
            assert row is not None and row.channel == "chat" and row.agent == "agent1001"
            assert row.wrap_up_code == "resolved"


def test_an_agent_sees_only_their_own_contacts(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        alice = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer)
        alice.wait("offer", contact=conv)
        bob = desk(site, "agent1002", "bob")
        bob.send(t="accept", contact=conv)
        assert bob.wait("error")["code"] == "not_yours"
        bob.send(t="send", conv=conv, cid="b1", text="let me in")
        assert bob.wait("error")["code"] == "not_yours"


def test_a_desktop_without_a_valid_session_is_refused(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        intruder = site.agent("forged-token")
        intruder.send(t="hello", role="agent", resume={})
        assert intruder.wait("error")["code"] == "not_signed_in"
        with pytest.raises(ConnectionClosed):
            intruder.next(2)


def test_a_foreign_origin_is_refused(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site, pytest.raises(InvalidStatus):
        connect(site.ws, origin=Origin("http://evil.example"), open_timeout=5)


def test_no_agent_means_leave_a_message_which_reaches_the_next_shift(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        customer = site.customer()
        customer.send(t="hello", role="customer", visitor=None, lang="zh", resume={})
        welcome = customer.wait("welcome")
        assert (welcome["open"], welcome["reason"]) == (False, "no_agents")
        customer.send(t="send", conv=None, cid="c1", text="anyone?")
        assert customer.wait("error")["code"] == "no_agents"
        customer.send(t="leave_message", cid="m1", text="please call me", name="Li",
                      phone="13800138000")
        ref = customer.wait("left", cid="m1")["ref"]
        agent = desk(site, "agent1001", "alice")
        offer = agent.wait("offer", contact=ref)
        assert offer["customer"] == "Li"
        agent.send(t="accept", contact=ref)
        msg = agent.wait("msg", conv=ref, seq=1)
        assert msg["text"] == "please call me"


def test_malformed_and_oversized_frames_get_errors_and_lose_nothing(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer)
        customer.ws.send("{not json")
        assert customer.wait("error")["code"] == "bad_frame"
        customer.send(t="send", conv=conv, cid="big", text="x" * 20000)
        assert customer.wait("error")["code"] in ("frame_too_big", "bad_field")
        customer.send(t="send", conv=conv, cid="c2", text="still here")
        assert customer.wait("ack", cid="c2")["seq"] == 2


def test_after_a_restart_both_sides_resume_and_nothing_is_lost(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, welcome = open_chat(site, customer, "before")
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        agent.wait("msg", conv=conv, seq=1)
        agent.send(t="send", conv=conv, cid="a1", text="answer")
        agent.wait("ack", cid="a1")
        token = site.agent_cookie("alice", "agent1001")
    with chat_site(tmp_path, empty_db_url) as site:  # same database: a restart
        agent = site.agent(token)
        agent.send(t="hello", role="agent", resume={conv: 2})
        agent.wait("welcome")
        customer = site.customer()
        customer.send(t="hello", role="customer", visitor=welcome["visitor"], lang="en",
                      resume={conv: 2})
        assert customer.wait("welcome")["conv"] == conv
        offer = agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=offer["contact"])
        customer.send(t="send", conv=conv, cid="c3", text="after")
        assert customer.wait("ack", cid="c3")["seq"] == 3
        assert agent.wait("msg", conv=conv, seq=3)["text"] == "after"
        assert [m.seq for m in store.transcript(site.sf, conv)] == [1, 2, 3]


def screen_pop(site: Site, contact: str) -> dict[str, Any]:
    import httpx

    token = site.agent_cookie("alice", "agent1001")
    reply = httpx.get(f"{site.url}/desk/api/contacts/{contact}/pop",
                      cookies={"hotline_desk": token}, timeout=10)
    assert reply.status_code == 200, reply.text
    pop: dict[str, Any] = reply.json()
    return pop


def test_a_call_shows_on_the_desktop_and_is_wrapped_up_there(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cti.records.core.events import InteractionStarted, IvrSegment, RecordEvent
    from cti.routing import events as e

    with chat_site(tmp_path) as site:
        agent = desk(site, "agent1001", "alice")
        gw = site.cti.gateway
        now = datetime.now(UTC)
        for event in (
            RecordEvent.of("call-0", now - timedelta(days=2), InteractionStarted(
                "voice", {"phone": "13800138000"}, "4008001234", "demo_400")),
            RecordEvent.of("call-1", now, InteractionStarted(
                "voice", {"phone": "13800138000"}, "4008001234", "demo_400")),
            RecordEvent.of("call-1", now, IvrSegment(
                (("main", "1"), ("order_id", "123#"), ("agent_queue", "")), ())),
        ):
            site.writer.submit(event)
        records(site, "call-1", IvrSegment.KIND)
        arrived = e.ContactArrived("call-1", "voice", "service", 0, {"general": 1},
                                   {"order_id": "123"}, "13800138000")
        site.on_reactor(site.cti.service.add_contact, site.cti.voice, arrived)
        ringing = agent.wait("card", contact="call-1")
        assert (ringing["medium"], ringing["state"], ringing["customer"]) == (
            "voice", "ringing", "13800138000")
        site.on_reactor(gw.command, e.OfferAccepted("call-1", "agent1001"))
        assert agent.wait("card", contact="call-1")["state"] == "connected"
        pop = screen_pop(site, "call-1")  # what the caller did in the IVR, recorded before
        assert pop["context"]["ivr_path"] == ["main", "order_id", "agent_queue"]
        assert pop["context"]["entered"]["order_id"] == "123#"
        assert pop["context"]["attributes"] == {"order_id": "123"}
        assert [h["id"] for h in pop["history"]] == ["call-0"]  # the earlier call, not this
        site.on_reactor(gw.command, e.ContactEnded("call-1"))
        assert agent.wait("card", contact="call-1")["state"] == "wrap_up"
        agent.send(t="wrapup", contact="call-1", code="resolved", notes="fixed")
        agent.wait("card_gone", contact="call-1")
        assert "wrap_up" in [r.type for r in records(site, "call-1", "wrap_up")]


def test_a_chat_transferred_to_another_agent_reaches_only_that_agent(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        alice = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer, "I need bob")
        alice.wait("offer", contact=conv)
        alice.send(t="accept", contact=conv)
        alice.wait("card", contact=conv)
        bob = desk(site, "agent1002", "bob")
        alice.send(t="transfer", contact=conv, agent="agent1002")
        alice.wait("card_gone", contact=conv)
        customer.wait("transferred", conv=conv)
        bob.wait("offer", contact=conv)
        bob.send(t="accept", contact=conv)
        assert customer.wait("joined", conv=conv)["name"] == "bob"
        assert bob.wait("msg", conv=conv, seq=1)["text"] == "I need bob"
        alice.send(t="transfer", contact=conv, agent="agent1002")
        assert alice.wait("error")["code"] == "not_yours"


def test_signing_out_closes_the_sessions_open_desktops_at_once(tmp_path: Path) -> None:
    import json
    import re

    import httpx

    with chat_site(tmp_path) as site:
        token = site.agent_cookie("alice", "agent1001")
        open_tab = site.agent(token)
        open_tab.send(t="hello", role="agent", resume={})
        open_tab.wait("agent")
        with httpx.Client(base_url=site.url, cookies={"hotline_desk": token},
                          timeout=10) as http:
            page = http.get("/desk/")
            assert page.status_code == 200
            cfg = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page.text,
                            re.S)
            assert cfg is not None
            csrf = json.loads(cfg.group(1))["csrf_token"]
            out = http.post("/desk/logout", data={"csrf_token": csrf})
            assert out.status_code in (302, 303)
        assert open_tab.wait("error")["code"] == "session_ended"
        with pytest.raises(ConnectionClosed):
            open_tab.next(3)
        again = site.agent(token)
        again.send(t="hello", role="agent", resume={})
        assert again.wait("error")["code"] == "not_signed_in"


def test_a_new_chat_hears_its_place_in_the_queue(tmp_path: Path) -> None:
    with chat_site(tmp_path, max_chats=1) as site:
        agent = desk(site, "agent1001", "alice")
        first = site.customer()
        conv1, _ = open_chat(site, first, "one", cid="a")
        agent.wait("offer", contact=conv1)
        agent.send(t="accept", contact=conv1)
        agent.wait("card", contact=conv1)
        second = site.customer()
        conv2, _ = open_chat(site, second, "two", cid="b")
        second.quiet(0.3)
        places = [f for f in second.seen if f.get("t") == "queue" and f.get("conv") == conv2]
        assert places and places[0]["position"] == 1
        reply = [f for f in agent.quiet(0.3) if f.get("t") == "msg"]
        agent.send(t="send", conv=conv1, cid="r1", text="hello from alice")
        msg = first.wait("msg", conv=conv1, seq=2)
        assert (msg["from"], msg["name"]) == ("agent", "alice")
        assert not [f for f in reply if f.get("conv") == conv2]


def test_a_merchant_verified_identity_joins_the_chat_to_that_callers_history(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cti.channels.chat.customer import sign_identity, verify_identity
    from cti.records.core.events import InteractionStarted, RecordEvent
    from cti.records.customers import find_customer, normalize
    from cti.records.history import customer_history

    secret = "merchant-secret-" + "m" * 16
    claims = {"customer_id": "A-7", "name": "Zhang Wei", "phone": "13800138000",
              "exp": time.time() + 600}
    assert verify_identity(secret, sign_identity("wrong-secret", claims)) == {}
    assert verify_identity(secret, sign_identity(secret, {**claims, "exp": 1})) == {}
    assert verify_identity(secret, sign_identity(secret, claims) + "0") == {}
    with chat_site(tmp_path, merchant_secret=secret) as site:
        site.writer.submit(RecordEvent.of("call-earlier", datetime.now(UTC), InteractionStarted(
            "voice", {"phone": "13800138000"}, "4008001234", "demo_400")))
        desk(site, "agent1001", "alice")
        customer = site.customer()
        customer.send(t="hello", role="customer", visitor=None, lang="zh",
                      identity=sign_identity(secret, claims), resume={})
        customer.wait("welcome")
        customer.send(t="send", conv=None, cid="c1", text="你好")
        conv = customer.wait("ack", cid="c1")["conv"]
        deadline = time.monotonic() + 5
        while True:
            with site.sf() as s:
                owner = find_customer(s, normalize("phone", "13800138000"))
                ids = [i.id for i in customer_history(s, owner)] if owner else []
            if conv in ids or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert set(ids) == {conv, "call-earlier"}


def test_the_desktop_lists_queues_and_signed_in_agents_as_transfer_targets(
        tmp_path: Path) -> None:
    import httpx

    with chat_site(tmp_path) as site:
        alice = site.agent_cookie("alice", "agent1001")
        desk(site, "agent1002", "bob")
        reply = httpx.get(f"{site.url}/desk/api/queues?lang=en",
                          cookies={"hotline_desk": alice}, timeout=10)
        assert reply.status_code == 200
        targets = reply.json()["queues"]
        assert ["service", "service"] in targets
        assert ["agent:agent1002", "Agent agent1002"] in targets
        assert not [t for t in targets if t[0] == "agent:agent1001"]  # not to oneself
        assert httpx.get(f"{site.url}/desk/api/queues", timeout=10).status_code == 401


def test_a_wrap_up_that_runs_out_takes_the_card_off_the_desktop(tmp_path: Path) -> None:
    with chat_site(tmp_path, wrap_up_s=1) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer)
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        customer.wait("joined", conv=conv)
        agent.send(t="end", conv=conv)
        agent.wait("card", contact=conv, state="wrap_up")
        agent.wait("card_gone", contact=conv, timeout=4)
        assert agent.wait("agent", state="ready")["chats"] == 0


def test_opening_the_desktop_signs_in_not_ready_until_the_agent_presses_ready(
        tmp_path: Path) -> None:
    with chat_site(tmp_path, ready_on_sign_in=False) as site:
        agent = site.agent(site.agent_cookie("alice", "agent1001"))
        agent.send(t="hello", role="agent", resume={})
        first = agent.wait("agent")
        assert (first["state"], first["reason"]) == ("not_ready", "login")
        customer = site.customer()
        customer.send(t="hello", role="customer", visitor=None, lang="en", resume={})
        assert customer.wait("welcome")["reason"] == "no_agents"
        agent.send(t="state", state="ready")
        assert agent.wait("agent", state="ready")["reason"] == ""
        conv, _ = open_chat(site, site.customer())
        agent.wait("offer", contact=conv)


def test_a_connected_call_is_transferred_from_the_desktop_by_hanging_up_the_agents_leg(
        tmp_path: Path) -> None:
    """The desk side of a call transfer (the caller's side runs on the sandbox Asterisk in
    tests/integration/test_cti_e2e.py): the frame hangs up the agent's leg over AMI."""
    from cti.routing import events as e

    with chat_site(tmp_path) as site:
        alice = desk(site, "agent1001", "alice")
        bob = desk(site, "agent1002", "bob")
        bob.send(t="state", state="not_ready", reason="break")
        bob.wait("agent")
        voice = site.cti.voice
        legs: list[str] = []
        voice.hang_up = legs.append
        arrived = e.ContactArrived("call-9", "voice", "service", 0, {"general": 1}, {},
                                   "13800138009")
        contact = site.on_reactor(voice.enter, "uid-9", arrived)
        alice.wait("card", contact="call-9")
        site.on_reactor(voice.ringing, contact, "agent1001")
        bob.send(t="transfer", contact="call-9", queue="service")
        assert bob.wait("error")["code"] == "not_yours"  # nobody else's call to move
        alice.send(t="transfer", contact="call-9", agent="agent1002")
        assert alice.wait("error")["code"] == "not_connected"  # still ringing
        assert site.on_reactor(voice.answered, "uid-9", "agent1001", "PJSIP/agent1001-7")
        assert alice.wait("card", contact="call-9")["state"] == "connected"
        alice.send(t="transfer", contact="call-9", agent="nobody")
        assert alice.wait("error")["code"] == "agent_unavailable"
        alice.send(t="transfer", contact="call-9", agent="agent1002")
        assert alice.wait("transferring", contact="call-9")["to"] == "agent1002"
        assert legs == ["PJSIP/agent1001-7"]
        alice.send(t="transfer", contact="call-9", agent="agent1002")  # once is enough
        assert alice.wait("error")["code"] == "not_connected"
        site.on_reactor(voice.leave, contact)


def test_the_widget_asks_for_a_callback_which_is_stored_before_it_is_confirmed(
        tmp_path: Path, empty_db_url: str) -> None:
    from cti.records import callbacks as store

    with chat_site(tmp_path, empty_db_url) as site:
        customer = site.customer()
        customer.send(t="hello", role="customer", visitor=None, lang="en", resume={})
        customer.wait("welcome")
        customer.send(t="callback", cid="k1", phone="call me on 138")
        assert customer.wait("error", ref="k1")["code"] == "bad_number"
        customer.send(t="callback", cid="k2", phone="138 0013 8000")
        ok = customer.wait("callback_ok", cid="k2")
        info = store.get(site.sf, ok["ref"])
        assert info is not None and (info.number, info.source, info.queue, info.state) == (
            "13800138000", "chat", "callbacks", "waiting")
        customer.send(t="callback", cid="k2", phone="138 0013 8000")  # a resend
        assert customer.wait("callback_ok", cid="k2")["ref"] == ok["ref"]
        assert [i.id for i in store.waiting(site.sf)] == [ok["ref"]]  # one request
        # it waits in line like any contact: the next agent is offered it on the desktop
        agent = desk(site, "agent1001", "alice")
        offer = agent.wait("offer", contact=ok["ref"])
        assert (offer["medium"], offer["customer"]) == ("callback", "13800138000")
        agent.send(t="reject", contact=ok["ref"])
        agent.wait("offer_gone", contact=ok["ref"])
