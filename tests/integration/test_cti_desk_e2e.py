"""The agent desktop and callbacks for real: SIPp callers -> sandbox Asterisk 22 ->
``hotline run`` -> SIPp agent phones (and a SIPp "customer" behind the trunk), the desktops
as WebSocket clients with real desktop sessions.

A rig of its own (sandbox instance ``ctidesk``, its own ports), so these tests start from a
fresh Asterisk and Hotline: the agents' phones sit on fixed ports, and a late SIP message
of an earlier module's dialog must not reach them. The helpers and fixtures are those of
``test_cti_e2e.py`` (same settings: ring 8 s, a long wrap-up the tests end through the API).
- a call transferred from the desktop to another agent's phone (AMI Hangup of the agent leg);
- a callback asked in the touch menu while callers wait: served in its place, the agent's
  phone first, then the customer's on the trunk.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bench.sipp import AgentBehaviour, Uas, uas_scenario
from ivr_flows.core.messages import message
from ivr_flows.voice.prompts import PromptStore
from tests.integration.test_cti_e2e import (
    AGENT_A,
    AGENT_B,
    DID_OPEN,
    TO_AGENT,
    Call,
    CtiRig,
    _agent,
    _assert_ok,
    _iid,
    _phone,
    _place,
    _said,
    _summary,
    _timeline,
    _wait,
    _wrap_up,
    api,
    records,
    start_rig,
)

pytestmark = pytest.mark.asterisk
__all__ = ["api", "records"]  # fixtures shared with test_cti_e2e.py


class DeskRig(CtiRig):
    instance = "ctidesk"
    sip_port = 18660
    ami_port = 18638
    rtp_start, rtp_end = 23800, 23999


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtiRig]:
    yield from start_rig(tmp_path_factory, DeskRig)


def _settled_phone(rig: CtiRig, agent: str, behaviour: AgentBehaviour, **kw: Any) -> Uas:
    """An agent phone that is still up after 2.5 s. A phone on an agent's fixed port may get
    a late SIP message of an earlier test's dialog (seen: a stray CANCEL) and abort its only
    call at once; then it is started again, on the same port."""
    for _ in range(3):
        phone = _phone(rig, agent, behaviour, **kw)
        time.sleep(2.5)
        if phone.running():
            return phone
        phone.wait(5)
    raise AssertionError(f"{agent}'s phone keeps exiting at start")



# ------------------------------------------------------------------ a call transferred from a desk

def _desk(rig: CtiRig, records: Any, agent: str) -> Any:
    """A desktop socket of ``agent`` (a desktop session of its demo user), after hello."""
    from sqlalchemy import select
    from websockets.sync.client import connect
    from websockets.typing import Origin

    from cti.records import desk_sessions
    from cti.records.models import User
    from tests.chat.harness import Client

    port = int(rig.env["HOTLINE_CHAT_PORT"])
    with records() as session:
        user = session.scalar(select(User.id).where(User.agent_id == agent))
    assert user is not None
    token = desk_sessions.create(records, user, agent, "127.0.0.1")
    client = Client(connect(f"ws://127.0.0.1:{port}/ws", origin=Origin(f"http://127.0.0.1:{port}"),
                            open_timeout=5,
                            additional_headers={"Cookie": f"hotline_desk={token}"}))
    client.send(t="hello", role="agent", resume={})
    client.wait("welcome")
    return client


def test_a_call_transferred_from_the_desktop_reaches_the_other_agent(
        rig: CtiRig, api: httpx.Client, records: Any) -> None:
    """agent1001 answers on its SIPp phone (which then waits for a BYE), sends the call to
    agent1002 from its desktop socket: Hotline hangs up 1001's leg over AMI, the caller hears
    it is being transferred and waits first in line, 1002's phone rings, answers and ends the
    call. One interaction: 1001 wraps up "transferred", 1002 connected and handled it."""
    desks = [_desk(rig, records, AGENT_A), _desk(rig, records, AGENT_B)]
    desk_a, desk_b = desks
    desk_a.send(t="state", state="ready")
    try:
        _wait(lambda: _agent(api, AGENT_A)["state"] == "ready", 10, "agent1001 ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_agent(api, AGENT_A)} {desk_a.seen[-6:]}") from None
    phone_a = _settled_phone(rig, AGENT_A, "answer", timeout_s=90)  # answers, waits for BYE
    phone_b = _settled_phone(rig, AGENT_B, "talk", answer_after_ms=1000, talk_ms=3000,
                             timeout_s=90)
    caller = Call(DID_OPEN, TO_AGENT, "13900000088", timeout_s=90)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            placed = _place(pool, rig, caller)
            try:
                card = desk_a.wait("card", timeout=40, state="connected")
            except TimeoutError:
                raise AssertionError(f"the call never reached agent1001's phone: "
                                     f"{phone_a.wait(1).describe()}") from None
            contact = card["contact"]
            desk_b.send(t="state", state="ready")  # 1002 is there now, not before
            _wait(lambda: _agent(api, AGENT_B)["state"] == "ready", 10, "agent1002 ready")
            desk_a.send(t="transfer", contact=contact, agent=AGENT_B)
            assert desk_a.wait("transferring", contact=contact)["to"] == AGENT_B
            assert phone_a.wait(30).ok  # its leg got the BYE from Asterisk
            desk_a.wait("card_gone", contact=contact, timeout=20)
            assert desk_b.wait("card", contact=contact, timeout=30, state="connected")
            placed.result(timeout=90)
        _assert_ok(caller)
        result_b = phone_b.wait(30)
        assert result_b.ok, result_b.describe()
    finally:
        for client in desks:
            client.close()
    iid = _iid(rig, caller.caller)
    summary = _summary(records, iid)
    assert (summary.agent, summary.outcome) == (AGENT_B, "handled")
    timeline = _timeline(records, iid)
    wrap = [data for kind, data in timeline if kind == "wrap_up"]
    assert wrap[0]["agent"] == AGENT_A and wrap[0]["code"] == "transferred"
    assert [data["agent"] for kind, data in timeline if kind == "connected"] == [AGENT_A, AGENT_B]
    assert [kind for kind, _ in timeline].count("ended") == 1
    told = PromptStore(rig.cfg.prompt_cache_dir, rig.cfg.prompts.format,
                       rig.cfg.prompts.voices).say_text(  # type: ignore[arg-type]
        "zh", message("queue.transfer", "zh"))
    assert any(told in line for line in _said(rig, caller.caller))  # "hold, transferring"


# ------------------------------------------------------------------ a callback keeps its place

def _itr_callback(rig: CtiRig, number: str) -> None:
    """The touch menu of demo_closed (agents closed): talk to an agent -> "call me back" ->
    the number, as a person taps through the pages."""
    base = f"http://127.0.0.1:{rig.env['HOTLINE_ITR_PORT']}"
    token = re.compile(r'name="state" value="([^"]+)"')
    with httpx.Client(base_url=base, timeout=15) as web:
        page = web.get("/f/demo_closed", params={"lang": "en"})
        for key in ("0", "1"):  # talk to an agent (closed) -> call me back
            page = web.post("/f/demo_closed/step",
                            data={"state": token.findall(page.text)[-1], "key": key})
            assert page.status_code == 200, page.text
        page = web.post("/f/demo_closed/callback",
                        data={"state": token.findall(page.text)[-1], "number": number})
        assert page.status_code == 200, page.text
        assert "call you back" in page.text


def _callback_state(records: Any, cid: str) -> str:
    from cti.records import callbacks as store

    info = store.get(records, cid)
    return info.state if info is not None else ""


def test_a_callback_asked_in_the_touch_menu_keeps_its_place_and_rings_agent_then_customer(
        rig: CtiRig, api: httpx.Client, records: Any) -> None:
    """agent1001 is on a call; caller two waits; a customer asks for a callback in the
    touch menu; caller three comes later. Served in that order: caller two, then the
    callback (offered on the desktop, accepted: Hotline rings the agent's SIPp phone, which
    answers, then the customer's SIPp phone on the trunk), then caller three. The callback
    is one interaction with its attempt."""
    from cti.records import callbacks as store

    desk_a = _desk(rig, records, AGENT_A)
    desk_a.send(t="state", state="ready")
    _wait(lambda: _agent(api, AGENT_A)["state"] == "ready", 10, "agent1001 ready")
    phone_a = _settled_phone(rig, AGENT_A, "talk", calls=4, answer_after_ms=500, talk_ms=4000,
                             timeout_s=200)
    customer = Uas(calls=1, timeout_s=200, port=rig.trunk_port,
                   scenario_xml=uas_scenario("answer")).start()
    first, second, third = (Call(DID_OPEN, TO_AGENT, f"1390000010{i}", timeout_s=150)
                            for i in (1, 2, 3))
    number = "13900000199"
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            placed = [_place(pool, rig, first)]
            _wait(lambda: _agent(api, AGENT_A)["state"] == "busy", 30, "the first call")
            placed.append(_place(pool, rig, second))
            two = _iid(rig, second.caller)
            _wait(lambda: _summary(records, two, ended=False).outcome == "queued", 30,
                  "the second caller waiting")
            _itr_callback(rig, number)
            cid = next(i.id for i in store.waiting(records) if i.number == number)
            time.sleep(1.0)
            placed.append(_place(pool, rig, third))
            three = _iid(rig, third.caller)
            _wait(lambda: _summary(records, three, ended=False).outcome == "queued", 30,
                  "the third caller waiting")
            deadline = time.monotonic() + 150
            offered_at = None
            while time.monotonic() < deadline:
                if _agent(api, AGENT_A)["state"] == "wrap_up":
                    _wrap_up(api, AGENT_A, "done")
                try:
                    frame = desk_a.next(0.5)
                except TimeoutError:
                    frame = {}
                if frame.get("t") == "offer" and frame.get("contact") == cid:
                    assert frame["medium"] == "callback" and frame["customer"] == number
                    offered_at = time.monotonic()
                    desk_a.send(t="accept", contact=cid)
                if all(f.done() for f in placed) and offered_at is not None and \
                        _callback_state(records, cid) == "done":
                    break
            for f in placed:
                f.result(timeout=10)
        for call in (first, second, third):
            _assert_ok(call)
        assert offered_at is not None, "the callback was never offered"
        result = customer.wait(30)
        assert result.ok, result.describe()
        result = phone_a.wait(30)
        assert result.ok, result.describe()
    finally:
        desk_a.close()
    info = store.get(records, cid)
    assert info is not None and (info.state, info.attempts, info.outcome) == (
        "done", 1, "answered")
    summary = _summary(records, cid)
    assert (summary.channel, summary.agent, summary.outcome) == ("callback", AGENT_A,
                                                                 "handled")
    attempts = [data for kind, data in _timeline(records, cid) if kind == "callback_attempt"]
    assert attempts == [{"attempt": 1, "agent": AGENT_A, "result": "answered",
                         "cause": "ANSWER"}]
    # served in the order of their places in line
    answered = {name: _summary(records, iid).answered_at
                for name, iid in (("two", two), ("callback", cid), ("three", three))}
    assert answered["two"] < answered["callback"] < answered["three"], answered
    # the agent's phone first: the customer is dialled only from the answered agent channel
    log_text = rig.sandbox_box.log_since(0)
    assert f"HOTLINE callback id={cid} dialling the customer" in log_text
