"""Property tests: random event sequences against the routing invariants.

After every event: no agent holds more than its capacity; no contact is offered to two
agents at once; every Offer is closed by exactly one accept/reject/timeout/cancel; no
contact is lost or duplicated; a free agent never sits beside a contact it could take;
an offer never skips an older (or higher-priority) waiting contact the agent could take.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.routing import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    AgentView,
    CancelOffer,
    Command,
    Connect,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Engine,
    Event,
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

AGENTS = ["a0", "a1", "a2", "a3"]
MEDIA = ["voice", "chat", "web", "callback"]
SHARED = {"chat", "web"}
QUEUES = {
    "sales": QueueConfig("sales", skills={"sales": 1}, ring_timeout_s=10, wrap_up_s=5,
                         max_waiting=6, overflow=(OverflowRule(15, widen_skills={"en": 0}),
                                                  OverflowRule(30, to_queue="help"))),
    "help": QueueConfig("help", skills={"help": 1}, strategy="least_occupied",
                        ring_timeout_s=8, wrap_up_s=0,
                        overflow=(OverflowRule(50, exit="voicemail"),)),
    "vip": QueueConfig("vip", strategy="skill_level", ring_timeout_s=5, wrap_up_s=3),
}

agent_skills = st.fixed_dictionaries({}, optional={
    "sales": st.integers(1, 3), "help": st.integers(1, 2), "en": st.integers(1, 3)})

arrivals = st.tuples(st.just("arrive"), st.sampled_from(MEDIA), st.sampled_from(list(QUEUES)),
                     st.integers(0, 3), st.sampled_from([{}, {"en": 2}, {"en": 1}]))
answers = st.tuples(st.sampled_from(["accept", "accept", "accept", "reject", "timeout"]),
                    st.sampled_from(AGENTS), st.integers(0, 30))
ops = st.one_of(
    arrivals, arrivals, answers, answers,
    st.tuples(st.just("login"), st.sampled_from(AGENTS), agent_skills, st.integers(0, 3),
              st.booleans(), st.booleans()),
    st.tuples(st.sampled_from(["logout", "ready", "not_ready", "wrap_end"]),
              st.sampled_from(AGENTS)),
    st.tuples(st.sampled_from(["abandon", "end", "end"]), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 3.0, 7.0, 20.0])),
)


@dataclass
class Model:
    """What the commands told the outside world, replayed to check the engine."""

    engine: Engine = field(default_factory=lambda: Engine(QUEUES))
    now: float = 0.0
    arrived: list[str] = field(default_factory=list)
    order: dict[str, tuple[int, float, int]] = field(default_factory=dict)
    shared: dict[str, bool] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    outstanding: dict[str, str] = field(default_factory=dict)  # contact -> agent
    offers_made: int = 0
    offers_closed: int = 0
    config: dict[str, tuple[dict[str, int], int, bool]] = field(default_factory=dict)

    def send(self, event: Event) -> list[Command]:
        cmds = self.engine.handle(event, self.now)
        rejected = any(isinstance(c, Rejected) for c in cmds)
        if isinstance(event, (OfferRejected, OfferTimedOut)) and not rejected:
            self.close(event.contact_id, event.agent_id)
        if isinstance(event, (ContactAbandoned, ContactEnded)) and not rejected:
            self.ended.add(event.contact_id)
        for cmd in cmds:
            self.apply(cmd)
        self.check(cmds, fifo=not any(isinstance(c, Overflow) for c in cmds))
        return cmds

    def apply(self, cmd: Command) -> None:
        if isinstance(cmd, Offer):
            assert cmd.contact_id not in self.outstanding, "offered twice at once"
            assert cmd.contact_id not in self.ended
            self.outstanding[cmd.contact_id] = cmd.agent_id
            self.offers_made += 1
        elif isinstance(cmd, (Connect, CancelOffer)):
            self.close(cmd.contact_id, cmd.agent_id)
        elif isinstance(cmd, ExitContact):
            self.ended.add(cmd.contact_id)

    def close(self, contact_id: str, agent_id: str) -> None:
        assert self.outstanding.pop(contact_id) == agent_id, "offer closed twice or unknown"
        self.offers_closed += 1

    # -- invariants ---------------------------------------------------------------------------

    def check(self, cmds: list[Command], fifo: bool) -> None:
        views = {v.agent_id: v for v in self.engine.agents()}
        for view in views.values():
            self.check_capacity(view)
        waiting = self.check_contacts(views)
        self.check_no_idle_match(views, waiting)
        if fifo:
            for cmd in cmds:
                if isinstance(cmd, Offer):
                    self.check_fifo(cmd, waiting)

    def check_capacity(self, view: AgentView) -> None:
        _, max_chats, mixing = self.config[view.agent_id]
        assert view.voice_load <= 1 and view.chat_load <= max_chats
        assert mixing or not (view.voice_load and view.chat_load)
        held = len(view.connected) + len(view.wrap_up) + (view.offered is not None)
        assert held == view.voice_load + view.chat_load

    def check_contacts(self, views: dict[str, AgentView]) -> list[str]:
        waiting = []
        for cid in self.arrived:
            view = self.engine.contact(cid)
            assert view is not None, "contact lost"
            assert (view.state == "ended") == (cid in self.ended), cid
            assert (view.state == "offered") == (cid in self.outstanding)
            if view.state == "offered":
                assert views[view.agent or ""].offered == cid
            if view.state == "connected":
                assert cid in views[view.agent or ""].connected
            if view.state == "waiting":
                waiting.append(cid)
        stats = self.engine.queue_stats(self.now)
        assert sum(s.waiting for s in stats) == len(waiting), "contact duplicated or lost"
        return waiting

    def can_take(self, view: AgentView, cid: str) -> bool:
        contact = self.engine.contact(cid)
        assert contact is not None
        skills, max_chats, mixing = self.config[view.agent_id]
        if view.state == "logged_out" or view.reason is not None or view.offered is not None:
            return False
        if any(skills.get(name, 0) < level for name, level in contact.required):
            return False
        if self.shared[cid]:
            return view.chat_load < max_chats and (not view.voice_load or mixing)
        return not view.voice_load and (not view.chat_load or mixing)

    def check_no_idle_match(self, views: dict[str, AgentView], waiting: list[str]) -> None:
        for cid in waiting:
            for view in views.values():
                assert not self.can_take(view, cid), f"{view.agent_id} idle beside {cid}"

    def check_fifo(self, offer: Offer, waiting: list[str]) -> None:
        for cid in waiting:
            if self.order[cid] < self.order[offer.contact_id] and \
                    self.shared[cid] == self.shared[offer.contact_id]:
                contact = self.engine.contact(cid)
                assert contact is not None
                skills = self.config[offer.agent_id][0]
                assert any(skills.get(n, 0) < lv for n, lv in contact.required), \
                    f"{offer.contact_id} offered before older {cid}"


STAFF = [("login", "a0", {"sales": 2, "help": 1, "en": 2}, 2, False, True),
         ("login", "a1", {"sales": 1, "en": 1}, 3, True, True)]


def run(model: Model, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "wait":
        model.now += op[1]
        due = model.engine.next_timer()
        if due is not None and due <= model.now:
            model.send(Tick())
    elif kind == "arrive":
        cid = f"c{len(model.arrived)}"
        model.arrived.append(cid)
        model.order[cid] = (-op[3], model.now, len(model.arrived))
        model.shared[cid] = op[1] in SHARED
        cmds = model.send(ContactArrived(cid, op[1], op[2], op[3], op[4]))
        assert not any(isinstance(c, Rejected) for c in cmds)
    elif kind == "login":
        _, aid, skills, max_chats, mixing, ready = op
        view = model.engine.agent_state(aid)
        if view.state == "logged_out":
            model.config[aid] = (skills, max_chats, mixing)
        model.send(AgentLoggedIn(aid, skills, max_chats, mixing, ready))
    elif kind in ("logout", "ready", "not_ready", "wrap_end"):
        if op[1] in model.config:
            events: dict[str, Event] = {
                "logout": AgentLoggedOut(op[1]), "ready": AgentReady(op[1]),
                "not_ready": AgentNotReady(op[1], "break"), "wrap_end": WrapUpEnded(op[1])}
            event = events[kind]
            model.send(event)
    elif kind in ("accept", "reject", "timeout"):
        offered = model.engine.agent_state(op[1]).offered
        cid = offered if offered is not None and op[2] < 25 else f"c{op[2]}"
        cls: dict[str, type[OfferAccepted | OfferRejected | OfferTimedOut]] = {
            "accept": OfferAccepted, "reject": OfferRejected, "timeout": OfferTimedOut}
        model.send(cls[kind](cid, op[1]))
    else:
        cid = f"c{op[1] % max(len(model.arrived), 1)}"
        model.send(ContactAbandoned(cid) if kind == "abandon" else ContactEnded(cid))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=80))
def test_invariants_hold_for_any_event_sequence(sequence: list[tuple[Any, ...]]) -> None:
    model = Model()
    for op in [*STAFF, *sequence]:
        run(model, op)
    assert model.offers_made - model.offers_closed == len(model.outstanding)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=80))
def test_every_offer_is_closed_exactly_once_when_everything_ends(
        sequence: list[tuple[Any, ...]]) -> None:
    model = Model()
    for op in [*STAFF, *sequence]:
        run(model, op)
    for _ in range(20):  # let every ring timer fire: offers are closed by the engine itself
        run(model, ("wait", 20.0))
    assert not model.outstanding
    assert model.offers_made == model.offers_closed


def test_fifo_within_a_priority_with_a_single_agent() -> None:
    model = Model()
    run(model, ("login", "a0", {"sales": 1, "help": 1}, 0, False, False))
    for i in range(6):
        run(model, ("arrive", "voice", "sales", i % 2, {}))
    served = []
    run(model, ("ready", "a0"))
    for _ in range(6):
        cid = model.engine.agent_state("a0").offered
        assert cid is not None
        served.append(cid)
        run(model, ("accept", "a0", 0))
        model.send(ContactEnded(cid))
        run(model, ("wrap_end", "a0"))
    assert served == ["c1", "c3", "c5", "c0", "c2", "c4"]


busy_ops: st.SearchStrategy[tuple[Any, ...]] = st.one_of(
    st.tuples(st.just("arrive"), st.sampled_from(["chat", "chat", "web", "voice"]),
              st.just("sales"), st.integers(0, 1), st.just({})),
    st.tuples(st.just("accept"), st.sampled_from(AGENTS[:2]), st.just(0)),
    st.tuples(st.just("end"), st.integers(0, 30)),
    st.tuples(st.just("wrap_end"), st.sampled_from(AGENTS[:2])),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 6.0])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(busy_ops, min_size=5, max_size=60), st.integers(1, 4), st.booleans())
def test_chat_capacity_and_mixing_rules_hold_under_load(
        sequence: list[tuple[Any, ...]], max_chats: int, mixing: bool) -> None:
    model = Model()
    run(model, ("login", "a0", {"sales": 1}, max_chats, mixing, True))
    run(model, ("login", "a1", {"sales": 1}, 1, not mixing, True))
    for op in sequence:
        run(model, op)
