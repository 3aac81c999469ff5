"""A touch session, statelessly: the interpreter state travels signed in the page.

``StateCodec`` signs ``State.to_dict()`` (itsdangerous) into a hidden form field, so a caller
cannot change their variables (an ``account_id`` looked up from their number, say), together
with the session's ``Journey``: its id and issue time, how many side effects it ran, and what
the person did and saw (the hand-off to an agent carries that). A token is refused with a
``StateRefused`` whose ``code`` names the page to show: ``state_tampered`` (bad or edited),
``state_expired`` (the session started more than ``max_age_s`` ago) or ``state_stale`` (the
flow was edited since: the node it waits at, or one it would go back to, is gone or is now
another kind of node).

``advance_session`` runs the flow's actions (``Act``) and link texts (``SendLink``)
synchronously and feeds their results back until the interpreter waits for the caller or
exits; a step with an effect (an action whose method is not GET, a text) runs through the
session's one-time key (``once.OnceKeys``), so posting the same old page again shows the
same result without running it twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from itsdangerous import BadData, URLSafeSerializer

from ivr_flows.core import model as m
from ivr_flows.core.effects import (
    Act,
    Digits,
    Effect,
    Input,
    Result,
    SendLink,
    SetLanguage,
    State,
    Tap,
)
from ivr_flows.core.interpreter import step
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSender
from ivr_flows.touch.once import OnceKeys

log = logging.getLogger(__name__)
STATE_SALT = "hotline.itr.state.v2"
OLD_STATE_SALT = "hotline.itr.state.v1"  # before states expired: such a page has expired
MAX_ACTIONS_PER_STEP = 16  # a guard: a validated flow waits for the caller long before this
MAX_AGE_S = 1800
MAX_TRAIL = 24  # (node, input) steps kept: the last ones
MAX_SEEN = 4  # self-service results kept: the last ones
MAX_TEXT = 240


class Runner(Protocol):
    def run(self, flow: Flow, act: Act) -> Result: ...


Clock = Callable[[Flow], datetime]


class StateRefused(ValueError):
    code = "state_tampered"


class StateTampered(StateRefused):
    code = "state_tampered"


class StateExpired(StateRefused):
    code = "state_expired"


class StateStale(StateRefused):
    code = "state_stale"


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Journey:
    """The session beside its interpreter state: ``sid`` (random), ``issued`` (epoch
    seconds of its start: the state's issued-at time), ``effects`` (side effects run: the
    number in the next one-time key), ``trail`` ((node, input) as the voice path records
    them, the last ``MAX_TRAIL``) and ``seen`` (the self-service results shown)."""

    sid: str
    issued: int
    effects: int = 0
    trail: tuple[tuple[str, str], ...] = ()
    seen: tuple[str, ...] = ()

    @classmethod
    def new(cls, issued: float, node: str = "", how: str = "start") -> Journey:
        trail = ((node, how),) if node else ()
        return cls(secrets.token_urlsafe(16), int(issued), trail=trail)

    def key(self, what: str) -> str:
        """The one-time key of this session's next side effect ``what``."""
        return f"{self.sid}:{self.effects}:{what}"

    def did(self, node: str, how: str) -> Journey:
        trail = self.trail
        if trail and trail[-1] == (node, "link"):  # a link opened here: one step, not two
            trail = trail[:-1]
        return replace(self, trail=(*trail, (_clip(node, 64), _clip(how, 96)))[-MAX_TRAIL:])

    def saw(self, texts: Iterable[str]) -> Journey:
        seen = list(self.seen)
        for text in texts:
            text = _clip(text)
            if text and text not in seen:
                seen.append(text)
        return replace(self, seen=tuple(seen[-MAX_SEEN:]))

    def spent(self) -> Journey:
        return replace(self, effects=self.effects + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "iat": self.issued, "n": self.effects,
                "t": [list(x) for x in self.trail], "r": list(self.seen)}

    @classmethod
    def from_dict(cls, d: Any) -> Journey:
        trail = tuple((str(a), str(b)) for a, b in d.get("t", ()))
        sid = str(d["sid"])
        if not sid:
            raise ValueError("no session id")
        return cls(sid, int(d["iat"]), int(d.get("n", 0)), trail[-MAX_TRAIL:],
                   tuple(str(x) for x in d.get("r", ()))[-MAX_SEEN:])


def fits(state: State, flow: Flow) -> bool:
    """Can this flow go on from this state? After an edit, the node the state waits at (or
    one it would go back to) may be gone, or be another kind of node."""
    if state.node not in flow.nodes or state.lang not in flow.languages:
        return False
    if any(node not in flow.nodes for node in state.history):
        return False
    node = flow.nodes[state.node]
    if state.waiting == "input":
        return node.kind in m.INPUT_KINDS
    if state.waiting == "result":
        return isinstance(node, m.ActionNode | m.SendLinkNode)
    return state.exit is not None


