"""The hand-off from the touch menu to a chat with an agent: a signed, expiring token.

A touch session that ends in a queue exit ("talk to an agent") offers the chat panel with a
hand-off token in the link's fragment (``/chat/#handoff=TOKEN``: a fragment never reaches a
server log or a ``Referer``; the panel takes it out of the address bar). The chat's
``hello`` presents it; the chat channel then opens the conversation in the queue the exit
names, with its priority, skills and attributes, and stores what the person did in the menu
for the agent's screen pop (the same ``(node, input)`` path a call records, the
self-service results shown, the collected values as the exit's attributes).

The token is signed with the configuration's secret (itsdangerous; readable by whoever holds
it, like the page it came from, never changeable), expires ``ttl_s`` after the final page was
shown, and is at most ``MAX_TOKEN_CHARS`` long (the oldest path steps and results give way
first). Its ``id`` comes from the session's one-time key of its exit, so the same session
(the same final page, shown again or posted again) always hands over the same conversation:
a token used twice opens or resumes one conversation, never two.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from ivr_flows.core.effects import State
from ivr_flows.core.model import Flow
from ivr_flows.touch.session import Journey

log = logging.getLogger(__name__)
HANDOFF_SALT = "hotline.itr.handoff.v1"
HANDOFF_TTL_S = 900
MAX_TOKEN_CHARS = 6000
MAX_ATTRIBUTES = 16
PHONE = re.compile(r"^\+?[0-9]{5,20}$")
HEX_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Handoff:
    """A touch session handed to a chat: where it waits and what the agent sees."""

    id: str  # 24 hex digits; the conversation it opens is ``conversation``
    flow: str
    lang: str
    queue: str
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[tuple[str, str], ...] = ()  # (node, input), oldest first
    seen: tuple[str, ...] = ()  # self-service results shown, as shown
    phone: str = ""  # the caller's number, when the session knows it

    @property
    def conversation(self) -> str:
        return "web-" + self.id

    @property
    def self_service(self) -> tuple[tuple[str, str], ...]:
        """(node, outcome) of each self-service step, as a call's IVR segment has them."""
        return tuple((node, how[7:]) for node, how in self.steps if how.startswith("result "))


def handoff_id(journey: Journey) -> str:
    return hashlib.sha256(journey.key("handoff").encode()).hexdigest()[:24]


def _clip(text: object, limit: int) -> str:
    return str(text)[:limit]


class HandoffCodec:
    def __init__(
        self, secret: str, ttl_s: int = HANDOFF_TTL_S, wall: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("HandoffCodec needs a non-empty secret")
        self._s = URLSafeSerializer(secret, salt=HANDOFF_SALT)
        self.ttl_s = ttl_s
        self.wall = wall

    def make(self, flow: Flow, state: State, journey: Journey) -> str | None:
        """The token of a session that ended in a queue exit (else None)."""
        ex = state.exit
        if ex is None or ex.kind != "queue":
            return None
        phone = state.vars.get("caller", "")
        attrs = {_clip(k, 32): _clip(v, 256) for k, v in ex.attributes.items() if v}
        payload: dict[str, Any] = {
            "id": handoff_id(journey),
            "f": flow.name,
            "l": state.lang,
            "q": ex.target,
            "p": ex.priority,
            "k": dict(list(ex.skills.items())[:MAX_ATTRIBUTES]),
            "a": dict(list(attrs.items())[:MAX_ATTRIBUTES]),
            "t": [list(s) for s in journey.trail],
            "r": list(journey.seen),
            "ph": phone if PHONE.match(phone) else "",
            "iat": int(self.wall()),
        }
        token = str(self._s.dumps(payload))
        while len(token) > MAX_TOKEN_CHARS:
            if payload["r"]:
                payload["r"].pop(0)
            elif len(payload["t"]) > 1:
                payload["t"].pop(0)
            elif payload["a"]:
                payload["a"].popitem()
            else:
                return None
            token = str(self._s.dumps(payload))
        return token

    def read(self, token: object) -> Handoff | None:
        """The hand-off in a token, or None when it is absent, forged, too long or expired."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            d: Any = self._s.loads(token)
            issued = int(d["iat"])
            handoff = Handoff(
                id=str(d["id"]),
                flow=str(d["f"]),
                lang=str(d["l"]),
                queue=str(d["q"]),
                priority=int(d["p"]),
                skills={str(k): int(v) for k, v in dict(d["k"]).items()},
                attributes={str(k): str(v) for k, v in dict(d["a"]).items()},
                steps=tuple((str(a), str(b)) for a, b in d["t"]),
                seen=tuple(str(x) for x in d["r"]),
                phone=str(d.get("ph", "")),
            )
        except (BadData, KeyError, TypeError, ValueError, AttributeError):
            log.info("chat: a hand-off token that is not ours")
            return None
        if self.wall() - issued > self.ttl_s:
            log.info("chat: an expired hand-off token (%s)", handoff.id)
            return None
        if not HEX_ID.match(handoff.id) or not handoff.queue:
            return None
        return handoff
