"""The touch session's signed state: issue time and expiry, pages from before a flow was
edited, one-time keys of side effects, and the hand-off token to a chat (pure or
in-process; no Flask, no browser)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from datetime import datetime

import pytest
from itsdangerous import URLSafeSerializer

from ivr_flows.core.effects import Act, Digits, Result, SendLink, State, Tap, Timeout
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow, MenuNode, SayNode
from ivr_flows.touch.handoff import MAX_TOKEN_CHARS, HandoffCodec, handoff_id
from ivr_flows.touch.once import IssuedBeforeStart, OnceKeys, StillRunning
from ivr_flows.touch.session import (
    MAX_SEEN,
    MAX_TRAIL,
    OLD_STATE_SALT,
    Journey,
    StateCodec,
    StateExpired,
    StateStale,
    StateTampered,
    advance_session,
    describe,
)

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning: agents answer
T0 = 1_800_000_000.0


class Epoch:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def without(flow: Flow, node_id: str) -> Flow:
    """The flow after an edit that removed (or renamed) one node."""
    return replace(flow, nodes={k: v for k, v in flow.nodes.items() if k != node_id})


# ---------------------------------------------------------------- expiry


def test_a_page_works_until_the_session_is_max_age_old_then_it_has_expired(demo_flow: Flow) -> None:
    epoch = Epoch()
    codec = StateCodec("state-secret", max_age_s=1800, wall=epoch)
    state, _ = start(demo_flow, OPEN)
    journey = Journey.new(epoch(), demo_flow.start)
    token = codec.dump(state, journey)
    epoch.now += 1800
    assert codec.open(token, demo_flow) == (state, journey)
    epoch.now += 1
    with pytest.raises(StateExpired) as refused:
        codec.open(token, demo_flow)
    assert refused.value.code == "state_expired"


def test_the_age_counts_from_the_session_start_not_from_the_last_page(demo_flow: Flow) -> None:
    epoch = Epoch()
    codec = StateCodec("state-secret", max_age_s=600, wall=epoch)
    state, _ = start(demo_flow, OPEN)
    journey = Journey.new(epoch(), demo_flow.start)
    epoch.now += 500
    later, _ = step(demo_flow, state, Tap("1"), OPEN)
    token = codec.dump(later, journey.did("main", "key 1"))  # a page made 500 s in
    epoch.now += 101
    with pytest.raises(StateExpired):
        codec.open(token, demo_flow)


def test_a_page_signed_before_pages_expired_is_an_expired_page(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    old = URLSafeSerializer("state-secret", salt=OLD_STATE_SALT).dumps(state.to_dict())
    with pytest.raises(StateExpired):
        StateCodec("state-secret").open(str(old), demo_flow)
    with pytest.raises(StateTampered):  # the same with another secret: not ours at all
        StateCodec("other-secret").open(str(old), demo_flow)


# ---------------------------------------------------------------- a flow edited since


def test_a_state_at_a_node_removed_or_renamed_since_is_stale(demo_flow: Flow) -> None:
    codec = StateCodec("state-secret")
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Tap("1"), OPEN)  # waits at order_collect
    token = codec.dump(state)
    with pytest.raises(StateStale) as refused:
        codec.open(token, without(demo_flow, "order_collect"))
    assert refused.value.code == "state_stale"


def test_a_state_that_would_go_back_to_a_removed_node_is_stale(demo_flow: Flow) -> None:
    codec = StateCodec("state-secret")
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Tap("1"), OPEN)  # order_collect, back goes to main
    assert state.history == ("main",)
    with pytest.raises(StateStale):
        codec.open(codec.dump(state), without(demo_flow, "main"))


def test_a_state_waiting_at_a_node_that_is_now_another_kind_is_stale(demo_flow: Flow) -> None:
    codec = StateCodec("state-secret")
    state, _ = start(demo_flow, OPEN)  # waits for a key at main
    main = demo_flow.nodes["main"]
    assert isinstance(main, MenuNode)
    edited = replace(
        demo_flow,
        nodes={**demo_flow.nodes, "main": SayNode("main", main.line, main.prompt, "goodbye")},
    )
    with pytest.raises(StateStale):
        codec.open(codec.dump(state), edited)


def test_a_state_of_another_flow_or_edited_is_tampered(demo_flow: Flow) -> None:
    codec = StateCodec("state-secret")
    state, _ = start(demo_flow, OPEN)
    token = codec.dump(state)
    with pytest.raises(StateTampered):
        codec.open(token, replace(demo_flow, name="other"))
    with pytest.raises(StateTampered):
        codec.open(token[:-4] + "AAAA", demo_flow)


# ---------------------------------------------------------------- the journey


def test_the_journey_keeps_the_last_steps_and_results_only(demo_flow: Flow) -> None:
    journey = Journey.new(T0, "welcome")
    for n in range(MAX_TRAIL + 10):
        journey = journey.did("main", f"key {n}")
    assert len(journey.trail) == MAX_TRAIL and journey.trail[-1] == ("main", f"key {MAX_TRAIL + 9}")
    journey = journey.saw(["a", "a", "b"]).saw(["b", "c", "d", "e", "x" * 1000])
    assert len(journey.seen) == MAX_SEEN and journey.seen[0] == "c"
    assert len(journey.seen[-1]) == 240


def test_a_menu_key_is_described_with_its_label_and_digits_in_full(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, lang="en")
    assert describe(demo_flow, state, Tap("0")) == "key 0 (Talk to an agent)"
    assert describe(demo_flow, state, Tap("7")) == "key 7"
    state, _ = step(demo_flow, state, Tap("1"), OPEN)
    assert describe(demo_flow, state, Digits("12345678")) == "digits 12345678"
    assert describe(demo_flow, state, Timeout()) == "timeout"


def test_a_side_effects_key_changes_once_it_is_spent() -> None:
    journey = Journey.new(T0)
    assert journey.key("pwd_send") != journey.spent().key("pwd_send")
    assert journey.key("pwd_send") == replace(journey, trail=(("x", "y"),)).key("pwd_send")


# ---------------------------------------------------------------- one-time keys


def test_a_key_runs_once_and_answers_later_uses_with_the_first_result() -> None:
    once = OnceKeys(60, wall=Epoch())
    runs: list[int] = []

    def effect() -> int:
        runs.append(1)
        return len(runs)

    assert once.run("s:0:pwd_send", T0, effect) == 1
    assert once.run("s:0:pwd_send", T0, effect) == 1
    assert once.run("s:1:pwd_send", T0, effect) == 2
    assert runs == [1, 1]


def test_a_second_use_at_the_same_time_waits_for_the_first() -> None:
    once = OnceKeys(60, wall=Epoch())
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("ran")
        started.set()
        release.wait(5)
        return "sent"

    got: list[str] = []
    first = threading.Thread(target=lambda: got.append(once.run("k", T0, slow)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: got.append(once.run("k", T0, slow)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert got == ["sent", "sent"] and calls == ["ran"]


def test_a_first_use_that_failed_gives_its_key_back() -> None:
    once = OnceKeys(60, wall=Epoch())

    def broken() -> str:
        raise OSError("back-end down")

    with pytest.raises(OSError):
        once.run("k", T0, broken)
    assert once.run("k", T0, lambda: "ok") == "ok"


def test_a_use_still_running_after_the_wait_is_refused() -> None:
    once = OnceKeys(60, wall=Epoch(), wait_s=0.05)
    release = threading.Event()
    thread = threading.Thread(target=lambda: once.run("k", T0, lambda: release.wait(5)))
    thread.start()
    try:
        for _ in range(500):  # until the first use has claimed the key
            if len(once):
                break
            release.wait(0.01)
        with pytest.raises(StillRunning):
            once.run("k", T0, lambda: True)
    finally:
        release.set()
        thread.join(5)


def test_keys_are_kept_ttl_seconds_and_at_most_max_keys() -> None:
    epoch = Epoch()
    once = OnceKeys(100, max_keys=3, wall=epoch)
    for n in range(3):
        once.run(f"k{n}", T0, lambda: "kept")
    once.run("k3", T0, lambda: 3)  # the fourth: the oldest goes
    assert len(once) == 3 and once.evicted == 1
    assert once.run("k0", T0, lambda: "again") == "again"  # forgotten: runs again
    epoch.now += 101
    once.run("new", T0, lambda: 0)
    assert len(once) == 1  # every earlier key expired


def test_a_page_issued_before_the_process_started_cannot_run_a_side_effect() -> None:
    once = OnceKeys(100, wall=Epoch(T0))
    with pytest.raises(IssuedBeforeStart):
        once.run("k", T0 - 5, lambda: "ran")
    assert once.run("k", T0, lambda: "ran") == "ran"


class CountingRunner:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self, flow: Flow, act: Act) -> Result:
        self.calls.append(act.action)
        if act.action == "account_by_phone":
            return Result("ok", {"account_id": "A1001", "phone_last4": "8000"})
        return Result("ok", {"reset_sent": "true"})


def no_link(flow: Flow, state: State, link: SendLink) -> Result:
    return Result("error", {})


def test_a_post_action_posted_again_runs_once_and_a_get_lookup_each_time(demo_flow: Flow) -> None:
    runner, once = CountingRunner(), OnceKeys(60, wall=Epoch())
    journey = Journey.new(T0, demo_flow.start)
    state, _ = start(demo_flow, OPEN, lang="en", vars={"caller": "13800138000"})
    for _ in range(2):  # the main menu's page, posted twice with key 4
        at_confirm, effects = step(demo_flow, state, Tap("4"), OPEN)
        at_confirm, _, j = advance_session(
            demo_flow, at_confirm, effects, runner, lambda f: OPEN, no_link, journey, once
        )
    assert runner.calls == ["account_by_phone", "account_by_phone"]  # GET: no key
    pages = []
    for _ in range(2):  # the confirm page, posted twice with key 1: one POST
        done, effects = step(demo_flow, at_confirm, Tap("1"), OPEN)
        done, shown, after = advance_session(
            demo_flow, done, effects, runner, lambda f: OPEN, no_link, j, once
        )
        pages.append((done, shown))
    assert runner.calls.count("password_reset") == 1
    assert pages[0] == pages[1] and pages[0][0].vars["reset_sent"] == "true"
    assert after.effects == j.effects + 1
    assert after.trail[-1] == ("pwd_send", "result ok")


# ---------------------------------------------------------------- the hand-off token


def queue_exit(flow: Flow) -> tuple[State, Journey]:
    """Change a delivery address (3), order 12345678: the address queue's exit."""
    state, _ = start(flow, OPEN, lang="en", vars={"caller": "13800138000"})
    journey = Journey.new(T0, flow.start).did("main", "key 3 (Change delivery address)")
    state, _ = step(flow, state, Tap("3"), OPEN)
    journey = journey.did("address_collect", "digits 12345678")
    state, _ = step(flow, state, Digits("12345678"), OPEN)
    assert state.exit is not None and state.exit.kind == "queue"
    return state, journey.saw(["Your order 12345678 has shipped."])