class StateCodec:
    """Signs a session (state + journey) into a page and reads it back; ``max_age_s`` after
    the session started (``Journey.issued``) its pages have expired. ``wall``: epoch
    seconds (``time.time``; tests pass a fake)."""

    def __init__(self, secret: str, max_age_s: int = MAX_AGE_S,
                 wall: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("StateCodec needs a non-empty secret")
        self._serializer = URLSafeSerializer(secret, salt=STATE_SALT)
        self._old = URLSafeSerializer(secret, salt=OLD_STATE_SALT)
        self.max_age_s = max_age_s
        self.wall = wall

    def dump(self, state: State, journey: Journey | None = None) -> str:
        """The page's token; without a journey, that of a session starting now."""
        j = journey if journey is not None else Journey.new(self.wall(), state.node)
        return str(self._serializer.dumps({"s": state.to_dict(), "j": j.to_dict()}))

    def load(self, token: str, flow: Flow) -> State:
        return self.open(token, flow)[0]

    def open(self, token: str, flow: Flow) -> tuple[State, Journey]:
        """The state and journey of a page of ``flow``; ``StateRefused`` if unusable."""
        try:
            data: Any = self._serializer.loads(token)
            state = State.from_dict(data["s"])
            journey = Journey.from_dict(data["j"])
        except (BadData, KeyError, TypeError, ValueError, AttributeError) as exc:
            if self._signed_before_expiry(token):
                raise StateExpired("the page is from before pages expired") from exc
            raise StateTampered("the page state is not valid") from exc
        if state.flow != flow.name:
            raise StateTampered("the page state belongs to another menu")
        if self.wall() - journey.issued > self.max_age_s:
            raise StateExpired("the session started too long ago")
        if not fits(state, flow):
            raise StateStale("the menu was edited since this page was made")
        return state, journey

    def _signed_before_expiry(self, token: str) -> bool:
        try:
            self._old.loads(token)
        except BadData:
            return False
        return True


def advance(flow: Flow, state: State, effects: tuple[Effect, ...], runner: Runner,
            clock: Clock, send_link: LinkSender) -> tuple[State, list[Effect]]:
    """Run pending actions, feeding results back, until the flow waits for input or exits
    (no one-time keys: ``advance_session`` is what the page runs)."""
    state, shown, _ = advance_session(flow, state, effects, runner, clock, send_link,
                                      Journey.new(time.time()), None)
    return state, shown


def describe(flow: Flow, state: State, inp: Input) -> str:
    """A person's input at the node ``state`` waits at, for the journey's trail: the voice
    path's words ("key 1", "digits ...", "timeout"), a menu key with its label."""
    node = flow.nodes.get(state.node)
    if isinstance(inp, Tap | Digits) and isinstance(node, m.MenuNode):
        key = inp.key if isinstance(inp, Tap) else inp.digits
        option = next((o for o in node.options if o.key == key), None)
        label = "" if option is None else option.label.get(state.lang) or next(
            iter(option.label.values()), "")
        return f"key {key} ({label})" if label else f"key {key}"
    if isinstance(inp, Digits):
        return f"digits {inp.digits}"
    if isinstance(inp, SetLanguage):
        return f"lang {inp.lang}"
    return type(inp).__name__.lower()  # timeout, back, tap (at a node that is no menu)


def has_effect(flow: Flow, pending: Act | SendLink) -> bool:
    """Running it changes something: an action whose HTTP method is not GET, or a text."""
    if isinstance(pending, SendLink):
        return True
    spec = flow.actions.get(pending.action)
    return spec is None or spec.method.upper() != "GET"


def advance_session(flow: Flow, state: State, effects: tuple[Effect, ...], runner: Runner,
                    clock: Clock, send_link: LinkSender, journey: Journey,
                    once: OnceKeys | None) -> tuple[State, list[Effect], Journey]:
    """Run pending actions, feeding results back, until the flow waits for input or exits.
    A step with an effect runs once per one-time key (``once``): the same old page posted
    again gets the first run's result. The journey records each result."""
    shown = list(effects)
    for _ in range(MAX_ACTIONS_PER_STEP):
        pending = next((e for e in reversed(effects) if isinstance(e, Act | SendLink)), None)
        if state.waiting != "result" or pending is None:
            break

        def run(pending: Act | SendLink = pending, state: State = state) -> Result:
            if isinstance(pending, SendLink):
                return send_link(flow, state, pending)
            return runner.run(flow, pending)

        if once is not None and has_effect(flow, pending):
            result = once.run(journey.key(state.node), journey.issued, run)
            journey = journey.spent()
        else:
            result = run()
        journey = journey.did(state.node, f"result {result.outcome}")
        state, effects = step(flow, state, result, clock(flow))
        shown.extend(effects)
    else:
        log.error("flow %s: more than %d actions in one step", flow.name, MAX_ACTIONS_PER_STEP)
    return state, shown, journey
