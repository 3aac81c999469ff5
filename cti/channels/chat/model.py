"""What a chat is, as the chat channel keeps it (``channel.py``): its settings, the route of a
web session, the live part of a conversation, and the journal it writes through."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cti.channels.chat.receipts import Marks
from cti.records.chat import Appended, NewMessage, StoredMessage


class Journal(Protocol):
    """The chat journal (``cti.records.chat_journal.ChatJournal``): callbacks run on its
    thread; the channel hops back to the reactor itself."""

    def submit(self, item: NewMessage, callback: Callable[[Appended], None]) -> None: ...

    def read(self, fn: Callable[..., Any], *args: Any,
             callback: Callable[[Any], None]) -> None:
        """``fn(session_factory, *args)`` on the journal thread, after earlier writes."""
        ...


@dataclass(frozen=True)
class ChatSettings:
    queue: str = "service"
    skills: Mapping[str, int] = field(default_factory=dict)
    offer_s: float = 20.0  # an offer not accepted in time is a ring-no-answer
    replay_limit: int = 1000
    # Benchmark only (``[chat] ack_before_store``): acknowledge and deliver at once, store
    # afterwards. A crash loses what was acknowledged; it exists to measure what storing
    # first costs (bench/chat_bench.py), never for production.
    ack_first: bool = False


@dataclass(frozen=True)
class ChatRoute:
    """Where a conversation waits when it is not an ordinary chat: a web session handed over
    from the touch menu (``cti.channels.chat.customer``) waits in its flow's queue, with the
    queue exit's priority, skills and attributes; ``channel`` is the records' word for it;
    ``context`` is stored as its IVR segment (``ivr`` event data: ``steps``,
    ``self_service``, and ``seen`` / ``attributes`` for the screen pop)."""

    queue: str
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    channel: str = "web"
    flow: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class LiveChat:
    conv: str
    visitor: str
    lang: str
    name: str = ""
    identities: dict[str, str] = field(default_factory=dict)
    state: str = "waiting"  # pending | bot | handing_over | waiting | offered | connected
    #                         | wrap_up | ended   (bot: chat.bot_first, cti/channels/chat/bot.py)
    agent: str | None = None  # offered to, then connected to
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    offer_timer: Any = None
    marks: Marks = field(default_factory=Marks)  # receipts (stored coalesced: receipts.py)
    top_seq: int = 0  # the highest seq known stored: no receipt goes above it
    # ack_first only: the seq given out in memory, and what each client id got
    last_seq: int = 0
    sent: dict[tuple[str, str], StoredMessage] = field(default_factory=dict)
    route: ChatRoute | None = None  # a web session's queue and context (else the chat's)
