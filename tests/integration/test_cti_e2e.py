"""The CTI for real: SIPp callers -> sandbox Asterisk 22 -> ``hotline run`` (IVR, then the
CTI queue) -> SIPp agent phones, agents logged in through the agent API.

One rig per module (``CtiRig``: tests/integration/voice.py's rig on its own sandbox
instance ``cti`` and ports, so it can run beside the voice e2e tests). The agent phones
agent1001/agent1002 do not register: they are static contacts on two 127.0.0.1 ports
(``HOTLINE_ASTERISK_AGENT_CONTACTS``), where each test starts a SIPp UAS that behaves as it
needs (answer after N s and hang up after M s of talk, ring and never answer, 486).
Routing settings are short: ring 8 s (Dial 6 s), announcements every 8 s, a long wrap-up
that the agent ends through the API (so "after the wrap-up" is a moment the test chooses).

Callers dial demo_open (short prompts, agents' schedule always open) and press 0 for an
agent. The tests check who got which call in which order (records: connected times), the
ring-no-answer re-queueing, an abandon, the records' customer timeline, and a CTI killed
with a call waiting (fallback in the dialplan; restart: call recorded, agents restored,
AMI resynced).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.sipp import AgentBehaviour, Uas, free_port, uas_scenario
from cti.channels.voice.entry import interaction_id
from cti.records.customers import find_customer, normalize
from cti.records.db import dispose, make_session_factory
from cti.records.history import customer_history, get_interaction, interaction_timeline
from ivr_flows.core.messages import message
from ivr_flows.voice.prompts import PromptStore
from tests.integration.conftest import _cannot_run
from tests.integration.voice import DID_OPEN, Call, VoiceRig

pytestmark = pytest.mark.asterisk

AGENT_A, AGENT_B = "agent1001", "agent1002"
RING_TIMEOUT_S = 8  # cti.ring_timeout_s: the voice channel dials for 8 s
TO_AGENT = [(2000, "0")]  # demo_open: 0 at the main menu -> agent_queue (queue "service")


class CtiRig(VoiceRig):
    instance = "cti"
    sip_port = 18560
    ami_port = 18538
    rtp_start, rtp_end = 23400, 23799
    agent_ports: dict[str, int]
    trunk_port: int


def start_rig(tmp_path_factory: pytest.TempPathFactory, cls: type[CtiRig] = CtiRig
              ) -> Iterator[CtiRig]:
    """The module's rig (``cls``: its sandbox instance and ports)."""
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    ports = {AGENT_A: free_port(), AGENT_B: free_port()}
    contacts = ",".join(f"{a}=sip:{a}@127.0.0.1:{p}" for a, p in ports.items())
    trunk_port = free_port()  # the "carrier" a callback calls the customer through
    extra = {
        "HOTLINE_ASTERISK_AGENT_CONTACTS": contacts,
        "HOTLINE_ASTERISK_TRUNK_CONTACT": f"sip:trunk@127.0.0.1:{trunk_port}",
        "HOTLINE_CTI_RING_TIMEOUT_S": str(RING_TIMEOUT_S),
        "HOTLINE_CTI_WRAP_UP_S": "120",
        "HOTLINE_CTI_ANNOUNCE_EVERY_S": "8",  # longer than an announcement
        "HOTLINE_CTI_CHAT_WHILE_VOICE": "true",  # an agent in a chat may take a call
        "HOTLINE_CHAT_IGNORE_HOURS": "true",
    }
    for attempt in (1, 2):
        try:
            rig = cls.start(tmp_path_factory.mktemp("cti-e2e"), extra)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        try:
            _wait(lambda r=rig: "AMI resync" in r.server_log_text(), 20, "the CTI's AMI login")
            break
        except AssertionError:
            # its ports are probed free, then bound: another process may take one between
            # (seen: "Address already in use", the server gone); once more, on fresh ports
            rig.close()
            if attempt == 2 or "Address already in use" not in rig.server_log_text():
                raise
    rig.agent_ports = ports
    rig.trunk_port = trunk_port
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtiRig]:
    yield from start_rig(tmp_path_factory)


