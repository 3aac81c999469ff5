"""How a prompt sounds: which audio files it needs, and the AGI lines that play it.

- Each fixed ``TextPart`` is a prompt file (``Prompts.text_file``) played with STREAM FILE;
  each ``Value`` with SAY DIGITS / SAY NUMBER / SAY ALPHA, or, for ``text`` values, a file
  synthesised at run time (``Prompts.say_text``). A value that cannot be said that way (a
  non-number for ``number``, a synthesis failure) falls back to digits when it has any and
  is skipped otherwise (logged).
- A prompt with an operator recording (``Spoken.audio``) and no values plays the recording
  instead of the speech.
- ``escape_keys(ask)``: the keys that may interrupt the prompts before an ``Ask`` (and then
  answer it).

``make_files`` blocks (synthesis: run it as ``Work``); ``memoised_files`` never does (the
prompt store's memo, safe on the reactor thread); the rest is pure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Protocol

from ivr_flows.core.effects import Ask, Effect, Say, Spoken, Value
from ivr_flows.core.model import Flow, TextPart
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.prompt_tools import PromptError, ToolError

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
FileKey = tuple[str, str, str]  # (lang, "text" | "value" | "audio", text or recording)
Files = Mapping[FileKey, str]


class Prompts(Protocol):
    """What a voice call needs from ``ivr_flows.voice.prompts.PromptStore``."""

    def text_file(self, lang: str, text: str) -> str: ...

    def say_text(self, lang: str, text: str) -> str: ...

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str: ...


def recording_usable(sp: Spoken) -> bool:
    """A recording replaces the whole prompt, so only when there is no value to speak."""
    return not any(isinstance(p, Value) for p in sp.parts)


def _spoken_keys(sp: Spoken) -> list[FileKey]:
    keys: list[FileKey] = []
    for part in sp.parts:
        if isinstance(part, TextPart) and part.text.strip():
            keys.append((sp.lang, "text", part.text))
        elif isinstance(part, Value) and part.say_as == "text" and part.value.strip():
            keys.append((sp.lang, "value", part.value))
    return keys


def memoised_files(prompts: Prompts, spoken: Sequence[Spoken]) -> dict[FileKey, str] | None:
    """The files of these prompts from the prompt store's memo (no I/O), or None if any is
    not there (a recording, a new text, a store without a memo): ``make_files`` then runs."""
    memoised = getattr(prompts, "memoised", None)
    if memoised is None:
        return None
    out: dict[FileKey, str] = {}
    for sp in spoken:
        if sp.audio and recording_usable(sp):
            return None
        for key in _spoken_keys(sp):
            path = memoised(key[1], sp.lang, key[2])
            if path is None:
                return None
            out[key] = path
    return out


def make_files(prompts: Prompts, flow: Flow, spoken: Sequence[Spoken]) -> dict[FileKey, str]:
    """Every file these prompts need, made if missing (blocking). A part whose file cannot
    be made is left out (logged): the call goes on without it."""
    out: dict[FileKey, str] = {}
    for sp in spoken:
        jobs: list[tuple[FileKey, Callable[[], str]]] = []
        if sp.audio and recording_usable(sp):
            jobs.append(((sp.lang, "audio", sp.audio),
                         partial(prompts.flow_audio_file, flow, sp.lang, sp.audio)))
        else:
            for key in _spoken_keys(sp):
                make = prompts.text_file if key[1] == "text" else prompts.say_text
                jobs.append((key, partial(make, sp.lang, key[2])))
        for key, job in jobs:
            if key in out:
                continue
            try:
                out[key] = job()
            except (PromptError, ToolError, OSError) as exc:
                log.warning("flow %s: no audio for a %s part of %s (%s): %s",
                            flow.name, key[1], sp.key, sp.lang, exc)
    return out


def prompt_lines(sp: Spoken, files: Files, escape: str, flow_name: str = "") -> list[str]:
    """The AGI commands that play one prompt, each interruptible by ``escape`` keys."""
    if sp.audio and (sp.lang, "audio", sp.audio) in files:
        return [agi.stream_file(files[(sp.lang, "audio", sp.audio)], escape)]
    lines: list[str] = []
    for part in sp.parts:
        if isinstance(part, TextPart):
            f = files.get((sp.lang, "text", part.text))
            if f:
                lines.append(agi.stream_file(f, escape))
        else:
            line = value_line(part, files.get((sp.lang, "value", part.value)), escape)
            if line:
                lines.append(line)
            elif part.value:
                log.info("flow %s: a %s value in %s cannot be spoken; skipped",
                         flow_name, part.say_as, sp.key)
    return lines


def value_line(v: Value, file: str | None, escape: str) -> str | None:
    digits = "".join(ch for ch in v.value if ch in "0123456789")[:64]
    match v.say_as:
        case "number":
            text = v.value.strip()
            if re.fullmatch(r"-?[0-9]{1,15}", text):
                return agi.say_number(int(text), escape)
            return agi.say_digits(digits, escape) if digits else None
        case "alpha":
            alpha = "".join(ch for ch in v.value if ch.isascii() and ch.isalnum())[:64]
            return agi.say_alpha(alpha, escape) if alpha else None
        case "text":
            if file:
                return agi.stream_file(file, escape)
            return agi.say_digits(digits, escape) if digits else None
        case _:
            return agi.say_digits(digits, escape) if digits else None


def next_ask(rest: Sequence[Effect]) -> Ask | None:
    """The ``Ask`` that follows these ``Say`` effects in the same batch, if any."""
    for effect in rest:
        if isinstance(effect, Ask):
            return effect
        if not isinstance(effect, Say):
            return None
    return None


def escape_keys(ask: Ask) -> str:
    if ask.choices:
        return "".join(dict.fromkeys(c.key for c in ask.choices if c.key in ALL_KEYS))
    return "0123456789" + (ask.terminator if ask.terminator in ("#", "*") else "")
