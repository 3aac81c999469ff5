"""The voice flow for real: SIPp callers -> sandbox Asterisk 22 -> ``hotline run`` (FastAGI).

One rig per module (tests/integration/voice.py): the Hotline server as users run it, instance
``e2e`` of the sandbox Asterisk, flows whose agent hours are always open / never open. The
walks and the contract cases each run as one batch of simultaneous calls (a fixture); the
tests then check, per call, what the handler saw and did (calls.jsonl: exit, path, vars),
what Asterisk was told (AGI traffic) and what the dialplan did (``HOTLINE ...`` log lines).
DTMF goes by SIP INFO and by RFC 2833 RTP events; a caller barges in (keys during prompts).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr_flows.edges.actions import ActionRunner
from ivr_flows.loading.loader import load_flow_file
from tests.contract_cases import (
    CASES,
    CLOSED,
    TIMEOUT,
    ContractCase,
    check_outcome,
    drive_interpreter,
)
from tests.integration.conftest import _cannot_run
from tests.integration.voice import CLASSIC, DID_CLOSED, DID_DEMO, DID_OPEN, Call, VoiceRig

pytestmark = pytest.mark.asterisk

DEMO = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows" / "demo_400.yaml"
QUEUE_END_MS = 4000  # classic AGI's queue exit (app_queue): stay that long, then hang up
# A "to queue" exit over FastAGI waits in the CTI queue. No agent is logged in here, so the
# routing engine's no-agents exit ends it at once: a callback offer when the caller's number
# is known (HOTLINE_EXIT=callback), else an apology (HOTLINE_EXIT=hangup); Asterisk hangs up,
# so those calls wait for the BYE. calls.jsonl still shows the IVR's exit: queue.


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceRig]:
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    try:
        rig = VoiceRig.start(tmp_path_factory.mktemp("voice-e2e"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield rig
    finally:
        rig.close()


def _assert_ok(call: Call) -> None:
    assert call.result is not None and call.result.ok, \
        call.result.describe() if call.result else "not run"


# ------------------------------------------------------------------ demo walks, all at once

WALKS: dict[str, Call] = {
    # order status by SIP INFO: 1 (barging into the welcome), the order, 0 for an agent
    "order_info": Call(DID_OPEN, [(2000, "1"), (1200, "12345678"), (1500, "0")],
                       "walk-order-info"),
    # the same by RFC 2833 (a repeated key, too: the pcaps are made per key press)
    "order_2833": Call(DID_OPEN, [(2000, "1"), (1200, "12345678"), (1500, "0")],
                       "walk-order-2833", mode="rfc2833"),
    # tracking in English by RFC 2833: 9 (English), 2, the order, 0
    "tracking": Call(DID_OPEN, [(2000, "9"), (1200, "2"), (1200, "34567890"), (4500, "0")],
                     "walk-tracking", mode="rfc2833"),
    # a 3-digit order number (# ends it), told it is invalid, then the right one
    "invalid_retry": Call(DID_OPEN, [(2000, "1"), (1200, "123#"), (2500, "12345678"),
                                     (1500, "0")],
                          "walk-invalid"),
    # silence at the main menu: retries, then the flow's fallback (an agent)
    "timeout": Call(DID_OPEN, [], "walk-timeout"),
    # the shipped prompts: 1 during the welcome, hang up during the order prompt
    "hangup_mid_menu": Call(DID_DEMO, [(2000, "1")], "walk-hangup", ending="hangup",
                            hangup_after_ms=2500),
    # closed hours: 0 for an agent -> closed menu -> 9 ends the call (Asterisk hangs up)
    "closed": Call(DID_CLOSED, [(2000, "0"), (1500, "9")], "walk-closed"),
    # the shipped prompts, order status to an agent (its traffic is a protocol recording)
    "demo_order": Call(DID_DEMO, [(2500, "1"), (2000, "12345678"), (2500, "0")], "walk-demo"),
}


@pytest.fixture(scope="module")
def walks(rig: VoiceRig) -> dict[str, Call]:
    started = time.monotonic()
    rig.run_calls(list(WALKS.values()))
    print(f"{len(WALKS)} walks at once in {time.monotonic() - started:.1f} s")
    return WALKS


def _path(outcome: dict[str, Any]) -> list[tuple[str, str]]:
    return [(node, inp) for node, inp in outcome["path"]]


def _cti_exit(caller: str) -> str:
    """The dialplan exit the CTI gives a queued call when no agent is logged in."""
    return "callback" if re.fullmatch(r"\+?\d{5,20}", caller) else "hangup"


def _assert_cti_queue(rig: VoiceRig, call: Call, flow: str = "demo_open",
                      queue: str = "service") -> None:
    """The IVR handed the call to the CTI queue, which ended it by its no-agents exit."""
    said = [line for d, line in rig.agi_traffic(call.caller, call.did) if d == ">"]
    handoff = said.index(f'SET VARIABLE HOTLINE_QUEUE "{queue}"')
    assert 'SET VARIABLE HOTLINE_EXIT "queue"' in said[:handoff], said
    cleared = said.index('SET VARIABLE HOTLINE_DONE ""', handoff)  # the CTI took the call
    final = _cti_exit(call.caller)
    assert said[cleared:][-2:] == [f'SET VARIABLE HOTLINE_EXIT "{final}"',
                                   'SET VARIABLE HOTLINE_DONE "1"'], said[cleared:]
    assert any(line.startswith("STREAM FILE ") for line in said[cleared:])  # apology/callback
    dialplan = rig.dialplan_log(call.caller, call.did)
    assert f"after-flow flow={flow} agistatus=SUCCESS done=1 exit={final}" in dialplan, \
        dialplan
    assert "HOTLINE queue name=" not in dialplan  # app_queue is no longer the queue


@pytest.mark.parametrize("name", ["order_info", "order_2833"])
def test_order_status_to_an_agent(rig: VoiceRig, walks: dict[str, Call], name: str) -> None:
    call = walks[name]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    assert (out["ended"], out["reason"]) == ("exit", "queue"), out
    assert _path(out) == [("welcome", "start"), ("main", "key 1"),
                          ("order_collect", "digits x8"), ("order_lookup", "result ok"),
                          ("after_order", "key 0")]
    assert out["exit"]["target"] == "service" and out["exit"]["node"] == "agent_queue"
    assert out["state"]["vars"]["order_status"] == "shipped"
    assert out["exit"]["attributes"]["order_id"] == "12345678"
    said = [line for d, line in rig.agi_traffic(call.caller) if d == ">"]
    assert "SAY DIGITS 12345678 \"1*0\"" in said
    _assert_cti_queue(rig, call)


def test_tracking_in_english(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["tracking"]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    assert _path(out) == [("welcome", "start"), ("main", "key 9"), ("main", "key 2"),
                          ("track_collect", "digits x8"), ("track_lookup", "result ok"),
                          ("after_order", "key 0")]
    assert out["exit"]["kind"] == "queue" and out["state"]["lang"] == "en"
    assert out["state"]["vars"]["tracking_no"] == "1122334455"
    said = [line for d, line in rig.agi_traffic(call.caller) if d == ">"]
    assert any(line.startswith("SAY DIGITS 1122334455 ") for line in said), said
    # the carrier and the place are spoken from files synthesised during the call
    assert sum(1 for line in said if "/tts/en/" in line) >= 3
    assert 'SET VARIABLE HOTLINE_LANG "en"' in said
    _assert_cti_queue(rig, call)


def test_invalid_input_then_retry(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["invalid_retry"]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    assert _path(out)[:4] == [("welcome", "start"), ("main", "key 1"),
                              ("order_collect", "digits x3"), ("order_collect", "digits x8")]
    assert out["exit"]["kind"] == "queue"
    assert out["state"]["vars"]["order_id"] == "12345678"
    replies = [line for d, line in rig.agi_traffic(call.caller) if d == "<"]
    assert "200 result=123" in replies and "200 result=12345678" in replies


def test_silence_at_the_menu_reaches_an_agent(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["timeout"]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    inputs = [inp for _, inp in _path(out)]
    assert inputs[0] == "start" and inputs[1:] and set(inputs[1:]) == {"timeout"}
    assert len(inputs) - 1 == 3  # the first ask and two retries
    assert out["exit"]["kind"] == "queue" and out["exit"]["node"] == "agent_queue"
    replies = [line for d, line in rig.agi_traffic(call.caller) if d == "<"]
    assert replies.count("200 result= (timeout)") >= 3  # the menu's GET DATA ran out
    _assert_cti_queue(rig, call)


def test_caller_hangs_up_mid_menu(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["hangup_mid_menu"]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    assert (out["ended"], out["reason"]) == ("hangup", "caller_hangup"), out
    assert _path(out) == [("welcome", "start"), ("main", "key 1")]
    traffic = rig.agi_traffic(call.caller)
    assert ("<", "200 result=-1") in traffic or ("<", "HANGUP") in traffic
    assert not any("HOTLINE_DONE" in line for d, line in traffic if d == ">")


def test_closed_hours_menu_ends_the_call(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["closed"]
    _assert_ok(call)  # Asterisk hung up (wait_bye)
    out = rig.outcome_for(call.caller)
    assert _path(out) == [("welcome", "start"), ("main", "key 0"), ("closed_menu", "key 9")]
    assert out["exit"]["kind"] == "hangup" and out["exit"]["node"] == "goodbye"
    assert "after-flow flow=demo_closed agistatus=SUCCESS done=1 exit=hangup" in \
        rig.dialplan_log(call.caller)


def test_shipped_prompts_order_walk(rig: VoiceRig, walks: dict[str, Call]) -> None:
    call = walks["demo_order"]
    _assert_ok(call)
    out = rig.outcome_for(call.caller)
    assert _path(out)[-1] == ("after_order", "key 0")
    assert out["exit"]["target"] == "service"
    _assert_cti_queue(rig, call, flow="demo_400")


# ------------------------------------------------------------------ the contract over voice

def _voice_call(case: ContractCase, index: int) -> Call:
    did = DID_CLOSED if case.now == CLOSED else DID_OPEN
    steps: list[tuple[int, str]] = []
    pause = 2000
    for inp in case.inputs:
        if inp == TIMEOUT:
            pause += 7500  # the prompts, then a 5 s GET DATA without keys
            continue
        keys = inp + "#" if 1 < len(inp) < 8 else inp  # a short entry ends with #
        steps.append((pause, keys))
        pause = 1500
    # every exit ends the call from Asterisk's side now (a queue exit: the CTI's no-agents
    # exit), so every call waits for the BYE
    return Call(did, steps, case.caller or f"case-{index}")


@pytest.fixture(scope="module")
def contract_calls(rig: VoiceRig) -> dict[str, Call]:
    calls = {case.name: _voice_call(case, i) for i, case in enumerate(CASES)}
    started = time.monotonic()
    rig.run_calls(list(calls.values()))
    print(f"{len(calls)} contract cases at once in {time.monotonic() - started:.1f} s")
    return calls


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_contract_case_over_voice(rig: VoiceRig, contract_calls: dict[str, Call],
                                  case: ContractCase) -> None:
    call = contract_calls[case.name]
    _assert_ok(call)
    out = rig.outcome_for(call.caller, call.did)
    assert out["ended"] == "exit", out
    ex = out["exit"]
    variables = out["state"]["vars"]
    check_outcome(case, ex["kind"], ex["target"], variables, ex["attributes"])
    # the same as the interpreter driven directly (demo_400 at the case's time)
    runner = ActionRunner(rig.backend_url)
    try:
        ref = drive_interpreter(load_flow_file(DEMO), runner, case)
    finally:
        runner.close()
    assert ref.exit is not None
    assert (ex["kind"], ex["target"], ex["node"]) == (ref.exit.kind, ref.exit.target,
                                                      ref.exit.node)
    assert dict(ex["attributes"]) == dict(ref.exit.attributes)
    assert {k: v for k, v in variables.items() if v} == \
        {k: v for k, v in ref.vars.items() if v}
    assert out["state"]["lang"] == ref.lang
    if ex["kind"] == "queue":
        _assert_cti_queue(rig, call, flow=out["flow"], queue=ex["target"])
    else:
        assert f"done=1 exit={ex['kind']}" in rig.dialplan_log(call.caller, call.did)


# ------------------------------------------------------------------ classic AGI (9 + DID)

def test_classic_agi_order_walk(rig: VoiceRig) -> None:
    """Asterisk starts hotline-agi (the chroot's venv, pyst2) for the call; same flow."""
    call = Call(CLASSIC + DID_OPEN, [(4000, "1"), (1500, "12345678"), (2000, "0")],
                "classic-1", ending="hangup", hangup_after_ms=QUEUE_END_MS)
    rig.run_calls([call])
    _assert_ok(call)
    traffic = rig.agi_traffic(call.caller)
    env = dict(line.split(": ", 1) for d, line in traffic if d == "<" and ": " in line
               and line.startswith("agi_"))
    assert env.get("agi_request") == "hotline-agi" and env.get("agi_arg_1") == "demo_open"
    said = [line for d, line in traffic if d == ">"]
    assert any(line.startswith("GET DATA ") for line in said), said
    assert "SAY DIGITS 12345678 \"1*0\"" in said
    assert said[-1] == 'SET VARIABLE HOTLINE_DONE "1"'
    # the prompt files came from the bind-mounted cache the server filled
    assert any("/tts/zh/" in line for line in said)
    dialplan = rig.dialplan_log(call.caller)
    assert "after-flow flow=demo_open agistatus=SUCCESS done=1 exit=queue" in dialplan


# ------------------------------------------------------------------ the server dies mid-call

def test_fastagi_server_killed_mid_call_reaches_the_fallback(rig: VoiceRig) -> None:
    """SIGKILL ``hotline run`` while the caller is entering an order number: Asterisk
    returns from AGI without HOTLINE_DONE, plays the apology and queues on ``backup``; the
    caller is never dropped (SIPp fails on a BYE from Asterisk) and nothing hangs."""
    call = Call(DID_OPEN, [(2000, "1")], "killed-1", ending="hangup", hangup_after_ms=9000)
    queue_before = len(rig.sandbox_box.queue_log_text())
    box = rig.sandbox_box

    def kill_when_asked() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(line.startswith("GET DATA ")
                   for d, line in rig.agi_traffic(call.caller) if d == ">"):
                rig.kill_server()
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_when_asked)
    killer.start()
    started = time.monotonic()
    rig.run_calls([call])
    killer.join(timeout=30)
    _assert_ok(call)
    assert rig.server is not None and rig.server.poll() is not None, "server was not killed"
    assert time.monotonic() - started < 25
    dialplan = rig.dialplan_log(call.caller)
    assert re.search(r"after-flow flow=demo_open agistatus=\w+ done= ", dialplan), dialplan
    assert "HOTLINE fallback flow=demo_open" in dialplan
    lines = "\n".join(rig.call_lines(call.caller))
    assert "sorry&pls-hold-while-try" in lines
    queue_log = box.queue_log_text()[queue_before:]
    assert re.search(r"\|backup\|[^|]*\|ENTERQUEUE\|", queue_log), queue_log
    assert "killed-1" not in {o.get("uniqueid") for o in rig.outcomes()}