@pytest.fixture
def api(rig: CtiRig) -> Iterator[httpx.Client]:
    """The agent API client; every agent is logged out again after the test."""
    client = httpx.Client(base_url=rig.api_url, timeout=5.0,
                          headers={"Authorization": f"Bearer {rig.api_token}"})
    try:
        yield client
    finally:
        if rig.server is not None and rig.server.poll() is None:
            for agent in (AGENT_A, AGENT_B):
                if _agent(client, agent).get("wrap_up"):  # also a call's, under a live chat
                    client.post(f"/api/agents/{agent}/wrap-up", json={"code": "cleanup"})
                client.post(f"/api/agents/{agent}/logout")
        client.close()


@pytest.fixture
def records(rig: CtiRig) -> Iterator[Any]:
    factory = make_session_factory(f"sqlite:///{rig.data_dir / 'hotline.db'}")
    try:
        yield factory
    finally:
        dispose(factory)


# ------------------------------------------------------------------ helpers

def _wait(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def _agents(api: httpx.Client) -> dict[str, dict[str, Any]]:
    reply = api.get("/api/agents")
    reply.raise_for_status()
    return {a["agent_id"]: a for a in reply.json()["agents"]}


def _agent(api: httpx.Client, agent: str) -> dict[str, Any]:
    return _agents(api).get(agent, {"agent_id": agent, "state": "logged_out", "reason": None})


def _login(api: httpx.Client, agent: str, *, not_ready: str | None = None) -> None:
    reply = api.post(f"/api/agents/{agent}/login", json={})
    assert reply.status_code == 200, reply.text
    if not_ready:
        reply = api.post(f"/api/agents/{agent}/not-ready", json={"reason": not_ready})
        assert reply.status_code == 200, reply.text
    assert _agent(api, agent)["state"] == ("not_ready" if not_ready else "ready")


def _wrap_up(api: httpx.Client, agent: str, code: str) -> None:
    reply = api.post(f"/api/agents/{agent}/wrap-up", json={"code": code, "notes": "e2e"})
    assert reply.status_code == 200, reply.text


def _phone(rig: CtiRig, agent: str, behaviour: AgentBehaviour, *, calls: int = 1,
           answer_after_ms: int = 1000, talk_ms: int = 3000, timeout_s: int = 60) -> Uas:
    xml = uas_scenario(behaviour, answer_after_ms=answer_after_ms, talk_ms=talk_ms)
    return Uas(calls=calls, timeout_s=timeout_s, port=rig.agent_ports[agent],
               scenario_xml=xml).start()


def _place(pool: ThreadPoolExecutor, rig: CtiRig, call: Call, delay_s: float = 0.0
           ) -> Future[list[Call]]:
    def run() -> list[Call]:
        time.sleep(delay_s)
        return rig.run_calls([call])

    return pool.submit(run)


def _assert_ok(call: Call) -> None:
    assert call.result is not None and call.result.ok, \
        call.result.describe() if call.result else "not run"


def _iid(rig: CtiRig, caller: str) -> str:
    uid = _wait(lambda: rig.agi_env(caller).get("agi_uniqueid"), 10, f"the call of {caller}")
    return interaction_id(uid)


def _summary(records: Any, iid: str, *, ended: bool = True, timeout_s: float = 10.0) -> Any:
    """The interaction's summary once the (asynchronous) records writer has written it."""
    def read() -> Any:
        with records() as session:
            found = get_interaction(session, iid)
        return found if found is not None and (found.ended_at is not None or not ended) \
            else None

    return _wait(read, timeout_s, f"the records of {iid}")


def _timeline(records: Any, iid: str) -> list[tuple[str, dict[str, Any]]]:
    with records() as session:
        return [(ev.type, ev.data) for ev in interaction_timeline(session, iid)]


def _said(rig: CtiRig, caller: str) -> list[str]:
    return [line for d, line in rig.agi_traffic(caller) if d == ">"]


# ------------------------------------------------------------------ AMI: static-contact phones

def test_static_contact_agent_phones_are_reachable(rig: CtiRig, api: httpx.Client) -> None:
    """A phone on a static contact (no registration, no qualify): Asterisk's view of it, and
    the CTI does not make a ready agent "unreachable" because of it."""
    shown = rig.sandbox_box.cli(f"pjsip show endpoint {AGENT_A}")
    m = re.search(rf"Endpoint:\s+{AGENT_A}\S*\s+(\w[\w ]*?)\s{{2,}}", shown)
    assert m, shown
    print(f"pjsip endpoint {AGENT_A} state: {m.group(1)!r}")
    assert m.group(1) != "Unavailable", shown
    _login(api, AGENT_A)
    time.sleep(1.0)
    assert _agent(api, AGENT_A)["state"] == "ready"


# ------------------------------------------------------------------ a) FIFO with one agent

def test_two_callers_one_agent_first_come_first_served(rig: CtiRig, api: httpx.Client,
                                                       records: Any) -> None:
    phone = _phone(rig, AGENT_A, "talk", calls=2, answer_after_ms=1000, talk_ms=3000,
                   timeout_s=90)
    try:
        _login(api, AGENT_A)
        first = Call(DID_OPEN, TO_AGENT, "13900000001", timeout_s=60)
        second = Call(DID_OPEN, TO_AGENT, "13900000002", timeout_s=60)
        with ThreadPoolExecutor(max_workers=2) as pool:
            f1 = _place(pool, rig, first)
            f2 = _place(pool, rig, second, delay_s=1.5)
            # the first call is answered, talked, hung up by the agent: wrap-up
            _wait(lambda: _agent(api, AGENT_A)["state"] == "wrap_up", 40, "the first wrap-up")
            queues = {q["name"]: q for q in api.get("/api/queues").json()["queues"]}
            assert queues["service"]["waiting"] == 1, queues
            time.sleep(6.0)  # the agent writes notes; the second caller hears announcements
            # (position, expected wait: about 7 s) and then comfort chunks
            assert _agent(api, AGENT_A)["state"] == "wrap_up"
            wrapped_at = time.time()
            _wrap_up(api, AGENT_A, "resolved")
            _wait(lambda: _agent(api, AGENT_A)["state"] in ("offered", "busy"), 10,
                  "the second offer")
            _wait(lambda: _agent(api, AGENT_A)["state"] == "wrap_up", 30, "the second wrap-up")
            _wrap_up(api, AGENT_A, "sale")
            f1.result(timeout=90)
            f2.result(timeout=90)
    finally:
        result = phone.wait(30)
    _assert_ok(first)
    _assert_ok(second)
    assert result.ok, result.describe()
    one = _summary(records, _iid(rig, first.caller))
    two = _summary(records, _iid(rig, second.caller))
    assert (one.agent, two.agent) == (AGENT_A, AGENT_A)
    assert (one.outcome, two.outcome) == ("handled", "handled"), (one, two)
    assert one.queued_at < two.queued_at
    assert one.answered_at < two.answered_at
    assert two.answered_at.timestamp() >= wrapped_at - 0.5  # only after the wrap-up
    assert one.wrap_up_code == "resolved" and two.wrap_up_code == "sale"
    assert two.wait_s is not None and two.wait_s > one.wait_s + 5
    # the second caller heard comfort audio and was told its position (1 ahead of it)
    said = _said(rig, second.caller)
    store = PromptStore(rig.cfg.prompt_cache_dir, rig.cfg.prompts.format,
                        rig.cfg.prompts.voices)
    announce = store.say_text("zh", message("queue.position", "zh", position=1))  # type: ignore[arg-type]
    option = store.say_text("zh", message("queue.callback_option", "zh", key="1"))  # type: ignore[arg-type]
    assert any(line.startswith(f"STREAM FILE {announce} ") for line in said), said
    # then the callback option (the key interrupts it, as it does the comfort audio)
    assert any(line.startswith(f'STREAM FILE {option} "1"') for line in said), said
    assert all(line.endswith('"1"') for line in said if line.startswith("STREAM FILE") and
               "/comfort/hold-" in line)
    dials = [line for line in said if line.startswith("EXEC Dial ")]
    assert dials and all(f"PJSIP/{AGENT_A}" in line for line in dials), dials


# ------------------------------------------------------------------ b) ring-no-answer

CALLER_B = "13900000003"  # calls twice: b) handled, c) abandoned -> one customer, two calls
SHARED: dict[str, str] = {}


def test_ring_no_answer_goes_to_the_next_agent(rig: CtiRig, api: httpx.Client,
                                               records: Any) -> None:
    silent = _phone(rig, AGENT_A, "no_answer", timeout_s=60)
    answering = _phone(rig, AGENT_B, "talk", answer_after_ms=1000, talk_ms=3000, timeout_s=60)
    try:
        _login(api, AGENT_A)
        time.sleep(1.0)  # agent A has been idle longest: offered first
        _login(api, AGENT_B)
        call = Call(DID_OPEN, TO_AGENT, CALLER_B, timeout_s=60)
        started = time.monotonic()
        rig.run_calls([call])
        elapsed = time.monotonic() - started
    finally:
        silent_result = silent.wait(20)
        answering_result = answering.wait(20)
    _assert_ok(call)
    assert silent_result.ok, silent_result.describe()
    assert answering_result.ok, answering_result.describe()
    assert elapsed > RING_TIMEOUT_S - 2  # A rang for Dial's whole timeout first
    a = _agent(api, AGENT_A)
    assert (a["state"], a["reason"]) == ("not_ready", "missed"), a
    assert _agent(api, AGENT_B)["state"] == "wrap_up"
    _wrap_up(api, AGENT_B, "resolved")
    iid = _iid(rig, CALLER_B)
    SHARED["handled"] = iid
    summary = _summary(records, iid)
    assert summary.agent == AGENT_B and summary.outcome == "handled", summary
    assert summary.offers == 2
    offers = [(t, d.get("agent"), d.get("outcome")) for t, d in _timeline(records, iid)
              if t in ("offered", "offer_outcome", "connected")]
    assert offers == [("offered", AGENT_A, None), ("offer_outcome", AGENT_A, "timeout"),
                      ("offered", AGENT_B, None), ("offer_outcome", AGENT_B, "accepted"),
                      ("connected", AGENT_B, None)], offers


# ------------------------------------------------------------------ c) abandon

def test_caller_hangs_up_while_waiting_is_an_abandon(rig: CtiRig, api: httpx.Client,
                                                     records: Any) -> None:
    _login(api, AGENT_A, not_ready="break")  # logged in, on a break: the caller waits
    call = Call(DID_OPEN, TO_AGENT, CALLER_B, ending="hangup", hangup_after_ms=8000)
    rig.run_calls([call])
    _assert_ok(call)
    iid = _iid(rig, CALLER_B)
    assert iid != SHARED.get("handled")
    SHARED["abandoned"] = iid
    summary = _summary(records, iid)
    assert summary.outcome == "abandoned", summary
    assert summary.agent is None and summary.answered_at is None
    assert summary.wait_s is not None and summary.wait_s >= 4.0, summary
    types = [t for t, _ in _timeline(records, iid)]
    assert "queued" in types and "abandoned" in types and "connected" not in types, types
    assert _agent(api, AGENT_A)["reason"] == "break"


# ------------------------------------------------------------------ d) records

def test_records_one_customer_timeline(rig: CtiRig, records: Any) -> None:
    iid = SHARED.get("handled")
    if iid is None:
        pytest.skip("needs the handled call of test_ring_no_answer_goes_to_the_next_agent")
    timeline = _timeline(records, iid)
    types = [t for t, _ in timeline]
    order = ["interaction_started", "ivr", "queued", "offered", "offer_outcome",
             "connected", "ended", "wrap_up"]
    positions = [types.index(t) for t in order]
    assert positions == sorted(positions), types
    started = dict(timeline[0][1])
    assert started["channel"] == "voice" and started["flow"] == "demo_open"
    assert started["identities"] == {"phone": CALLER_B}
    steps = [node for t, d in timeline if t == "ivr" for node, _input in d["steps"]]
    assert steps[:2] == ["welcome", "main"], steps
    ended = next(d for t, d in timeline if t == "ended")
    assert ended["by"] == "agent"
    wrap = next(d for t, d in timeline if t == "wrap_up")
    assert (wrap["agent"], wrap["code"]) == (AGENT_B, "resolved")
    summary = _summary(records, iid)
    assert summary.wait_s is not None and summary.wait_s > 0
    assert summary.talk_s is not None and 1.0 <= summary.talk_s <= 10.0, summary
    assert summary.queue == "service" and summary.agent == AGENT_B
    assert summary.ivr_path[:2] == ("welcome", "main"), summary.ivr_path
    # the customer is found by the caller's number, and both calls are in their history
    with records() as session:
        customer = find_customer(session, normalize("phone", CALLER_B))
        assert customer is not None and summary.customer_id == customer
        history = [h.id for h in customer_history(session, customer)]
    assert iid in history
    if "abandoned" in SHARED:
        assert history[:2] == [SHARED["abandoned"], iid], history  # newest first


# ------------------------------------------------------------------ e) kill and restart

def test_cti_killed_with_a_call_waiting(rig: CtiRig, api: httpx.Client, records: Any) -> None:
    _login(api, AGENT_A, not_ready="break")
    _login(api, AGENT_B)
    reply = api.post(f"/api/agents/{AGENT_B}/not-ready", json={"reason": "lunch"})
    assert reply.status_code == 200
    time.sleep(1.5)  # the agent store writes agents.json (at most once a second)
    caller = "13900000004"
    # stays on the line through the fallback (apology, backup queue), then hangs up:
    # a BYE from Asterisk before that (a dropped call) fails the SIPp call
    call = Call(DID_OPEN, TO_AGENT, caller, ending="hangup", hangup_after_ms=14000)
    box = rig.sandbox_box
    queue_before = len(box.queue_log_text())

    def kill_when_waiting() -> None:
        def waiting() -> bool:
            try:
                stats = api.get("/api/queues").json()["queues"]
            except httpx.HTTPError:
                return False
            return any(q["name"] == "service" and q["waiting"] == 1 for q in stats)

        _wait(waiting, 20, "the call to wait in the CTI queue")
        time.sleep(1.0)
        rig.kill_server()

    killer = threading.Thread(target=kill_when_waiting)
    killer.start()
    rig.run_calls([call])
    killer.join(timeout=30)
    _assert_ok(call)
    assert rig.server is not None and rig.server.poll() is not None, "server was not killed"
    dialplan = rig.dialplan_log(caller)
    assert re.search(r"after-flow flow=demo_open agistatus=\w+ done= ", dialplan), dialplan
    assert "HOTLINE fallback flow=demo_open" in dialplan
    assert "sorry&pls-hold-while-try" in "\n".join(rig.call_lines(caller))
    queue_log = box.queue_log_text()[queue_before:]
    assert re.search(r"\|backup\|[^|]*\|ENTERQUEUE\|", queue_log), queue_log
    iid = _iid(rig, caller)
    with records() as session:
        before = get_interaction(session, iid)
    assert before is not None and before.ended_at is None  # cut: nobody recorded its end

    log_mark = len(rig.server_log_text())
    rig.start_server()  # the same data dir, the same ports
    summary = _summary(records, iid)
    assert summary.end_reason == "cti_restart" and summary.ended_by == "system", summary
    assert summary.exit == "fallback"
    agents = _agents(api)
    assert (agents[AGENT_A]["state"], agents[AGENT_A]["reason"]) == ("not_ready", "break")
    assert (agents[AGENT_B]["state"], agents[AGENT_B]["reason"]) == ("not_ready", "lunch")
    new_log = _wait(lambda: (t := rig.server_log_text()[log_mark:]) and "AMI resync" in t
                    and t, 20, "the AMI resync after the restart")
    assert "restored 2 agent session(s)" in new_log
    assert re.search(r"\d+ call\(s\) were cut by the last stop", new_log), new_log
    # the restarted CTI routes again: B ready, a call to B
    phone = _phone(rig, AGENT_B, "talk", answer_after_ms=500, talk_ms=1500)
    try:
        assert api.post(f"/api/agents/{AGENT_B}/ready").status_code == 200
        again = Call(DID_OPEN, TO_AGENT, "13900000005", timeout_s=40)
        rig.run_calls([again])
    finally:
        result = phone.wait(20)
    assert result.ok, result.describe()
    _assert_ok(again)
    assert _summary(records, _iid(rig, again.caller)).agent == AGENT_B


def test_no_call_left_open(rig: CtiRig, records: Any) -> None:
    """Every call that reached the CTI has an end in the records."""
    from cti.records.history import open_interactions

    time.sleep(1.0)
    with records() as session:
        assert open_interactions(session, channel="voice") == []


# ------------------------------------------------------------------ chat + call on one desktop

def test_a_call_reaches_an_agent_who_is_chatting_and_shows_on_the_desktop(
        rig: CtiRig, api: httpx.Client, records: Any) -> None:
    """Headless Chromium desktop of agent1001 (signed in with a desktop session): a chat is
    accepted on the page, then a SIPp caller presses 0; with chat_while_voice the call is
    offered to the same agent, its SIPp phone answers, and the call card appears at once."""
    from playwright.sync_api import expect, sync_playwright
    from sqlalchemy import select
    from websockets.sync.client import connect
    from websockets.typing import Origin

    from cti.records import desk_sessions
    from cti.records.models import User
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.chat.harness import Client

    port = int(rig.env["HOTLINE_CHAT_PORT"])
    site = f"http://127.0.0.1:{port}"
    # the demo made a desktop user per agent at start (web_admin/bootstrap.py)
    with records() as session:
        user_id = session.scalar(select(User.id).where(User.agent_id == AGENT_A))
    assert user_id is not None
    token = desk_sessions.create(records, user_id, AGENT_A, "127.0.0.1")
    phone = _phone(rig, AGENT_A, "talk", answer_after_ms=1000, talk_ms=4000, timeout_s=90)

    def drive() -> tuple[Call, Any]:
        """The desktop in Chromium, on a thread of its own: Playwright's sync API refuses a
        thread where an asyncio loop runs (an earlier test in the session may leave one)."""
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_cookies([{"name": "hotline_desk", "value": token, "url": site}])
                page = context.new_page()
                page.goto(f"{site}/desk/?lang=en")
                _wait(lambda: _agent(api, AGENT_A)["state"] == "not_ready", 15, "the desktop login")
                page.locator(".state-select").select_option("ready")  # signed in not ready
                _wait(lambda: _agent(api, AGENT_A)["state"] == "ready", 15, "Ready pressed")
                customer = Client(connect(f"ws://127.0.0.1:{port}/ws",
                                          origin=Origin(site), open_timeout=5))
                customer.send(t="hello", role="customer", visitor=None, lang="en", resume={})
                customer.wait("welcome")
                customer.send(t="send", conv=None, cid="c1", text="my parcel?")
                conv = customer.wait("ack", cid="c1")["conv"]
                page.get_by_role("button", name="Accept").click()
                customer.wait("joined", conv=conv, timeout=10)
                expect(page.locator(".centre")).to_contain_text("my parcel?", timeout=10_000)
                caller = Call(DID_OPEN, TO_AGENT, "13900000077", timeout_s=60)
                with ThreadPoolExecutor(max_workers=1) as pool:
                    placed = _place(pool, rig, caller)
                    expect(page.locator(".calls")).to_be_visible(timeout=30_000)  # ringing
                    # the phone answers: the card turns connected at once (AMI DialEnd ANSWER)
                    expect(page.locator(".calls")).to_contain_text("Connected", timeout=30_000)
                    view = _agent(api, AGENT_A)
                    assert (view["state"], view["voice_load"], view["chat_load"]) == (
                        "busy", 1, 1), view  # on the call and still in the chat
                    page.screenshot(path=str(Path(__file__).resolve().parent.parent / "browser"
                                             / "screenshots" / "e2e-desk-call-and-chat.png"))
                    placed.result(timeout=90)
                _assert_ok(caller)
                customer.send(t="end", conv=conv)  # the next test finds the agent free
                customer.wait("ended", conv=conv)
                customer.close()
            finally:
                browser.close()
                result = phone.wait(30)
        return caller, result

    with ThreadPoolExecutor(max_workers=1) as driver:
        caller, result = driver.submit(drive).result(timeout=240)
    assert result.ok, result.describe()
    summary = _summary(records, _iid(rig, caller.caller))
    assert (summary.agent, summary.outcome) == (AGENT_A, "handled")
