"""What goes into the flow interpreter and what comes out of it, and the session state.

Inputs (what a person, or the edge that ran an effect, tells the flow):
    Digits, Tap, Speech, Timeout, Result, Back, SetLanguage
Effects (what a renderer shows or does):
    Say, Ask, Act, SendLink, Exit

Every effect a renderer must handle is a type of its own: ``Act`` is only ever one of the
flow's declared actions (its name is never a reserved word: ``ivr_flows.core.validate``
refuses those), texting a link is ``SendLink``. Both wait for a ``Result``.

Plain immutable data; no I/O. ``State.to_dict`` / ``State.from_dict`` carry a session from
voice to screen (the touch page signs it into its forms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr_flows.core import model as m

# ---------------------------------------------------------------- inputs (caller -> flow)


@dataclass(frozen=True)
class Digits:
    digits: str


@dataclass(frozen=True)
class Tap:
    key: str


@dataclass(frozen=True)
class Speech:
    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Timeout:
    pass


@dataclass(frozen=True)
class Result:
    """Outcome of an ``Act`` or a ``SendLink``: "ok", "not_found" or "error"; an action's
    values become flow variables."""

    outcome: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class SetLanguage:
    lang: str


Input = Digits | Tap | Speech | Timeout | Result | Back | SetLanguage

# ---------------------------------------------------------------- effects (flow -> renderer)


@dataclass(frozen=True)
class Value:
    value: str
    say_as: m.SayAs = "text"


@dataclass(frozen=True)
class Spoken:
    """A prompt resolved for one language: fixed text and variable values, in order."""

    key: str  # "node.prompt", "node.invalid", ... (stable: used for recordings and tests)
    lang: str
    parts: tuple[m.TextPart | Value, ...]
    audio: str | None = None  # operator-recorded file for this language, if any

    @property
    def text(self) -> str:
        return "".join(p.text if isinstance(p, m.TextPart) else p.value for p in self.parts)


@dataclass(frozen=True)
class Choice:
    key: str
    label: str


@dataclass(frozen=True)
class Say:
    prompt: Spoken


@dataclass(frozen=True)
class Ask:
    node: str
    prompt: Spoken
    choices: tuple[Choice, ...]  # empty for digit collection
    min_digits: int
    max_digits: int
    timeout_s: int
    terminator: str = "#"
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # key -> phrases


@dataclass(frozen=True)
class Act:
    """Run one of the flow's declared actions (``flow.actions[action]``)."""

    action: str
    args: Mapping[str, str]


@dataclass(frozen=True)
class SendLink:
    """Text the caller a signed link to the touch menu, opening at node ``resume``.

    ``to`` is the caller's number as the flow knows it ("" when unknown: the edge answers
    ``Result("error")`` and the flow says so)."""

    node: str
    resume: str
    to: str


ExitKind = Literal["queue", "callback", "hangup", "transfer"]


@dataclass(frozen=True)
class Exit:
    kind: ExitKind
    node: str
    target: str = ""  # queue name / transfer destination
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


Effect = Say | Ask | Act | SendLink | Exit

# ---------------------------------------------------------------- state

Waiting = Literal["input", "result", "done"]


@dataclass(frozen=True)
class State:
    flow: str
    node: str
    lang: str
    vars: Mapping[str, str]
    waiting: Waiting = "input"
    attempts: int = 0  # wrong or missing answers at the current node
    history: tuple[str, ...] = ()
    exit: Exit | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "node": self.node, "lang": self.lang, "vars": dict(self.vars),
            "waiting": self.waiting, "attempts": self.attempts, "history": list(self.history),
            "exit": None if self.exit is None else {
                "kind": self.exit.kind, "node": self.exit.node, "target": self.exit.target,
                "priority": self.exit.priority, "skills": dict(self.exit.skills),
                "attributes": dict(self.exit.attributes), "reason": self.exit.reason},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> State:
        ex = d.get("exit")
        return cls(
            flow=str(d["flow"]), node=str(d["node"]), lang=str(d["lang"]),
            vars={str(k): str(v) for k, v in dict(d.get("vars", {})).items()},
            waiting=d.get("waiting", "input"), attempts=int(d.get("attempts", 0)),
            history=tuple(str(h) for h in d.get("history", ())),
            exit=None if not ex else Exit(
                kind=ex["kind"], node=ex["node"], target=ex.get("target", ""),
                priority=int(ex.get("priority", 0)), skills=dict(ex.get("skills", {})),
                attributes=dict(ex.get("attributes", {})), reason=ex.get("reason", "")),
        )
