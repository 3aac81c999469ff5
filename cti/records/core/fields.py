"""``EventError`` and the field checks and tolerant readers the facts share (pure).

Every text a fact keeps goes through ``storable``: much of it is the caller's (DTMF input,
recognised speech, the caller id) or a back-end's (identities learnt by self-service), and a
NUL in it would make PostgreSQL refuse the whole write. So C0 control characters other than
tab and newline are removed and lone surrogates become U+FFFD, on every backend alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeAlias

Pairs: TypeAlias = tuple[tuple[str, str], ...]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")  # C0 but tab and newline (NUL included)
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, only a lone one: not UTF-8


class EventError(ValueError):
    """An event that cannot be recorded: ``code`` is stable, ``details`` machine-readable."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def as_text(value: object) -> str:
    """A stored scalar as text; absent (``None``) is ``""``."""
    return "" if value is None else str(value)


def storable(text: str) -> str:
    """``text`` as any database stores it: without NUL and the other C0 control characters
    but tab and newline, a lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


def check_text(
    fact: object, kind: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """The ``required`` and ``optional`` fields are text, made ``storable``; the required
    ones are not empty (once cleaned: a NUL alone is missing)."""
    for name in (*required, *optional):
        value = getattr(fact, name)
        if not isinstance(value, str):
            raise EventError("invalid_field", f"{kind} {name} must be text", type=kind, field=name)
        set_field(fact, name, storable(value))
    missing = [name for name in required if not getattr(fact, name)]
    if missing:
        raise EventError(
            "missing_field", f"{kind} needs {', '.join(missing)}", type=kind, missing=missing
        )


def check_one_of(kind: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise EventError(
            "value_not_allowed",
            f"{name} must be one of {', '.join(allowed)}",
            type=kind,
            field=name,
            allowed=list(allowed),
        )


def read_identities(raw: object) -> dict[str, str]:
    """``{kind: value}``, read from that shape or from the older ``[{"kind", "value"}, ...]``
    (a repeated kind keeps its last value), kinds and values ``storable``; entries without a
    value (once cleaned) are dropped, as the store would skip them anyway; anything else
    reads as no identities."""
    if isinstance(raw, Mapping):
        found = [(k, v) for k, v in raw.items() if v]
    elif isinstance(raw, list | tuple):
        found = [
            (i.get("kind"), i["value"]) for i in raw if isinstance(i, Mapping) and i.get("value")
        ]
    else:
        return {}
    cleaned = ((storable(str(k)), storable(str(v))) for k, v in found)
    return {k: v for k, v in cleaned if v}


def checked_identities(kind: str, raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise EventError(
            "invalid_field", f"{kind} identities must be a mapping", type=kind, field="identities"
        )
    return read_identities(raw)


def read_pairs(kind: str, name: str, raw: object) -> Pairs:
    if not isinstance(raw, list | tuple) or not all(
        isinstance(i, list | tuple) and len(i) == 2 for i in raw
    ):
        raise EventError(
            "malformed_ivr", f"{kind} {name} must be a list of pairs", type=kind, field=name
        )
    return tuple((storable(str(a)), storable(str(b))) for a, b in raw)


def set_field(fact: object, name: str, value: object) -> None:
    """Normalise a field of a frozen fact while it is being built."""
    object.__setattr__(fact, name, value)
