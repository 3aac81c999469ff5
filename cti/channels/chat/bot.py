"""Bot first (``[chat] bot_first``): the knowledge base answers a new chat before any agent.

The decision is pure (``decide``): the conversation's ``BotState``, the customer's message
and the ranker's candidates in, the next state and one action out, no I/O. ``ChatBot`` is
the glue the chat channel calls (reactor thread): it ranks off the reactor through the
``rank`` callable it is given (the desktop's own ``LiveKnowledge`` index, see
``cti/app/chat_wiring.py``), stores the bot's messages like any other (sender ``system``,
author ``bot``) and hands the conversation to the queue.

The rules, in order, for each customer message while the bot has the conversation:

1. it asks for a person (``PERSON_WORDS``: 人工, agent, human …) → hand over;
2. it answers "did that help?": yes → solved (the chat ends, outcome ``contained``); no →
   a second "no" hands over, the first asks to say it in other words;
3. a file → hand over (the bot reads text only);
4. a question → the best candidate whose confidence reaches ``min_confidence`` and that
   was not refused already is sent, then "did that help?" with two quick replies;
   no such candidate → hand over at once (low confidence).

A customer who ends the chat after an answer they did not refuse is contained too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cti.channels.chat.web.strings import STRINGS

if TYPE_CHECKING:
    from cti.channels.chat.channel import ChatChannel, LiveChat
    from cti.records.chat import Appended, StoredMessage

log = logging.getLogger(__name__)

BOT_AUTHOR = "bot"
# Asking for a person: Chinese words anywhere in the message, English ones as whole words.
PERSON_WORDS = ("人工", "转人工", "真人", "agent", "human", "person", "operator")
YES = frozenset({
    "yes", "y", "yeah", "yep", "ok", "okay", "thanks", "thank you", "yes thanks",
    "yes thank you", "it helped", "that helped", "yes that helped", "yes it helped", "solved",
    "是", "是的", "有", "有帮助", "有用", "好的", "好", "谢谢", "有帮助谢谢", "解决了", "可以了",
    "明白了", "懂了", "好的谢谢",
})
NO = frozenset({
    "no", "n", "nope", "not really", "no it didnt", "it didnt help", "didnt help",
    "that didnt help", "not helpful", "wrong", "没有", "没", "没用", "不是", "不行", "不对",
    "没帮助", "没有帮助", "不", "否", "没解决", "没有解决", "还是不行",
})
_ENGLISH_PERSON = re.compile(
    r"\b(" + "|".join(w for w in PERSON_WORDS if w.isascii()) + r")s?\b", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]+")


@dataclass(frozen=True)
class BotSettings:
    min_confidence: float = 0.5
    max_unhelpful: int = 2  # this many "no" hand the conversation over
    context: int = 3  # the customer's last questions ranked together (newest counts most)


@dataclass(frozen=True)
class BotState:
    answers: int = 0  # answers sent
    unhelpful: int = 0  # answers the customer said did not help
    asking: bool = False  # "did that help?" waits for its answer
    refused: tuple[str, ...] = ()  # article keys the customer said did not help
    last_refused: bool = False  # the last answer was refused (ending now is not contained)
    last_key: str = ""  # the article of the last answer sent
    questions: tuple[str, ...] = ()  # the customer's recent questions, oldest first


@dataclass(frozen=True)
class Candidate:
    """A ranked article as the bot sees it (``cti.knowledge.live.Proposed``)."""

    key: str
    answer: str
    confidence: float


@dataclass(frozen=True)
class Answer:
    text: str
    key: str
    confidence: float


@dataclass(frozen=True)
class Rephrase:
    """The first unhelpful answer: ask the customer to say it in other words."""


@dataclass(frozen=True)
class HandOver:
    reason: str  # asked_for_person | unhelpful | low_confidence | file


@dataclass(frozen=True)
class Solved:
    """The customer said the answer helped."""


Action = Answer | Rephrase | HandOver | Solved


@dataclass(frozen=True)
class Step:
    state: BotState
    action: Action


def _plain(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.replace("'", "").replace("’", "")).lower().split())


def asks_for_person(text: str) -> bool:
    return any(w in text for w in PERSON_WORDS if not w.isascii()) or bool(
        _ENGLISH_PERSON.search(text))


def intent(state: BotState, text: str) -> str:
    """``person`` | ``yes`` | ``no`` | ``file`` | ``question`` (yes/no only when asked)."""
    if asks_for_person(text):
        return "person"
    if not text.strip():
        return "file"
    plain = _plain(text)
    if state.asking and plain in YES:
        return "yes"
    if state.asking and plain in NO:
        return "no"
    return "question"


def queries(state: BotState, text: str, settings: BotSettings) -> tuple[str, ...] | None:
    """What to rank for this message (oldest first), or None when no ranking is needed."""
    if intent(state, text) != "question":
        return None
    return (*state.questions, text)[-settings.context:]


def decide(state: BotState, text: str, found: Sequence[Candidate],
           settings: BotSettings) -> Step:
    """The bot's next step for the customer's message ``text`` (``""``: a file), with the
    ranker's ``found`` candidates for ``queries(...)`` (best first; ignored otherwise)."""
    kind = intent(state, text)
    if kind == "person":
        return Step(replace(state, asking=False), HandOver("asked_for_person"))
    if kind == "file":
        return Step(replace(state, asking=False), HandOver("file"))
    if kind == "yes":
        return Step(replace(state, asking=False, last_refused=False), Solved())
    if kind == "no":
        refused = (*state.refused, state.last_key) if state.last_key else state.refused
        unhelpful = state.unhelpful + 1
        after = replace(state, asking=False, unhelpful=unhelpful, refused=refused,
                        last_refused=True)
        if unhelpful >= settings.max_unhelpful:
            return Step(after, HandOver("unhelpful"))
        return Step(after, Rephrase())
    asked = (*state.questions, text)[-settings.context:]
    best = next((c for c in found if c.confidence >= settings.min_confidence
                 and c.key not in state.refused and c.answer.strip()), None)
    if best is None:
        return Step(replace(state, asking=False, questions=asked), HandOver("low_confidence"))
    return Step(replace(state, answers=state.answers + 1, asking=True, last_refused=False,
                        last_key=best.key, questions=asked),
                Answer(best.answer, best.key, best.confidence))


