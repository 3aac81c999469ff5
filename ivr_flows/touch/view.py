"""Effects -> a touch page's view model. Pure: no Flask, no I/O, no clock.

The interpreter speaks in effects (Say, Ask, Act, SendLink, Exit); a phone screen wants cards, a
question, big buttons or a number field, and, at the end, an honest final page that says
what happens next. ``build_page`` does that translation; templates only lay it out.

Choices:
- ``Say`` effects become cards. A card that shows looked-up values (an order status) is a
  "result" card; a retry message ("that is not a valid choice") is a "notice".
- Voice filler is dropped: an action node's "one moment please" and the exit node's own
  "please hold, connecting you" (the touch page says what really happens instead).
- A node's ``screen`` text, when it has one, is shown instead of its spoken prompt; a menu
  without one gets a short heading ("Choose an option"), not the spoken list of keys that
  its buttons already say.
- A queue exit offers the chat with an agent when the page can hand the session over
  (``can_chat``): the agent then sees what the person did here.
- A menu choice that leads to a ``send_link`` node ("get this menu on your phone") is hidden
  unless the page can really text a link (an SMS sender and a known number).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ivr_flows.core import model as m
from ivr_flows.core.effects import Ask, Effect, Exit, Say, Spoken, State, Value
from ivr_flows.core.interpreter import render
from ivr_flows.core.messages import ids as message_ids
from ivr_flows.core.messages import template

CardKind = Literal["info", "result", "notice"]
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

# Words of the page itself (not of the flow): the message catalogue's ``touch.*`` messages,
# by their short name (``back``, ``queue_heading``, ...); English where a language has none.
UI_PREFIX = "touch."


def ui_text(lang: str) -> Mapping[str, str]:
    return {msg_id.removeprefix(UI_PREFIX): template(msg_id, lang)
            for msg_id in message_ids(UI_PREFIX)}


@dataclass(frozen=True)
class Problem:
    """A problem page (a bad link, a stale page): said in Chinese and in English at once."""

    code: str
    heading_zh: str
    heading_en: str
    detail_zh: str
    detail_en: str
    home_zh: str
    home_en: str


PROBLEM_CODES = frozenset({"link_expired", "link_tampered", "state_tampered", "bad_input",
                           "not_found", "state_expired", "state_stale", "busy"})


def problem_page(code: str) -> Problem:
    """The words of problem page ``code`` (an unknown code: ``bad_input``'s)."""
    shown = code if code in PROBLEM_CODES else "bad_input"
    heading, detail = f"problem.{shown}", f"problem.{shown}_detail"
    return Problem(code, template(heading, "zh"), template(heading, "en"),
                   template(detail, "zh"), template(detail, "en"),
                   template("problem.home", "zh"), template("problem.home", "en"))


@dataclass(frozen=True)
class Segment:
    text: str
    value: bool = False  # a looked-up or entered value (shown emphasised)


@dataclass(frozen=True)
class Card:
    key: str
    kind: CardKind
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


@dataclass(frozen=True)
class Button:
    key: str
    label: str


@dataclass(frozen=True)
class DigitsField:
    min_digits: int
    max_digits: int
    html_pattern: str = "[0-9]*"


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    current: bool


@dataclass(frozen=True)
class Outcome:
    kind: str
    target: str
    heading: str
    message: tuple[Segment, ...]
    needs_number: bool
    data: Mapping[str, Any]  # machine-readable: exit + vars (the contract tests read it)
    offers_chat: bool = False  # a queue exit handed over to a chat (the page links it)


@dataclass(frozen=True)
class Page:
    flow: str
    lang: str
    title: str
    cards: tuple[Card, ...]
    prompt: Card | None
    choices: tuple[Button, ...]
    digits: DigitsField | None
    outcome: Outcome | None
    can_go_back: bool
    languages: tuple[Language, ...]
    ui: Mapping[str, str]


def segments(spoken: Spoken) -> tuple[Segment, ...]:
    return tuple(Segment(p.value, True) if isinstance(p, Value) else Segment(p.text)
                 for p in spoken.parts)


def card(spoken: Spoken) -> Card:
    if spoken.key.endswith((".invalid", ".no_input")):
        kind: CardKind = "notice"
    elif any(isinstance(p, Value) and p.value for p in spoken.parts):
        kind = "result"
    else:
        kind = "info"
    return Card(spoken.key, kind, segments(spoken))


def fill(template: str, values: Mapping[str, str]) -> tuple[Segment, ...]:
    """A UI message with ``{name}`` placeholders, values marked as values."""
    out: list[Segment] = []
    for part in m.parse_template(template):
        if isinstance(part, m.TextPart):
            out.append(Segment(part.text))
        else:
            out.append(Segment(values.get(part.name, ""), True))
    return tuple(out)


def exit_data(state: State, ex: Exit) -> dict[str, Any]:
    return {"kind": ex.kind, "target": ex.target, "node": ex.node, "priority": ex.priority,
            "skills": dict(ex.skills), "attributes": dict(ex.attributes), "reason": ex.reason,
            "lang": state.lang, "vars": dict(state.vars)}


def outcome(state: State, ex: Exit, can_chat: bool = False) -> Outcome:
    t = ui_text(state.lang)
    number = ex.attributes.get("number", "")
    values = {"target": ex.target, "number": number}
    chat = can_chat and ex.kind == "queue"
    if ex.kind == "callback" and not number:
        heading, message, needs = t["callback_ask_heading"], t["callback_ask_message"], True
    elif chat:
        heading, message, needs = t["queue_chat_heading"], t["queue_chat_message"], False
    else:
        heading, message, needs = t[f"{ex.kind}_heading"], t[f"{ex.kind}_message"], False
    return Outcome(ex.kind, ex.target, heading, fill(message, values), needs,
                   exit_data(state, ex), chat)


def _node_of(flow: m.Flow, spoken: Spoken) -> m.Node | None:
    node_id, _, slot = spoken.key.rpartition(".")
    return flow.nodes.get(node_id) if slot == "prompt" else None


def screen_card(flow: m.Flow, state: State, spoken: Spoken) -> Card:
    """A node's prompt as the screen shows it: its ``screen`` text if it has one."""
    node = _node_of(flow, spoken)
    if node is None or node.screen is None or not node.screen.text:
        return card(spoken)
    return card(render(node.screen, spoken.key, state))


def question(flow: m.Flow, state: State, ask: Ask) -> Card:
    """What the page says above the buttons or the number field: the node's screen text,
    else for a menu a short heading (its buttons already say what the prompt lists), else
    the prompt."""
    node = flow.nodes.get(ask.node)
    if isinstance(node, m.MenuNode) and node.screen is None:
        return Card(ask.prompt.key, "info", (Segment(ui_text(state.lang)["choose"]),))
    return screen_card(flow, state, ask.prompt)


def _is_filler(flow: m.Flow, spoken: Spoken, ex: Exit | None) -> bool:
    node_id = spoken.key.rsplit(".", 1)[0]
    if not spoken.key.endswith(".prompt") or node_id not in flow.nodes:
        return False
    node = flow.nodes[node_id]
    return isinstance(node, m.ActionNode | m.SendLinkNode) or (ex is not None
                                                               and node_id == ex.node)


def _choices(flow: m.Flow, ask: Ask, can_send_link: bool) -> tuple[Button, ...]:
    node = flow.nodes.get(ask.node)
    hidden: set[str] = set()
    if isinstance(node, m.MenuNode) and not can_send_link:
        hidden = {o.key for o in node.options
                  if isinstance(flow.nodes.get(o.goto), m.SendLinkNode)}
    return tuple(Button(c.key, c.label) for c in ask.choices if c.key not in hidden)


def build_page(flow: m.Flow, state: State, effects: Sequence[Effect], *,
               can_send_link: bool = False, can_chat: bool = False) -> Page:
    """The page to show after these effects (a session's last step, actions included)."""
    ex = state.exit if state.waiting == "done" else None
    ask = next((e for e in reversed(effects) if isinstance(e, Ask)), None)
    cards = tuple(screen_card(flow, state, e.prompt) for e in effects
                  if isinstance(e, Say) and not _is_filler(flow, e.prompt, ex))
    languages = tuple(Language(code, LANGUAGE_NAMES.get(code, code), code == state.lang)
                      for code in flow.languages)
    title = flow.title.get(state.lang) or next(iter(flow.title.values()), flow.name)
    prompt = question(flow, state, ask) if ask is not None and ex is None else None
    choices = _choices(flow, ask, can_send_link) if ask is not None and ex is None else ()
    digits = (DigitsField(ask.min_digits, ask.max_digits)
              if ask is not None and ex is None and not ask.choices else None)
    return Page(
        flow=flow.name, lang=state.lang, title=title, cards=cards, prompt=prompt,
        choices=choices, digits=digits,
        outcome=None if ex is None else outcome(state, ex, can_chat),
        can_go_back=ex is None and bool(state.history), languages=languages,
        ui=ui_text(state.lang))
