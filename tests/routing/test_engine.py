"""The routing engine, one rule per test: events in, commands out, time as a number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from cti.routing import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    AgentStateChanged,
    Announce,
    CancelOffer,
    Command,
    ConfigError,
    Connect,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Engine,
    ExitContact,
    Offer,
    OfferAccepted,
    OfferRejected,
    OfferTimedOut,
    Overflow,
    OverflowRule,
    QueueConfig,
    Rejected,
    Tick,
    WrapUpEnded,
)


def engine(**overrides: Any) -> Engine:
    settings: dict[str, Any] = {"ring_timeout_s": 15, "wrap_up_s": 10, **overrides}
    sales = QueueConfig("sales", skills={"sales": 1}, **settings)
    support = QueueConfig("support", skills={"support": 1})
    return Engine({"sales": sales, "support": support})


def login(e: Engine, agent: str, now: float = 0.0, skills: Mapping[str, int] | None = None,
          **kw: Any) -> list[Command]:
    return e.handle(AgentLoggedIn(agent, skills or {"sales": 1}, **kw), now)


def arrive(e: Engine, contact: str, now: float = 0.0, media: Any = "voice",
           queue: str = "sales", **kw: Any) -> list[Command]:
    return e.handle(ContactArrived(contact, media, queue, **kw), now)


def offers(cmds: list[Command]) -> list[tuple[str, str]]:
    return [(c.contact_id, c.agent_id) for c in cmds if isinstance(c, Offer)]


def of(kind: type, cmds: list[Command]) -> list[Any]:
    return [c for c in cmds if isinstance(c, kind)]


# -- offering, fairness ----------------------------------------------------------------------

def test_contact_is_offered_to_a_ready_agent_with_the_skill() -> None:
    e = engine()
    login(e, "a1", skills={"support": 1})
    login(e, "a2")
    cmds = arrive(e, "c1", 1.0)
    assert offers(cmds) == [("c1", "a2")]
    assert of(Offer, cmds)[0].ring_timeout_s == 15
    assert AgentStateChanged("a2", "offered") in cmds
    assert e.contact("c1").state == "offered"  # type: ignore[union-attr]


def test_higher_priority_goes_first_then_the_longest_waiting_across_media() -> None:
    e = engine()
    login(e, "a1", skills={"sales": 1}, ready=False, max_chats=1)
    arrive(e, "chat-old", 1.0, media="chat")
    arrive(e, "voice-new", 2.0)
    arrive(e, "web-vip", 3.0, media="web", priority=5)
    arrive(e, "callback", 4.0, media="callback")
    got = []
    cmds = e.handle(AgentReady("a1"), 10.0)
    for t in range(4):
        ((cid, _),) = offers(cmds)
        got.append(cid)
        e.handle(OfferAccepted(cid, "a1"), 11.0 + t * 100)
        e.handle(ContactEnded(cid), 12.0 + t * 100)
        cmds = e.handle(WrapUpEnded("a1"), 13.0 + t * 100)
    assert got == ["web-vip", "chat-old", "voice-new", "callback"]


def test_contact_waits_when_no_agent_is_free_and_hears_position_and_ewt() -> None:
    e = engine()
    login(e, "a1", ready=False)
    first = arrive(e, "c1", 1.0)
    second = arrive(e, "c2", 2.0)
    assert of(Announce, first)[0].position == 1
    assert of(Announce, second)[0].position == 2
    assert e.contact("c2").position == 2  # type: ignore[union-attr]


def test_estimated_wait_uses_handle_time_and_staffing() -> None:
    e = engine(default_handle_s=100)
    login(e, "a1")
    login(e, "a2")
    arrive(e, "c1", 0.0)
    arrive(e, "c2", 0.0)
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    e.handle(OfferAccepted("c2", "a2"), 1.0)
    (announce,) = of(Announce, arrive(e, "c3", 2.0))
    assert announce.ewt_s == pytest.approx(1 * 100 / 2)
    e.handle(ContactEnded("c1"), 51.0)  # handle time 50 s talk + 10 s wrap-up
    (announce,) = of(Announce, arrive(e, "c4", 52.0))
    assert announce.position == 2 and announce.ewt_s == pytest.approx(2 * 60 / 2)


def test_no_staffed_agent_gives_no_estimate() -> None:
    e = engine()
    login(e, "a1", ready=False)
    (announce,) = of(Announce, arrive(e, "c1"))
    assert announce.ewt_s is None


def test_extra_contact_skill_levels_are_required() -> None:
    e = engine()
    login(e, "junior", skills={"sales": 1, "en": 1})
    login(e, "senior", skills={"sales": 1, "en": 3})
    assert offers(arrive(e, "c1", 1.0, skills={"en": 2})) == [("c1", "senior")]


# -- strategies ------------------------------------------------------------------------------

def test_longest_idle_agent_is_chosen_by_default() -> None:
    e = engine()
    login(e, "a1", 0.0)
    login(e, "a2", 0.0)
    arrive(e, "c1", 1.0)
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    e.handle(ContactEnded("c1"), 5.0)
    e.handle(WrapUpEnded("a1"), 6.0)
    assert offers(arrive(e, "c2", 7.0)) == [("c2", "a2")]


def test_least_occupied_strategy_prefers_the_agent_with_fewer_chats() -> None:
    e = engine(strategy="least_occupied")
    login(e, "a1", max_chats=4)
    login(e, "a2", 1.0, max_chats=4)
    arrive(e, "c1", 2.0, media="chat")
    e.handle(OfferAccepted("c1", "a1"), 2.0)
    assert offers(arrive(e, "c2", 3.0, media="chat")) == [("c2", "a2")]
    e.handle(OfferAccepted("c2", "a2"), 3.0)
    e.handle(ContactEnded("c1"), 4.0)
    e.handle(WrapUpEnded("a1"), 4.0)
    assert offers(arrive(e, "c3", 5.0, media="chat")) == [("c3", "a1")]


def test_skill_level_strategy_prefers_the_best_skilled_agent() -> None:
    e = engine(strategy="skill_level")
    login(e, "novice", skills={"sales": 1})
    login(e, "expert", 1.0, skills={"sales": 5})
    assert offers(arrive(e, "c1", 2.0)) == [("c1", "expert")]


def test_round_robin_strategy_takes_turns() -> None:
    e = engine(strategy="round_robin", wrap_up_s=0)
    for a in ("a1", "a2", "a3"):
        login(e, a)
    got = []
    for i in range(6):
        ((cid, agent),) = offers(arrive(e, f"c{i}", float(i)))
        got.append(agent)
        e.handle(OfferAccepted(cid, agent), float(i))
        e.handle(ContactEnded(cid), float(i))
    assert got == ["a1", "a2", "a3", "a1", "a2", "a3"]


# -- capacity --------------------------------------------------------------------------------

def test_an_agent_takes_up_to_max_chats_one_offer_at_a_time() -> None:
    e = engine()
    login(e, "a1", max_chats=2)
    assert offers(arrive(e, "c1", media="chat")) == [("c1", "a1")]
    assert offers(arrive(e, "c2", media="chat")) == []  # an offer is pending
    assert offers(e.handle(OfferAccepted("c1", "a1"), 1.0)) == [("c2", "a1")]
    assert offers(e.handle(OfferAccepted("c2", "a1"), 2.0)) == []
    assert offers(arrive(e, "c3", 3.0, media="chat")) == []
    assert e.agent_state("a1").chat_load == 2


def test_a_voice_call_takes_the_whole_agent() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "v1")
    e.handle(OfferAccepted("v1", "a1"), 1.0)
    assert offers(arrive(e, "c1", 2.0, media="chat")) == []
    assert offers(arrive(e, "v2", 2.0)) == []


def test_a_chat_blocks_voice_unless_mixing_is_allowed() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "c1", media="chat")
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    assert offers(arrive(e, "v1", 2.0)) == []
    mixed = engine()
    login(mixed, "a1", chat_while_voice=True)
    arrive(mixed, "v1")
    mixed.handle(OfferAccepted("v1", "a1"), 1.0)
    assert offers(arrive(mixed, "c1", 2.0, media="chat")) == [("c1", "a1")]


def test_chat_wrap_up_holds_only_its_own_slot() -> None:
    e = engine()
    login(e, "a1", max_chats=1)
    arrive(e, "c1", media="chat")
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    e.handle(ContactEnded("c1"), 2.0)
    assert e.agent_state("a1").state == "wrap_up"
    assert offers(arrive(e, "c2", 3.0, media="chat")) == []
    assert e.next_timer() == 12.0
    assert offers(e.handle(Tick(), 12.0)) == [("c2", "a1")]


def test_wrap_up_of_one_chat_frees_only_that_chat_slot() -> None:
    e = engine()
    login(e, "a1", max_chats=2)
    arrive(e, "c1", media="chat")
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    arrive(e, "c2", 1.0, media="chat")
    e.handle(OfferAccepted("c2", "a1"), 1.5)
    e.handle(ContactEnded("c1"), 2.0)
    e.handle(ContactEnded("c2"), 2.5)
    assert e.agent_state("a1").wrap_up == ("c1", "c2")
    e.handle(WrapUpEnded("a1", "c2"), 3.0)
    assert e.agent_state("a1").wrap_up == ("c1",)
    assert e.agent_state("a1").chat_load == 1
    refused = e.handle(WrapUpEnded("a1", "c2"), 3.5)
    assert [type(r).__name__ for r in refused] == ["Rejected"]
    assert refused[0].reason == "no_wrap_up"  # type: ignore[union-attr]
    e.handle(WrapUpEnded("a1"), 4.0)
    assert e.agent_state("a1").state == "ready"


# -- agent states ----------------------------------------------------------------------------

def test_agent_states_are_reported_through_a_call() -> None:
    e = engine()
    assert e.agent_state("nobody").state == "logged_out"
    login(e, "a1")
    assert e.agent_state("a1").state == "ready"
    arrive(e, "c1")
    assert e.agent_state("a1").state == "offered"
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    assert e.agent_state("a1").state == "busy"
    cmds = e.handle(ContactEnded("c1"), 2.0)
    assert AgentStateChanged("a1", "wrap_up") in cmds
    cmds = e.handle(Tick(), 12.0)
    assert AgentStateChanged("a1", "ready") in cmds
    e.handle(AgentNotReady("a1", "lunch"), 13.0)
    view = e.agent_state("a1")
    assert (view.state, view.reason) == ("not_ready", "lunch")
    e.handle(AgentLoggedOut("a1"), 14.0)
    assert [v.state for v in e.agents()] == ["logged_out"]


def test_not_ready_agent_gets_no_offer_and_ready_gets_the_waiting_contact() -> None:
    e = engine()
    login(e, "a1")
    e.handle(AgentNotReady("a1", "training"), 1.0)
    assert offers(arrive(e, "c1", 2.0)) == []
    assert offers(e.handle(AgentReady("a1"), 3.0)) == [("c1", "a1")]


def test_ring_no_answer_makes_agent_missed_and_puts_contact_back_at_its_place() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "c1", 0.0)
    login(e, "a2", 1.0, ready=False)
    arrive(e, "c2", 2.0)
    assert e.next_timer() == 15.0
    cmds = e.handle(Tick(), 15.0)
    assert CancelOffer("c1", "a1", "ring_no_answer") in cmds
    view = e.agent_state("a1")
    assert (view.state, view.reason) == ("not_ready", "missed")
    assert e.contact("c1").position == 1  # type: ignore[union-attr]
    assert offers(e.handle(AgentReady("a2"), 16.0)) == [("c1", "a2")]


def test_timed_out_and_rejected_offers_requeue_without_cancel() -> None:
    e = engine()
    login(e, "a1")
    login(e, "a2")
    arrive(e, "c1")
    cmds = e.handle(OfferTimedOut("c1", "a1"), 5.0)
    assert not of(CancelOffer, cmds) and offers(cmds) == [("c1", "a2")]
    cmds = e.handle(OfferRejected("c1", "a2"), 6.0)
    assert e.agent_state("a2").reason == "rejected"
    assert e.contact("c1").state == "waiting"  # type: ignore[union-attr]


def test_accept_connects() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "c1")
    assert e.handle(OfferAccepted("c1", "a1"), 1.0)[0] == Connect("c1", "a1")
    assert e.contact("c1").state == "connected"  # type: ignore[union-attr]


def test_logout_during_an_offer_cancels_it_and_requeues() -> None:
    e = engine()
    login(e, "a1")
    login(e, "a2", ready=False)
    arrive(e, "c1")
    cmds = e.handle(AgentLoggedOut("a1"), 1.0)
    assert CancelOffer("c1", "a1", "agent_logged_out") in cmds
    assert e.contact("c1").state == "waiting"  # type: ignore[union-attr]


# -- abandon, races --------------------------------------------------------------------------

def test_abandon_while_offered_cancels_the_offer_and_frees_the_agent() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "c1")
    cmds = e.handle(ContactAbandoned("c1"), 1.0)
    assert CancelOffer("c1", "a1", "abandoned") in cmds
    assert e.agent_state("a1").state == "ready"
    assert e.contact("c1").state == "ended"  # type: ignore[union-attr]


def test_races_are_reported_not_raised() -> None:
    e = engine()
    login(e, "a1")
    arrive(e, "c1")
    e.handle(OfferAccepted("c1", "a1"), 1.0)
    assert e.handle(ContactAbandoned("c1"), 2.0) == [
        Rejected("ContactAbandoned", "already_connected", "c1", "a1")]
    assert e.handle(OfferAccepted("c1", "a1"), 2.0)[0].reason == "not_offered"  # type: ignore[union-attr]
    assert e.handle(ContactEnded("zz"), 2.0)[0].reason == "unknown_contact"  # type: ignore[union-attr]
    assert e.handle(AgentReady("zz"), 2.0)[0].reason == "unknown_agent"  # type: ignore[union-attr]
    assert arrive(e, "c1")[0].reason == "duplicate_contact"  # type: ignore[union-attr]
    assert arrive(e, "c9", queue="nope")[0].reason == "unknown_queue"  # type: ignore[union-attr]
    assert login(e, "a1")[0].reason == "already_logged_in"  # type: ignore[union-attr]
    assert e.handle(WrapUpEnded("a1"), 2.0)[0].reason == "no_wrap_up"  # type: ignore[union-attr]


# -- overflow, exits -------------------------------------------------------------------------

def test_no_agent_logged_in_takes_the_exit() -> None:
    e = engine(no_agents_exit="voicemail")
    assert arrive(e, "c1") == [ExitContact("c1", "voicemail", "no_agents")]
    assert e.contact("c1").state == "ended"  # type: ignore[union-attr]


def test_last_agent_logging_out_sends_waiting_contacts_to_the_exit() -> None:
    e = engine()
    login(e, "a1", ready=False)
    arrive(e, "c1")
    cmds = e.handle(AgentLoggedOut("a1"), 1.0)
    assert ExitContact("c1", "callback_offer", "no_agents") in cmds


def test_over_limit_takes_the_exit() -> None:
    e = engine(max_waiting=1)
    login(e, "a1", ready=False)
    arrive(e, "c1")
    assert of(ExitContact, arrive(e, "c2")) == [ExitContact("c2", "apology", "over_limit")]


def test_widen_skills_after_n_seconds() -> None:
    e = engine(overflow=(OverflowRule(30, widen_skills={"en": 1}),))
    login(e, "a1", skills={"sales": 1, "en": 1})
    login(e, "a2", skills={"sales": 1, "en": 3})
    arrive(e, "c0", 0.0, skills={"en": 3})
    arrive(e, "c1", 1.0, skills={"en": 3})
    assert e.next_timer() == 15.0  # ring timeout of c0 comes first
    e.handle(OfferAccepted("c0", "a2"), 2.0)
    cmds = e.handle(Tick(), 31.0)
    assert Overflow("c1", "sales", "sales", {"sales": 1, "en": 1}) in cmds
    assert offers(cmds) == [("c1", "a1")]


def test_overflow_to_another_queue_keeps_arrival_time() -> None:
    e = engine(overflow=(OverflowRule(20, to_queue="support"),))
    login(e, "s1", skills={"sales": 1}, ready=False)
    login(e, "p1", skills={"support": 1}, ready=False)
    arrive(e, "c1", 0.0)
    arrive(e, "p-new", 10.0, queue="support")
    cmds = e.handle(Tick(), 20.0)
    assert Overflow("c1", "sales", "support", {"support": 1}) in cmds
    assert e.contact("c1").position == 1  # type: ignore[union-attr]
    assert offers(e.handle(AgentReady("p1"), 21.0)) == [("c1", "p1")]


def test_exit_rule_bounds_the_wait() -> None:
    e = engine(overflow=(OverflowRule(60, exit="voicemail"),))
    login(e, "a1", ready=False)
    arrive(e, "c1", 0.0)
    assert e.next_timer() == 60.0
    assert ExitContact("c1", "voicemail", "max_wait") in e.handle(Tick(), 60.0)
    assert e.next_timer() is None


def test_a_rule_waits_for_a_pending_offer_to_settle() -> None:
    e = engine(overflow=(OverflowRule(5, exit="voicemail"),))
    login(e, "a1")
    arrive(e, "c1", 0.0)
    assert not of(ExitContact, e.handle(Tick(), 5.0))
    cmds = e.handle(Tick(), 15.0)  # ring-no-answer, then the rule
    assert ExitContact("c1", "voicemail", "max_wait") in cmds


def test_periodic_announcements() -> None:
    e = engine(announce_every_s=30)
    login(e, "a1", ready=False)
    arrive(e, "c1", 0.0)
    assert e.handle(Tick(), 30.0) == [Announce("c1", 1, None)]


def test_queue_stats() -> None:
    e = engine()
    login(e, "a1", ready=False)
    login(e, "a2")
    arrive(e, "c1", 0.0)
    arrive(e, "c2", 4.0)
    sales = next(s for s in e.queue_stats(10.0) if s.name == "sales")
    assert (sales.waiting, sales.longest_wait_s, sales.agents_logged_in,
            sales.agents_ready) == (1, 6.0, 2, 1)


def test_invalid_configuration_raises_a_coded_error() -> None:
    with pytest.raises(ConfigError) as err:
        Engine({"q": QueueConfig("q", overflow=(OverflowRule(1, to_queue="nope"),))})
    assert err.value.code == "unknown_queue"
    with pytest.raises(ConfigError):
        Engine({"q": QueueConfig("q", strategy="random")})  # type: ignore[arg-type]