def contained(state: BotState) -> bool:
    """Ending now counts as solved by the bot: an answer was sent and not refused."""
    return state.answers > 0 and not state.last_refused


def bot_name(author: str, lang: str) -> str:
    """The name a system message shows: the bot's, in the conversation's language."""
    if author != BOT_AUTHOR:
        return ""
    return STRINGS.get(lang, STRINGS["en"])["bot"]


def quick_replies(lang: str) -> list[dict[str, str]]:
    """The two answers to "did that help?"; tapped, the widget sends the text as the
    customer's message (``intent`` knows both)."""
    words = STRINGS.get(lang, STRINGS["en"])
    return [{"key": "yes", "text": words["bot_yes"]},
            {"key": "person", "text": words["bot_person"]}]


# ---------------------------------------------------------------------- the glue (reactor)

Rank = Callable[[Sequence[str], str, Callable[[list[Candidate]], None]], None]


class ChatBot:
    """Runs ``decide`` for the chat channel, one customer message at a time per
    conversation: a message that arrives while the previous one is ranked or answered
    waits, so the bot's messages stay in the order of the customer's."""

    def __init__(self, rank: Rank, settings: BotSettings = BotSettings()) -> None:
        self.rank = rank
        self.settings = settings
        self.states: dict[str, BotState] = {}
        self.inbox: dict[str, list[StoredMessage]] = {}

    # called by ChatChannel

    def stored(self, channel: ChatChannel, chat: LiveChat, m: StoredMessage) -> None:
        """A message of a conversation the bot has was stored and fanned out."""
        if m.sender == "customer":
            waiting = self.inbox.setdefault(chat.conv, [])
            waiting.append(m)
            if len(waiting) == 1:
                self._next(channel, chat)
        elif m.author == BOT_AUTHOR and m.client_id.endswith("-ask"):
            channel.to_customer(chat.conv, {"t": "quick", "conv": chat.conv, "seq": m.seq,
                                            "replies": quick_replies(chat.lang)})

    def finished(self, conv: str) -> bool:
        """The conversation ends while the bot has it: forget it; True if contained."""
        self.inbox.pop(conv, None)
        return contained(self.states.pop(conv, BotState()))

    # the steps

    def _next(self, channel: ChatChannel, chat: LiveChat) -> None:
        waiting = self.inbox.get(chat.conv)
        if not waiting or chat.state != "bot":
            self.inbox.pop(chat.conv, None)
            return
        m = waiting[0]
        text = m.body if m.kind == "text" else ""
        state = self.states.get(chat.conv, BotState())
        asked = queries(state, text, self.settings)

        def done() -> None:
            if waiting:
                waiting.pop(0)
            self._next(channel, chat)

        def ranked(found: list[Candidate]) -> None:
            if chat.state != "bot":
                return done()
            return self._act(channel, chat, m, decide(state, text, found, self.settings), done)

        if asked is None:
            ranked([])
        else:
            self.rank(asked, chat.lang, ranked)

    def _act(self, channel: ChatChannel, chat: LiveChat, m: StoredMessage, step: Step,
             done: Callable[[], None]) -> None:
        conv, words = chat.conv, STRINGS.get(chat.lang, STRINGS["en"])
        action = step.action
        self.states[conv] = step.state
        cid = f"bot-{m.seq}"
        log.info("chat bot %s: %s", conv, type(action).__name__)
        match action:
            case Answer():
                self._say(channel, conv, cid, action.text, lambda: self._say(
                    channel, conv, cid + "-ask", words["bot_ask"], done))
            case Rephrase():
                self._say(channel, conv, cid, words["bot_rephrase"], done)
            case HandOver():
                self.states.pop(conv, None)
                self.inbox.pop(conv, None)
                chat.state = "handing_over"  # no more bot steps; queued once the note is stored
                self._say(channel, conv, cid, words["bot_handover"],
                          lambda: channel.hand_over(chat, action.reason))
            case Solved():
                self._say(channel, conv, cid, words["bot_solved"],
                          lambda: channel.end(chat, "system"))

    def _say(self, channel: ChatChannel, conv: str, cid: str, text: str,
             then: Callable[[], None]) -> None:
        def stored(result: Appended) -> None:
            if result.error is not None:
                log.error("chat bot %s: message not stored: %s", conv, result.error)
            channel.reactor.callLater(0, then)  # after the message's fan-out (same turn)

        channel.post(conv, "system", BOT_AUTHOR, cid, text=text, ack=stored)


def candidates(found: Sequence[Any]) -> list[Candidate]:
    """``LiveKnowledge.suggest`` results as the bot's candidates."""
    return [Candidate(str(p.key), str(p.answer), float(p.confidence)) for p in found]
