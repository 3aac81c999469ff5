"""Frames as they cross the wire: one place where bytes become a frame and a frame becomes
bytes, and where every field a handler reads is checked.

A frame is a JSON object of at most ``max_bytes`` UTF-8 bytes, nested at most ``max_depth``
deep, whose ``"t"`` is a short lower-case name. Anything else is a ``FrameError`` with a
stable code (``frame_too_big``, ``bad_frame``, ``bad_field``); nothing else ever escapes
``parse_frame``, whatever the bytes. Pure: no I/O, no clock (``TokenBucket.take`` is given
the time).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal, overload

Frame = dict[str, Any]

MAX_SAFE_INT = 2**53 - 1  # the largest integer a browser's JSON.parse keeps exact

_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ESCAPE = re.compile(r"\\.", re.DOTALL)  # a backslash and the character it escapes
_STRING = re.compile(r'"[^"]*+"')  # once escapes are gone, a string ends at the next quote
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKETS = str.maketrans("[{]}", "(())")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")


class FrameError(Exception):
    """A frame, or one of its fields, that the server will not take. ``code`` is stable and
    machine-readable; ``ref`` names what the client sent (e.g. its ``cid``), if anything."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.ref = ref

    def with_ref(self, ref: str | None) -> FrameError:
        return FrameError(self.code, self.message, ref)

    def to_frame(self) -> Frame:
        return error_frame(self.code, self.message, self.ref)


def error_frame(code: str, message: str, ref: str | None = None) -> Frame:
    return {"t": "error", "code": code, "message": message, "ref": ref}


def parse_frame(payload: bytes, *, max_bytes: int, max_depth: int = 4) -> Frame:
    """The frame in ``payload``, or ``FrameError`` (and never any other exception)."""
    if len(payload) > max_bytes:
        raise FrameError("frame_too_big", f"a frame is at most {max_bytes} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("bad_frame", "a frame is UTF-8 text") from None
    _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, TypeError):  # JSONDecodeError is a ValueError; so are the hooks'
        raise FrameError("bad_frame", "a frame is a JSON object") from None
    if not isinstance(value, dict):
        raise FrameError("bad_frame", "a frame is a JSON object")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise FrameError("bad_frame", "a frame's strings are valid Unicode")
    kind = value.get("t")
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
        raise FrameError("bad_frame", 'a frame has a "t": a short lower-case name')
    return value


def encode_frame(frame: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON. A value JSON cannot carry (NaN, an object) is a programming error
    and raises ``ValueError``/``TypeError``."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _check_depth(text: str, max_depth: int) -> None:
    """Reject nesting deeper than ``max_depth`` before the decoder sees it (so it can never
    recurse deeply), in a few linear passes at C speed. Escapes, then strings are removed (as
    a JSON decoder reads them, left to right; brackets in strings do not count), leaving the
    brackets; each ``replace`` pass then removes the innermost level of pairs. Brackets left
    after ``max_depth`` passes are nesting too deep or unbalanced (not JSON either way)."""
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    skeleton = skeleton.translate(_BRACKETS)
    for _ in range(max_depth):
        if not skeleton:
            return
        skeleton = skeleton.replace("()", "")
    if skeleton:
        raise FrameError("bad_frame", f"a frame is a JSON object nested at most {max_depth} deep")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; a frame takes one. Starts full.
    A clock that steps back refills nothing until it has passed the latest time seen."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last: float | None = None

    def take(self, now: float) -> bool:
        if self._last is None or now > self._last:
            if self._last is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
        if self._tokens >= 1.0 - 1e-9:  # a float clock may leave 0.9999999 of a token
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False


def _bad_field(name: str, what: str) -> FrameError:
    return FrameError("bad_field", f"{name}: {what}")


@overload
def text_field(
    frame: Mapping[str, Any],
    name: str,
    max_len: int,
    required: Literal[True] = ...,
    *,
    min_len: int = ...,
    multiline: bool = ...,
) -> str: ...
@overload
def text_field(
    frame: Mapping[str, Any],
    name: str,
    max_len: int,
    required: bool,
    *,
    min_len: int = ...,
    multiline: bool = ...,
) -> str | None: ...
def text_field(
    frame: Mapping[str, Any],
    name: str,
    max_len: int,
    required: bool = True,
    *,
    min_len: int = 0,
    multiline: bool = True,
) -> str | None:
    """A string of ``min_len``..``max_len`` characters (code points). No control characters
    but tab and line breaks (none at all when ``multiline`` is false), no lone surrogates.
    Absent or null: ``None`` when not ``required``."""
    value = frame.get(name)
    if value is None:
        if required:
            raise _bad_field(name, "required")
        return None
    if not isinstance(value, str):
        raise _bad_field(name, "must be a string")
    if len(value) > max_len:
        raise _bad_field(name, f"at most {max_len} characters")
    if len(value) < min_len:
        raise _bad_field(name, f"at least {min_len} characters")
    control = _CONTROL_MULTILINE if multiline else _CONTROL_LINE
    if control.search(value) or _SURROGATE.search(value):
        raise _bad_field(name, "contains characters that are not text")
    return value


@overload
def int_field(
    frame: Mapping[str, Any],
    name: str,
    min_value: int = ...,
    max_value: int = ...,
    required: Literal[True] = ...,
) -> int: ...
@overload
def int_field(
    frame: Mapping[str, Any],
    name: str,
    min_value: int = ...,
    max_value: int = ...,
    *,
    required: bool,
) -> int | None: ...
def int_field(
    frame: Mapping[str, Any],
    name: str,
    min_value: int = 0,
    max_value: int = MAX_SAFE_INT,
    required: bool = True,
) -> int | None:
    """A JSON integer (not a boolean, not ``1.0``) within ``min_value``..``max_value``."""
    value = frame.get(name)
    if value is None:
        if required:
            raise _bad_field(name, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_field(name, "must be an integer")
    if not min_value <= value <= max_value:
        raise _bad_field(name, f"must be from {min_value} to {max_value}")
    return value


@overload
def id_field(frame: Mapping[str, Any], name: str, required: Literal[True] = ...) -> str: ...
@overload
def id_field(frame: Mapping[str, Any], name: str, required: bool) -> str | None: ...
def id_field(frame: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    """An identifier: 1 to 64 of ``A-Z a-z 0-9 _ . : -``."""
    value = frame.get(name)
    if value is None:
        if required:
            raise _bad_field(name, "required")
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise _bad_field(name, "must be 1 to 64 of A-Z a-z 0-9 _ . : -")
    return value
