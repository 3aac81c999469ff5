"""The AMI wire format, pure: no sockets, no Twisted, no clock.

Asterisk opens with one banner line (``Asterisk Call Manager/11.0.0``), then both sides
exchange *messages*: ``Key: Value`` lines ended by CRLF, a message ended by an empty line.
Keys keep their case but are looked up case-insensitively; a key may repeat (``ChanVariable``,
``Variable``); a value may contain colons. Asterisk sometimes ends a value with a stray LF
(``Message: No Contacts found\\n``): values are stripped of trailing whitespace.

Actions we send are checked first: a CR or LF in a key or value would let caller-controlled
text inject a second action, so it is refused with ``AmiValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

BANNER_PREFIX = "Asterisk Call Manager/"
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FORBIDDEN = re.compile(r"[\r\n\x00]")

MessageKind = Literal["response", "event", "unknown"]
FieldValue = str | Sequence[str]


class AmiCodecError(ValueError):
    """Bytes from the peer are not AMI."""


class AmiValueError(ValueError):
    """A key or value of an action we were asked to send is unsafe or malformed."""


def parse_banner(line: str) -> str:
    """The version of ``Asterisk Call Manager/11.0.0``; ``AmiCodecError`` if not AMI."""
    line = line.strip()
    if not line.startswith(BANNER_PREFIX):
        raise AmiCodecError(f"not an AMI banner: {line[:80]!r}")
    return line[len(BANNER_PREFIX) :]


@dataclass(frozen=True)
class Message:
    """One AMI message: its fields in order (keys case-preserved)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str = "") -> str:
        """The first value of ``key`` (case-insensitive), or ``default``."""
        low = key.lower()
        for k, v in self.fields:
            if k.lower() == low:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated ``key`` (``ChanVariable``), in order."""
        low = key.lower()
        return [v for k, v in self.fields if k.lower() == low]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(k.lower() == key.lower() for k, _ in self.fields)

    @property
    def kind(self) -> MessageKind:
        if self.fields:
            first = self.fields[0][0].lower()
            if first == "response":
                return "response"
            if first == "event":
                return "event"
        if "Response" in self:
            return "response"
        if "Event" in self:
            return "event"
        return "unknown"

    @property
    def name(self) -> str:
        """The ``Response`` value of a response, the ``Event`` name of an event."""
        if self.kind == "response":
            return self.get("Response")
        return self.get("Event")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID") or None

    @property
    def is_success(self) -> bool:
        return self.kind == "response" and self.name.lower() in ("success", "goodbye", "follows")

    @property
    def event_list(self) -> str:
        """``start`` / ``complete`` / ``cancelled`` (lower case) or ``""``."""
        return self.get("EventList").lower()

    def as_dict(self) -> dict[str, str | list[str]]:
        """Key (first spelling) -> value, or list of values for a repeated key."""
        out: dict[str, str | list[str]] = {}
        spelled: dict[str, str] = {}
        for k, v in self.fields:
            key = spelled.setdefault(k.lower(), k)
            if key in out:
                prev = out[key]
                out[key] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                out[key] = v
        return out


def parse_message(lines: Iterable[str]) -> Message:
    """A message from its lines (without the ending empty line).

    A line without ``": "`` is not a field (Asterisk sends none in the actions we use): it
    is skipped rather than guessed at.
    """
    fields: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            continue
        fields.append((key.strip(), value.strip()))
    return Message(tuple(fields))


class MessageReader:
    """Lines in (CRLF already removed), whole messages out."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def line(self, line: str) -> Message | None:
        if line.strip():
            self._lines.append(line)
            return None
        if not self._lines:
            return None  # stray empty line between messages
        lines, self._lines = self._lines, []
        return parse_message(lines)

    @property
    def pending(self) -> bool:
        return bool(self._lines)


@dataclass(frozen=True)
class Banner:
    version: str


class StreamDecoder:
    """Bytes as TCP delivers them (any split) -> the banner, then messages."""

    def __init__(self, max_line: int = 65536) -> None:
        self._buf = b""
        self._banner_seen = False
        self._reader = MessageReader()
        self._max_line = max_line

    def feed(self, data: bytes) -> list[Banner | Message]:
        self._buf += data
        out: list[Banner | Message] = []
        while True:
            line, sep, rest = self._buf.partition(b"\r\n")
            if not sep:
                if len(self._buf) > self._max_line:
                    raise AmiCodecError(f"line longer than {self._max_line} bytes")
                return out
            self._buf = rest
            text = line.decode("utf-8", errors="replace")
            if not self._banner_seen:
                self._banner_seen = True
                out.append(Banner(parse_banner(text)))
                continue
            msg = self._reader.line(text)
            if msg is not None:
                out.append(msg)


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        raise AmiValueError(f"AMI key {key!r} is not [A-Za-z0-9_-]{{1,64}}")
    return key


def _check_value(key: str, value: str) -> str:
    if not isinstance(value, str):
        raise AmiValueError(f"value of {key} must be text, not {type(value).__name__}")
    if _FORBIDDEN.search(value):
        # The value itself is not echoed: it may be a secret or caller-controlled text.
        raise AmiValueError(f"value of {key} contains CR, LF or NUL (AMI injection refused)")
    return value


def format_action(
    action: str, action_id: str, fields: Mapping[str, FieldValue] | None = None
) -> bytes:
    """The bytes of one action; a sequence value repeats its key (``Variable``)."""
    lines = [f"Action: {_check_value('Action', _check_key(action))}"]
    lines.append(f"ActionID: {_check_value('ActionID', _check_key(action_id))}")
    for key, value in (fields or {}).items():
        _check_key(key)
        if key.lower() in ("action", "actionid"):
            raise AmiValueError(f"{key} is set by format_action, not by the caller")
        values = [value] if isinstance(value, str) else list(value)
        for item in values:
            lines.append(f"{key}: {_check_value(key, item)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class ActionIds:
    """Unique ActionIDs: ``<prefix>-<n>``; the prefix tells our actions from others'."""

    def __init__(self, prefix: str) -> None:
        self._prefix = _check_key(prefix)
        self._n = 0

    def __call__(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n}"
