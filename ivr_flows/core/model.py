"""The flow model: what a hotline menu is, as plain immutable data.

A flow file (YAML, see ``ivr_flows/flows/``) is parsed by ``ivr_flows.loading.loader`` into these
types. Nothing here does I/O; the interpreter (``ivr_flows.core.interpreter``) walks them.
A node owns its prompt, its options, their keys, labels and spoken phrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

# Characters a caller can press; a menu option's key is one of these.
DTMF_KEYS = frozenset("0123456789*#")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(digits|number|alpha|text))?\}")
SayAs = Literal["digits", "number", "alpha", "text"]


@dataclass(frozen=True)
class TextPart:
    """A fixed piece of prompt text: speakable from a pre-built recording."""

    text: str


@dataclass(frozen=True)
class VarPart:
    """A variable spoken or shown in a prompt (``{order_id:digits}``)."""

    name: str
    say_as: SayAs = "text"


Part = TextPart | VarPart


def parse_template(text: str) -> tuple[Part, ...]:
    """Split prompt text at its ``{var}`` / ``{var:how}`` placeholders."""
    parts: list[Part] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(TextPart(text[pos : m.start()]))
        how = m.group(2) or "text"
        parts.append(VarPart(m.group(1), how))  # type: ignore[arg-type]
        pos = m.end()
    if pos < len(text):
        parts.append(TextPart(text[pos:]))
    return tuple(parts)


@dataclass(frozen=True)
class Prompt:
    """What a node says or shows, per language; optional operator-recorded audio per language."""

    text: dict[str, str]
    audio: dict[str, str] = field(default_factory=dict)

    def parts(self, lang: str) -> tuple[Part, ...]:
        return parse_template(self.text[lang])


@dataclass(frozen=True)
class Option:
    key: str
    label: dict[str, str]
    goto: str
    phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Variables this choice sets (``lang`` switches the caller's language).
    set: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    """How a node that waits for the caller handles silence and wrong input."""

    timeout_s: int
    retries: int
    invalid: Prompt
    no_input: Prompt
    fallback: str


@dataclass(frozen=True)
class NodeBase:
    id: str
    line: int
    # What the touch page shows instead of the spoken prompt (optional, per language): a
    # menu's "for order status press 1 ..." is voice wording above buttons that say it.
    screen: Prompt | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class MenuNode(NodeBase):
    prompt: Prompt
    options: tuple[Option, ...]
    retry: Retry
    speech: bool = False
    kind: Literal["menu"] = "menu"
    # the touch menu offers "type your question" here, answered from the knowledge base;
    # the value is the key of this menu's option that reaches a person ("" = not offered)
    question: str = ""


@dataclass(frozen=True)
class CollectNode(NodeBase):
    prompt: Prompt
    var: str
    min_digits: int
    max_digits: int
    pattern: str | None
    next: str
    retry: Retry
    terminator: str = "#"
    kind: Literal["collect"] = "collect"


@dataclass(frozen=True)
class SayNode(NodeBase):
    prompt: Prompt
    next: str
    kind: Literal["say"] = "say"


@dataclass(frozen=True)
class ActionNode(NodeBase):
    action: str
    args: dict[str, str]
    # outcome ("ok", "not_found", "error") -> node; "error" also covers timeouts.
    outcomes: dict[str, str]
    prompt: Prompt | None = None
    kind: Literal["action"] = "action"


@dataclass(frozen=True)
class BranchNode(NodeBase):
    var: str
    cases: dict[str, str]
    default: str
    kind: Literal["branch"] = "branch"


@dataclass(frozen=True)
class HoursNode(NodeBase):
    schedule: str
    open: str
    closed: str
    kind: Literal["hours"] = "hours"


@dataclass(frozen=True)
class QueueNode(NodeBase):
    queue: str
    priority: int
    skills: dict[str, int]
    attributes: dict[str, str]
    prompt: Prompt | None = None
    kind: Literal["queue"] = "queue"


@dataclass(frozen=True)
class CallbackNode(NodeBase):
    queue: str
    number_var: str
    prompt: Prompt | None = None
    kind: Literal["callback"] = "callback"
    priority: int = 5  # like a queue node's: the callback waits among the callers in line


@dataclass(frozen=True)
class SendLinkNode(NodeBase):
    """Send the caller a link to the touch menu, opening at ``resume``."""

    resume: str
    next: str
    on_error: str
    prompt: Prompt | None = None
    kind: Literal["send_link"] = "send_link"


@dataclass(frozen=True)
class TransferNode(NodeBase):
    to: str
    prompt: Prompt | None = None
    kind: Literal["transfer"] = "transfer"


@dataclass(frozen=True)
class HangupNode(NodeBase):
    prompt: Prompt | None = None
    kind: Literal["hangup"] = "hangup"


Node = (
    MenuNode
    | CollectNode
    | SayNode
    | ActionNode
    | BranchNode
    | HoursNode
    | QueueNode
    | CallbackNode
    | SendLinkNode
    | TransferNode
    | HangupNode
)
INPUT_KINDS = frozenset({"menu", "collect"})


@dataclass(frozen=True)
class ActionSpec:
    """A generic self-service HTTP call: where, how, and which reply fields become variables."""

    name: str
    method: str
    url: str
    timeout_s: float
    # flow variable -> dotted path into the JSON reply ("order.status")
    result: dict[str, str]
    body: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """Opening hours: weekly windows (Monday = 0) and closed dates."""

    name: str
    weekly: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()

    def is_open(self, local_now: datetime) -> bool:
        """Open at this local wall-clock time? (The caller passes the time; we never read it.)"""
        if local_now.date() in self.holidays:
            return False
        t = local_now.time()
        return any(start <= t < end for start, end in self.weekly.get(local_now.weekday(), ()))


@dataclass(frozen=True)
class Flow:
    name: str
    source: str
    languages: tuple[str, ...]
    default_language: str
    start: str
    timezone: str
    nodes: dict[str, Node]
    actions: dict[str, ActionSpec]
    schedules: dict[str, Schedule]
    title: dict[str, str] = field(default_factory=dict)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def successors(node: Node) -> dict[str, str]:
    """Every node this node can lead to, labelled by how (for validation and pictures)."""
    out: dict[str, str] = {}
    match node:
        case MenuNode():
            for opt in node.options:
                out.setdefault(opt.goto, f"{opt.key}")
            out.setdefault(node.retry.fallback, "fallback")
        case CollectNode():
            out.setdefault(node.next, "ok")
            out.setdefault(node.retry.fallback, "fallback")
        case SayNode():
            out[node.next] = ""
        case ActionNode():
            for outcome, target in node.outcomes.items():
                out.setdefault(target, outcome)
        case BranchNode():
            for value, target in node.cases.items():
                out.setdefault(target, f"={value}")
            out.setdefault(node.default, "else")
        case HoursNode():
            out.setdefault(node.open, "open")
            out.setdefault(node.closed, "closed")
        case SendLinkNode():
            out.setdefault(node.next, "sent")
            out.setdefault(node.on_error, "error")
            out.setdefault(node.resume, "resume")
        case _:
            pass
    return out
