"""A touch session, statelessly: the interpreter state travels signed in the page.

``StateCodec`` signs ``State.to_dict()`` (itsdangerous) into a hidden form field, so a caller
cannot change their variables (an ``account_id`` looked up from their number, say); a bad or
edited token is ``StateTampered``. ``advance`` runs the flow's actions (``Act``) and link
texts (``SendLink``) synchronously and feeds their results back until the interpreter waits
for the caller or exits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from itsdangerous import BadData, URLSafeSerializer

from ivr_flows.core.effects import Act, Effect, Result, SendLink, State
from ivr_flows.core.interpreter import step
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSender

log = logging.getLogger(__name__)
STATE_SALT = "hotline.itr.state.v1"
MAX_ACTIONS_PER_STEP = 16  # a guard: a validated flow waits for the caller long before this


class Runner(Protocol):
    def run(self, flow: Flow, act: Act) -> Result: ...


Clock = Callable[[Flow], datetime]


class StateTampered(ValueError):
    code = "state_tampered"


class StateCodec:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("StateCodec needs a non-empty secret")
        self._serializer = URLSafeSerializer(secret, salt=STATE_SALT)

    def dump(self, state: State) -> str:
        return str(self._serializer.dumps(state.to_dict()))

    def load(self, token: str, flow: Flow) -> State:
        try:
            data: Any = self._serializer.loads(token)
            state = State.from_dict(data)
        except (BadData, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateTampered("the page state is not valid") from exc
        if state.flow != flow.name or state.node not in flow.nodes:
            raise StateTampered("the page state belongs to another menu")
        return state


def advance(flow: Flow, state: State, effects: tuple[Effect, ...], runner: Runner,
            clock: Clock, send_link: LinkSender) -> tuple[State, list[Effect]]:
    """Run pending actions, feeding results back, until the flow waits for input or exits."""
    shown = list(effects)
    for _ in range(MAX_ACTIONS_PER_STEP):
        pending = next((e for e in reversed(effects) if isinstance(e, Act | SendLink)), None)
        if state.waiting != "result" or pending is None:
            break
        if isinstance(pending, SendLink):
            result = send_link(flow, state, pending)
        else:
            result = runner.run(flow, pending)
        state, effects = step(flow, state, result, clock(flow))
        shown.extend(effects)
    else:
        log.error("flow %s: more than %d actions in one step", flow.name, MAX_ACTIONS_PER_STEP)
    return state, shown
