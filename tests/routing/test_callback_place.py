"""Callbacks keep their place: a callback waits with the enqueue time of the caller who
asked for it, so it is served neither before callers who were already waiting nor after
those who came later; no exit (no agents, over the limit, maximum wait) ever drops it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.routing import (
    AgentLoggedIn,
    AgentNotReady,
    AgentReady,
    ContactArrived,
    ContactEnded,
    Engine,
    ExitContact,
    Offer,
    OfferAccepted,
    OverflowRule,
    QueueConfig,
    WrapUpEnded,
)


def engine(staffed: bool = True, **kw: object) -> Engine:
    """One queue; its agent a1 logged in but not ready (callers wait) unless not staffed."""
    e = Engine({"sales": QueueConfig("sales", skills={"sales": 1}, wrap_up_s=0, **kw)})  # type: ignore[arg-type]
    if staffed:
        e.handle(AgentLoggedIn("a1", {"sales": 1}), 0.0)
        e.handle(AgentNotReady("a1", "break"), 0.0)
    return e


def serve_all(e: Engine, now: float) -> list[str]:
    """One agent takes the waiting contacts one by one: the order they are served in."""
    served: list[str] = []
    if e.agent_state("a1").state == "logged_out":
        cmds = e.handle(AgentLoggedIn("a1", {"sales": 1}), now)
    else:
        cmds = e.handle(AgentReady("a1"), now)
    for _ in range(100):
        offer = next((c for c in cmds if isinstance(c, Offer)), None)
        if offer is None:
            return served
        served.append(offer.contact_id)
        e.handle(OfferAccepted(offer.contact_id, "a1"), now)
        cmds = e.handle(ContactEnded(offer.contact_id), now)
        cmds += e.handle(WrapUpEnded("a1", offer.contact_id), now)
    return served


def test_a_callback_is_served_between_the_callers_before_and_after_its_request() -> None:
    e = engine()
    e.handle(ContactArrived("early", "voice", "sales"), 10.0)
    # "cb" replaces a caller who joined at 20 and pressed the callback key at 40
    e.handle(ContactArrived("later", "voice", "sales"), 30.0)
    e.handle(ContactArrived("cb", "callback", "sales", enqueued_at=20.0), 40.0)
    e.handle(ContactArrived("last", "voice", "sales"), 50.0)
    assert serve_all(e, 60.0) == ["early", "cb", "later", "last"]


def test_a_callback_cannot_claim_a_place_in_the_future() -> None:
    e = engine()
    e.handle(ContactArrived("cb", "callback", "sales", enqueued_at=999.0), 10.0)
    e.handle(ContactArrived("next", "voice", "sales"), 20.0)
    assert serve_all(e, 30.0) == ["cb", "next"]


def test_a_callback_waits_with_no_agent_logged_in_and_past_the_maximum_wait() -> None:
    e = engine(staffed=False, overflow=(OverflowRule(60, exit="apology"),), max_waiting=1)
    cmds = e.handle(ContactArrived("call", "voice", "sales"), 0.0)
    assert [c for c in cmds if isinstance(c, ExitContact)]  # a caller with nobody there leaves
    cmds = e.handle(ContactArrived("cb1", "callback", "sales"), 0.0)
    cmds += e.handle(ContactArrived("cb2", "callback", "sales"), 1.0)  # over max_waiting too
    assert not [c for c in cmds if isinstance(c, ExitContact)]
    assert e.next_timer() is None or e.next_timer() > 0  # no max-wait rule armed for them
    assert serve_all(e, 7200.0) == ["cb1", "cb2"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["voice", "callback"]), st.integers(0, 50)),
                min_size=1, max_size=12))
def test_contacts_are_served_in_the_order_of_their_first_place_in_line(
        spec: list[tuple[str, int]]) -> None:
    """Random callers and callbacks (each callback with an earlier place it keeps): with
    one priority, the service order is the order of the place in line, ties by arrival."""
    e = engine()
    places: dict[str, tuple[float, int]] = {}
    now = 100.0
    for i, (media, back) in enumerate(spec):
        now += 1.0
        cid = f"{media}-{i}"
        place = now - back if media == "callback" else now
        e.handle(ContactArrived(cid, media, "sales",  # type: ignore[arg-type]
                                enqueued_at=place if media == "callback" else None), now)
        places[cid] = (place, i)
    served = serve_all(e, now + 1)
    assert served == sorted(places, key=lambda cid: places[cid])
