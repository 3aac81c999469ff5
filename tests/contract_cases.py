"""One contract for every transport: the same caller choices reach the same exit.

Each case is plain data (a voice test and the touch test both read it): the flow's local
time, the caller's number ("" when unknown), the inputs in order (digit strings, or
"timeout" for silence at a digits prompt), and the exit and variables expected at the end.
``drive_interpreter`` is the reference: it runs the interpreter directly, actions included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ivr_flows.core.effects import Act, Digits, Input, Result, SendLink, State, Timeout
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning: agents answer
CLOSED = datetime(2026, 11, 23, 23, 30)  # a Monday night: self-service only
TIMEOUT = "timeout"


@dataclass(frozen=True)
class ContractCase:
    name: str
    now: datetime
    caller: str
    inputs: tuple[str, ...]
    exit_kind: str
    exit_target: str
    vars: Mapping[str, str]  # a subset of the final variables
    absent: tuple[str, ...] = ()  # variables that must not be set
    attributes: Mapping[str, str] = field(default_factory=dict)  # subset of exit attributes


CASES: tuple[ContractCase, ...] = (
    ContractCase("order_status_ok", OPEN, "", ("1", "12345678", "0"), "queue", "service",
                 {"order_id": "12345678", "order_status": "shipped", "eta_month": "11",
                  "eta_day": "25"}, attributes={"order_id": "12345678"}),
    ContractCase("order_not_found_closed", CLOSED, "", ("1", "99999999", "0", "9"),
                 "hangup", "", {"order_id": "99999999"}, absent=("order_status",)),
    ContractCase("delivery_tracking", OPEN, "", ("2", "34567890", "*", "0"), "queue",
                 "service", {"order_id": "34567890", "carrier": "顺丰速运",
                             "tracking_no": "1122334455", "location": "杭州西湖区"}),
    ContractCase("invalid_input_retry_fallback", OPEN, "", ("1", "123", TIMEOUT, "4567"),
                 "queue", "service", {"lang": "zh"}, absent=("order_id",)),
    ContractCase("invalid_then_valid", OPEN, "", ("1", "1234567", "23456789", "0"), "queue",
                 "service", {"order_id": "23456789", "order_status": "paid"}),
    ContractCase("password_reset", OPEN, "13800138000", ("4", "1"), "hangup", "",
                 {"account_id": "A1001", "phone_last4": "8000", "reset_sent": "true"}),
    ContractCase("password_reset_unknown_number_goes_to_agent", OPEN, "13900139000", ("4",),
                 "queue", "service", {"caller": "13900139000"}, absent=("account_id",)),
    ContractCase("agent_open_in_english", OPEN, "", ("9", "0"), "queue", "service",
                 {"lang": "en"}, attributes={"language": "en"}),
    ContractCase("callback_closed", CLOSED, "13900139000", ("0", "1"), "callback",
                 "callbacks", {"caller": "13900139000"},
                 attributes={"number": "13900139000"}),
    ContractCase("broken_backend_apologises_then_agent", OPEN, "", ("1", "67890123"),
                 "queue", "service", {"order_id": "67890123"}, absent=("order_status",)),
)


class Runner(Protocol):
    def run(self, flow: Flow, act: Act) -> Result: ...


def as_input(text: str) -> Input:
    return Timeout() if text == TIMEOUT else Digits(text)


def drive_interpreter(flow: Flow, runner: Runner, case: ContractCase) -> State:
    """Run a case against the interpreter directly; returns the final state."""
    state, effects = start(flow, case.now, vars={"caller": case.caller} if case.caller else {})
    pending = list(case.inputs)
    for _ in range(len(pending) + 32):
        if state.waiting == "done":
            break
        if state.waiting == "result":
            effect = next(e for e in reversed(effects) if isinstance(e, Act | SendLink))
            # The reference texts no links: a SendLink is answered as a link not sent.
            result = runner.run(flow, effect) if isinstance(effect, Act) \
                else Result("error", {})
            state, effects = step(flow, state, result, case.now)
            continue
        if not pending:
            raise AssertionError(f"{case.name}: flow still waits at {state.node}")
        state, effects = step(flow, state, as_input(pending.pop(0)), case.now)
    if pending:
        raise AssertionError(f"{case.name}: flow ended with inputs left: {pending}")
    return state


def check_outcome(case: ContractCase, kind: str, target: str, variables: Mapping[str, str],
                  attributes: Mapping[str, str]) -> None:
    assert (kind, target) == (case.exit_kind, case.exit_target), case.name
    assert {k: variables.get(k) for k in case.vars} == dict(case.vars), case.name
    assert not [k for k in case.absent if variables.get(k)], case.name
    assert {k: attributes.get(k) for k in case.attributes} == dict(case.attributes), case.name