def test_a_hand_off_carries_the_queue_exit_the_path_and_the_results(demo_flow: Flow) -> None:
    epoch = Epoch()
    codec = HandoffCodec("secret", ttl_s=900, wall=epoch)
    state, journey = queue_exit(demo_flow)
    token = codec.make(demo_flow, state, journey)
    assert token is not None
    handoff = codec.read(token)
    assert handoff is not None
    assert (handoff.queue, handoff.priority, dict(handoff.skills)) == (
        "service",
        6,
        {"address_change": 1},
    )
    assert handoff.attributes["order_id"] == "12345678"
    assert handoff.steps[1:] == (
        ("main", "key 3 (Change delivery address)"),
        ("address_collect", "digits 12345678"),
    )
    assert handoff.seen == ("Your order 12345678 has shipped.",)
    assert handoff.phone == "13800138000" and handoff.lang == "en"
    assert handoff.conversation == "web-" + handoff_id(journey)


def test_the_same_session_always_hands_over_the_same_conversation(demo_flow: Flow) -> None:
    codec = HandoffCodec("secret")
    state, journey = queue_exit(demo_flow)
    first, again = (
        codec.make(demo_flow, state, journey),
        codec.make(demo_flow, state, journey.saw(["more"])),
    )
    assert first and again
    a, b = codec.read(first), codec.read(again)
    assert a is not None and b is not None and a.id == b.id
    other = Journey.new(T0, demo_flow.start)
    c = codec.read(codec.make(demo_flow, state, other) or "")
    assert c is not None and c.id != a.id


