"""``EventError`` and the field checks and tolerant readers the facts share (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

Pairs: TypeAlias = tuple[tuple[str, str], ...]


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


def check_text(
    fact: object, kind: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    for name in (*required, *optional):
        if not isinstance(getattr(fact, name), str):
            raise EventError("invalid_field", f"{kind} {name} must be text", type=kind, field=name)
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
    (a repeated kind keeps its last value); entries without a value are dropped, as the store
    would skip them anyway; anything else reads as no identities."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items() if v}
    if isinstance(raw, list | tuple):
        return {
            str(i.get("kind")): str(i["value"])
            for i in raw
            if isinstance(i, Mapping) and i.get("value")
        }
    return {}


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
    return tuple((str(a), str(b)) for a, b in raw)


def set_field(fact: object, name: str, value: object) -> None:
    """Normalise a field of a frozen fact while it is being built."""
    object.__setattr__(fact, name, value)