def test_a_forged_expired_or_oversized_hand_off_is_refused(demo_flow: Flow) -> None:
    epoch = Epoch()
    codec = HandoffCodec("secret", ttl_s=900, wall=epoch)
    state, journey = queue_exit(demo_flow)
    token = codec.make(demo_flow, state, journey) or ""
    assert HandoffCodec("guess").read(token) is None
    assert codec.read(token[:-3] + "abc") is None
    assert codec.read("x" * (MAX_TOKEN_CHARS + 1)) is None
    assert codec.read(None) is None and codec.read(42) is None
    epoch.now += 901
    assert codec.read(token) is None


def test_a_hand_off_stays_bounded_whatever_the_session_did(demo_flow: Flow) -> None:
    codec = HandoffCodec("secret")
    state, journey = queue_exit(demo_flow)
    for _ in range(40):  # random text does not compress
        journey = journey.did(secrets.token_hex(32), secrets.token_hex(48))
    journey = journey.saw(secrets.token_hex(120) for _ in range(10))
    ex = state.exit
    assert ex is not None
    big = replace(
        state, exit=replace(ex, attributes={f"a{n}": secrets.token_hex(128) for n in range(40)})
    )
    token = codec.make(demo_flow, big, journey)
    assert token is not None and len(token) <= MAX_TOKEN_CHARS
    handoff = codec.read(token)
    assert handoff is not None and handoff.queue == "service"


def test_only_a_queue_exit_is_handed_over(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    assert HandoffCodec("secret").make(demo_flow, state, Journey.new(T0)) is None
