"""The voice renderer: one call, driven by the flow interpreter, spoken through AGI.

Written once, for both transports, as a generator. ``VoiceSession.run()`` *yields* requests
and *receives* their answers:

- ``Send(line)``: an AGI command line (formatted by ``agi_codec``); the transport answers
  with the ``Reply`` that Asterisk sent back.
- ``Work(fn)``: blocking work (prompt synthesis, a self-service action, texting a link); the
  transport runs ``fn()`` (in a thread pool on FastAGI, inline in a classic AGI process) and
  answers with its return value, or throws its exception into the generator.

The generator returns a ``CallOutcome``. The FastAGI protocol drives it with Deferreds, the
pyst2 script with plain blocking calls; tests drive it with a scripted fake Asterisk.

How effects sound:

- ``Say``: each fixed ``TextPart`` is a prompt file (``prompts.text_file``) played with STREAM
  FILE; each ``Value`` with SAY DIGITS / SAY NUMBER / SAY ALPHA, or, for ``text`` values, a
  file synthesised at run time (``prompts.say_text``); a value that cannot be said that way
  (a non-number for ``number``, a synthesis failure) falls back to digits when it has any and
  is skipped otherwise (logged). A prompt with an operator recording (``Spoken.audio``) and no
  values plays the recording instead of the speech. When an ``Ask`` follows in the same batch,
  every prompt before it is played with that ``Ask``'s keys as escape digits: a caller who
  knows the menu can press a key at once, and that key answers the ``Ask``.
- ``Ask`` (menu): when the prompt ends in a fixed text, GET DATA on that last file for one
  key (the wait starts inside the prompt's own command: no gap where a key is lost); the
  earlier parts with the option keys as escape digits. Otherwise (a prompt ending in a
  value, speech menus, a "#" option) the prompt with the option keys as escape digits, then
  WAIT FOR DIGIT.
  ``Ask`` (collect): when the prompt ends in a fixed text and nobody barged in, GET DATA on
  that last file (Asterisk collects up to ``max_digits``, ends on ``#``, one timeout used as
  first- and inter-digit timeout); otherwise (a barge-in, a prompt ending in a value, a
  terminator other than ``#``) a WAIT FOR DIGIT loop with the same rules. No key -> ``Timeout``.
- ``Act``: ``runner.run(flow, act)`` or, for ``send_link``, ``send_link(flow, state, act)``,
  as ``Work``; the ``Result`` goes back into the interpreter.
- ``Exit``: SET VARIABLE HOTLINE_EXIT, HOTLINE_QUEUE / HOTLINE_TRANSFER_TO /
  HOTLINE_CALLBACK_NUMBER, HOTLINE_PRIORITY, HOTLINE_LANG (queue and callback exits only), and
  last HOTLINE_DONE=1; the dialplan routes on them. As few commands as the exit needs: each
  is a round trip, and keys pressed between two AGI commands are lost. A target that fails
  validation leaves HOTLINE_DONE unset, so the dialplan's fallback takes the call.

A hang-up anywhere (``200 result=-1``, the bare ``HANGUP`` line, ``511``, a closed
connection) ends the session at once. A STREAM FILE of a missing file also answers
``result=-1``: it is treated the same way; HOTLINE_DONE stays unset, so a caller still on the
line reaches the dialplan fallback (never a dropped call).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol, TypeVar, cast

from ivr_flows.core.interpreter import (
    Act,
    Ask,
    Digits,
    Effect,
    Exit,
    Input,
    Result,
    Say,
    Speech,
    Spoken,
    State,
    Timeout,
    Value,
    start,
    step,
)
from ivr_flows.core.model import Flow, TextPart
from ivr_flows.edges.links import LinkSigner
from ivr_flows.edges.sms import SmsError, SmsSender
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.prompts import PromptError, ToolError

log = logging.getLogger(__name__)

MAX_TURNS = 500  # inputs and results per call; a guard against a caller-driven endless loop
ALL_KEYS = "0123456789*#"
_CALLER = re.compile(r"\+?[0-9]{3,20}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TRANSFER = re.compile(r"[A-Za-z0-9_+*#@./-]{1,80}")
_FLOW_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

T = TypeVar("T")


class Prompts(Protocol):
    """What the renderer needs from ``ivr_flows.voice.prompts.PromptStore``."""

    def text_file(self, lang: str, text: str) -> str: ...

    def say_text(self, lang: str, text: str) -> str: ...

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str: ...


class Runner(Protocol):
    def run(self, flow: Flow, act: Act) -> Result: ...


Clock = Callable[[Flow], datetime]
SendLink = Callable[[Flow, State, Act], Result]


class SpeechTurns(Protocol):
    """One call's speech menus (``ivr_flows.voice.speech_dialogue.SpeechDialogue``): after
    the prompt, the caller's answer, or None to wait for a key as usual."""

    def ask(self, ask: Ask, command: Callable[[str], Driver[agi.Reply]],
            say_menu: Callable[[], Driver[str]],
            note: Callable[[str], None]) -> Driver[Input | None]: ...


class SpeechSource(Protocol):
    """What the renderer needs from ``speech_dialogue.SpeechPort`` (None: keys only)."""

    def dialogue(self, flow: Flow, prompts: Prompts) -> SpeechTurns: ...


# ---------------------------------------------------------------- requests to the transport


@dataclass(frozen=True)
class Send:
    line: str


@dataclass(frozen=True)
class Work:
    fn: Callable[[], Any]
    what: str = ""


Request = Send | Work
Driver = Generator[Request, Any, T]


# ---------------------------------------------------------------- what a call was


@dataclass(frozen=True)
class PathStep:
    node: str
    input: str  # "key 1", "digits x8", "timeout", "result ok", "start"


Ended = Literal["exit", "hangup", "error"]


@dataclass(frozen=True)
class CallOutcome:
    flow: str
    uniqueid: str
    ended: Ended
    reason: str  # exit kind, or why it ended early: caller_hangup, dead_channel, ...
    exit: Exit | None
    path: tuple[PathStep, ...]
    state: Mapping[str, Any]
    commands: int = 0

    def summary(self) -> str:
        return (f"flow={self.flow} call={self.uniqueid} ended={self.ended} "
                f"reason={self.reason} nodes={len(self.path)} commands={self.commands}")


class CallerGone(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgiFailed(Exception):
    """Asterisk refused one of our commands (510/520/unknown): a bug on our side."""


def gone_reason(reply: agi.Reply) -> str:
    return {"hangup": "caller_hangup", "dead": "dead_channel",
            "closed": "connection_lost"}.get(reply.kind, "caller_hangup")


def _describe(inp: Input, node_is_menu: bool) -> str:
    """The path entry for an input: a menu key as is, collected digits only by count."""
    if isinstance(inp, Digits):
        return f"key {inp.digits}" if node_is_menu else f"digits x{len(inp.digits)}"
    if isinstance(inp, Timeout):
        return "timeout"
    if isinstance(inp, Result):
        return f"result {inp.outcome}"
    if isinstance(inp, Speech):  # option key and confidence only: never the words heard
        return f"speech {getattr(inp, 'key', '') or '?'} conf {inp.confidence:.2f}"
    return type(inp).__name__.lower()


def caller_vars(env: Mapping[str, str]) -> dict[str, str]:
    """Flow variables from the AGI environment: only a plausible caller number travels."""
    number = env.get("agi_callerid", "")
    return {"caller": number if _CALLER.fullmatch(number) else ""}


def flow_name(env: Mapping[str, str]) -> str:
    """FastAGI: the path of ``agi://host:port/<flow>``; classic AGI: the first argument."""
    script = env.get("agi_network_script", "")
    if script or env.get("agi_network") == "yes":
        name = script.split("?", 1)[0].strip("/")
    else:
        name = env.get("agi_arg_1", "")
    return name if _FLOW_NAME.fullmatch(name) else ""


# ---------------------------------------------------------------- the session


@dataclass
class VoiceSession:
    flow: Flow
    prompts: Prompts
    runner: Runner
    send_link: SendLink
    clock: Clock
    env: Mapping[str, str] = field(default_factory=dict)
    max_turns: int = MAX_TURNS
    speech: SpeechSource | None = None  # speech menus ("say it or press it"); None: keys

    def __post_init__(self) -> None:
        self.path: list[PathStep] = []
        self.state: State | None = None
        self.commands = 0
        self.uniqueid = self.env.get("agi_uniqueid", "")[:64]
        self._speech = self.speech.dialogue(self.flow, self.prompts) if self.speech else None

    # -- the whole call

    def run(self) -> Driver[CallOutcome]:
        try:
            state, effects = start(self.flow, self.clock(self.flow), vars=caller_vars(self.env))
            self.state = state
            self.path.append(PathStep(self.flow.start, "start"))
            for _ in range(self.max_turns):
                inp = yield from self._render(state, effects)
                if isinstance(inp, Exit):
                    yield from self._exit(state, inp)
                    return self._outcome("exit", inp.kind, inp)
                node = self.flow.nodes.get(state.node)
                is_menu = getattr(node, "kind", "") == "menu"
                self.path.append(PathStep(state.node, _describe(inp, is_menu)))
                state, effects = step(self.flow, state, inp, self.clock(self.flow))
                self.state = state
                if not effects and state.waiting != "done":
                    log.error("flow %s: node %s gave nothing to do for %s", self.flow.name,
                              state.node, type(inp).__name__)
                    return self._outcome("error", "stuck", None)
            log.warning("flow %s call %s: more than %d turns, handing to the dialplan",
                        self.flow.name, self.uniqueid, self.max_turns)
            return self._outcome("error", "turn_limit", None)
        except CallerGone as gone:
            log.info("flow %s call %s: caller gone (%s) at %s", self.flow.name, self.uniqueid,
                     gone.reason, self.state.node if self.state else "-")
            return self._outcome("hangup", gone.reason, None)
        except AgiFailed as exc:
            log.error("flow %s call %s: Asterisk refused a command: %s", self.flow.name,
                      self.uniqueid, exc)
            return self._outcome("error", "agi_refused", None)
        except agi.AgiArgumentError as exc:
            log.error("flow %s call %s: unsafe AGI argument (%s): %s", self.flow.name,
                      self.uniqueid, exc.code, exc)
            return self._outcome("error", "unsafe_argument", None)

    def _outcome(self, ended: Ended, reason: str, exit_: Exit | None) -> CallOutcome:
        return CallOutcome(self.flow.name, self.uniqueid, ended, reason, exit_,
                           tuple(self.path), self.state.to_dict() if self.state else {},
                           self.commands)

    # -- one batch of effects -> the next input (or the Exit that ends the call)

    def _render(self, state: State, effects: Sequence[Effect]) -> Driver[Input | Exit]:
        files = yield from self._resolve(effects)
        pressed = ""
        for i, effect in enumerate(effects):
            if isinstance(effect, Say):
                if pressed:
                    continue
                ask = _next_ask(effects[i + 1:])
                escape = _escape_keys(ask) if ask else ""
                pressed = yield from self._say(effect.prompt, files, escape)
            elif isinstance(effect, Ask):
                return (yield from self._ask(effect, files, pressed))
            elif isinstance(effect, Act):
                return (yield from self._act(state, effect))
            else:
                return effect
        log.error("flow %s: batch at %s ends without Ask, Act or Exit", self.flow.name,
                  state.node)
        raise AgiFailed("flow produced no input to wait for")

    def _resolve(self, effects: Sequence[Effect]) -> Driver[dict[tuple[str, str, str], str]]:
        """Every prompt file this batch needs, made in one blocking step."""
        spoken = [e.prompt for e in effects if isinstance(e, Say | Ask)]
        if not spoken:
            return {}
        known = self._memoised_files(spoken)
        if known is not None:  # all made and seen lately: no blocking step (no thread hop)
            return known
        files = yield Work(lambda: self._files(spoken), "prompts")
        return cast(dict[tuple[str, str, str], str], files)

    def _memoised_files(self, spoken: Sequence[Spoken]) -> dict[tuple[str, str, str], str] | None:
        """The batch's files from the prompt store's memo (no I/O), or None if any is not
        there (a recording, a new text, a store without a memo): ``_files`` then runs."""
        memoised = getattr(self.prompts, "memoised", None)
        if memoised is None:
            return None
        out: dict[tuple[str, str, str], str] = {}
        for sp in spoken:
            if sp.audio and _recording_usable(sp):
                return None
            for part in sp.parts:
                if isinstance(part, TextPart) and part.text.strip():
                    key = (sp.lang, "text", part.text)
                elif isinstance(part, Value) and part.say_as == "text" and part.value.strip():
                    key = (sp.lang, "value", part.value)
                else:
                    continue
                path = memoised(key[1], sp.lang, key[2])
                if path is None:
                    return None
                out[key] = path
        return out

    def _files(self, spoken: Sequence[Spoken]) -> dict[tuple[str, str, str], str]:
        out: dict[tuple[str, str, str], str] = {}
        for sp in spoken:
            jobs: list[tuple[tuple[str, str, str], Callable[[], str]]] = []
            if sp.audio and _recording_usable(sp):
                jobs.append(((sp.lang, "audio", sp.audio),
                             partial(self.prompts.flow_audio_file, self.flow, sp.lang, sp.audio)))
            else:
                for part in sp.parts:
                    if isinstance(part, TextPart) and part.text.strip():
                        jobs.append(((sp.lang, "text", part.text),
                                     partial(self.prompts.text_file, sp.lang, part.text)))
                    elif isinstance(part, Value) and part.say_as == "text" and part.value.strip():
                        jobs.append(((sp.lang, "value", part.value),
                                     partial(self.prompts.say_text, sp.lang, part.value)))
            for key, make in jobs:
                if key in out:
                    continue
                try:
                    out[key] = make()
                except (PromptError, ToolError, OSError) as exc:
                    log.warning("flow %s: no audio for a %s part of %s (%s): %s",
                                self.flow.name, key[1], sp.key, sp.lang, exc)
        return out

    # -- saying things

    def _say(self, sp: Spoken, files: Mapping[tuple[str, str, str], str],
             escape: str) -> Driver[str]:
        """Play one prompt; returns the escape key the caller pressed ("" if none)."""
        for line in self._prompt_lines(sp, files, escape):
            reply = yield from self._command(line)
            if escape and reply.digit and reply.digit in escape:
                return reply.digit
        return ""

    def _prompt_lines(self, sp: Spoken, files: Mapping[tuple[str, str, str], str],
                      escape: str) -> list[str]:
        if sp.audio and (sp.lang, "audio", sp.audio) in files:
            return [agi.stream_file(files[(sp.lang, "audio", sp.audio)], escape)]
        lines: list[str] = []
        for part in sp.parts:
            if isinstance(part, TextPart):
                f = files.get((sp.lang, "text", part.text))
                if f:
                    lines.append(agi.stream_file(f, escape))
            else:
                line = _value_line(part, files.get((sp.lang, "value", part.value)), escape)
                if line:
                    lines.append(line)
                elif part.value:
                    log.info("flow %s: a %s value in %s cannot be spoken; skipped",
                             self.flow.name, part.say_as, sp.key)
        return lines

    # -- asking

    def _ask(self, ask: Ask, files: Mapping[tuple[str, str, str], str],
             pressed: str) -> Driver[Input]:
        escape = _escape_keys(ask)
        timeout_ms = max(ask.timeout_s, 1) * 1000
        if ask.choices:  # a menu: one key
            keys_only = self._speech is None or not ask.phrases
            if not pressed and keys_only and "#" not in escape:
                key = yield from self._menu_get_data(ask, files, escape, timeout_ms)
                if key is not None:
                    return Digits(key) if key else Timeout()
            if not pressed:
                pressed = yield from self._say(ask.prompt, files, escape)
            if not pressed and self._speech is not None and ask.phrases:
                heard = yield from self._speech.ask(
                    ask, self._command, lambda: self._say(ask.prompt, files, escape),
                    lambda text: self.path.append(PathStep(ask.node, text)))
                if heard is not None:
                    return heard
            if not pressed:
                reply = yield from self._command(agi.wait_for_digit(timeout_ms))
                pressed = reply.digit
            return Digits(pressed) if pressed else Timeout()
        lines = [] if pressed else self._prompt_lines(ask.prompt, files, escape)
        last_is_file = bool(lines) and lines[-1].startswith("STREAM FILE ") \
            and ask.terminator == "#"
        for line in lines[:-1] if last_is_file else lines:
            reply = yield from self._command(line)
            if reply.digit and reply.digit in escape:
                pressed = reply.digit
                break
        if last_is_file and not pressed:
            file = agi.split_args(lines[-1])[2]
            reply = yield from self._command(agi.get_data(file, timeout_ms,
                                                          min(ask.max_digits, 1024)))
            if reply.result == "" and reply.timed_out:
                return Timeout()
            return Digits(reply.result)
        return (yield from self._collect(ask, pressed, timeout_ms))

    def _menu_get_data(self, ask: Ask, files: Mapping[tuple[str, str, str], str],
                       escape: str, timeout_ms: int) -> Driver[str | None]:
        """A menu whose prompt ends in a fixed text: the earlier parts with the option keys
        as escape digits, the last file with GET DATA for one key, so the wait for the key
        starts inside the same command as the prompt (no round trip in between, when a key
        would be lost: Asterisk drops keys that arrive while no AGI command runs). Any key
        ends the prompt (a wrong one is "invalid", as from WAIT FOR DIGIT). Returns the key,
        "" on a timeout, or None when the prompt does not end in a file (the caller then
        plays it and waits as usual). Not for a menu with a "#" option: GET DATA ends on #."""
        lines = self._prompt_lines(ask.prompt, files, escape)
        if not lines or not lines[-1].startswith("STREAM FILE "):
            return None
        for line in lines[:-1]:
            reply = yield from self._command(line)
            if reply.digit and reply.digit in escape:
                return reply.digit
        file = agi.split_args(lines[-1])[2]
        reply = yield from self._command(agi.get_data(file, timeout_ms, 1))
        return reply.result[:1] if reply.result and not reply.timed_out else ""

    def _collect(self, ask: Ask, first: str, timeout_ms: int) -> Driver[Input]:
        digits = ""
        key = first
        while True:
            if not key:
                reply = yield from self._command(agi.wait_for_digit(timeout_ms))
                key = reply.digit
                if not key:
                    return Digits(digits) if digits else Timeout()
            if ask.terminator and key == ask.terminator:
                return Digits(digits)
            digits += key
            if len(digits) >= ask.max_digits:
                return Digits(digits)
            key = ""

    # -- acting and leaving

    def _act(self, state: State, act: Act) -> Driver[Result]:
        flow = self.flow
        if act.action == "send_link":
            job: Callable[[], Result] = lambda: self.send_link(flow, state, act)  # noqa: E731
        else:
            job = lambda: self.runner.run(flow, act)  # noqa: E731
        try:
            result = yield Work(job, act.action)
        except Exception:  # an action must never drop the call: it is an "error" outcome
            log.exception("flow %s: action %s failed", flow.name, act.action)
            return Result("error", {})
        return result if isinstance(result, Result) else Result("error", {})

    def _exit(self, state: State, ex: Exit) -> Driver[None]:
        for line in exit_variables(ex, state):
            yield from self._command(line)

    def _command(self, line: str) -> Driver[agi.Reply]:
        self.commands += 1
        reply = yield Send(line)
        if not isinstance(reply, agi.Reply):
            raise AgiFailed(f"transport answered {type(reply).__name__}, not a Reply")
        if reply.gone:
            raise CallerGone(gone_reason(reply))
        if reply.kind != "ok":
            raise AgiFailed(f"{reply.code} {reply.text[:200]!r} for {line.split(' ', 2)[:2]}")
        return reply


def exit_variables(ex: Exit, state: State) -> list[str]:
    """SET VARIABLE lines that hand the call to the dialplan; HOTLINE_DONE=1 comes last.

    A target that fails validation leaves HOTLINE_DONE unset (the dialplan fallback runs)."""
    lines = [agi.set_variable("HOTLINE_EXIT", ex.kind)]
    ok = True
    if ex.kind in ("queue", "callback"):  # the dialplan's queue announcements speak it
        lines.append(agi.set_variable("HOTLINE_LANG",
                                      state.lang if _QUEUE.fullmatch(state.lang) else ""))
        ok = bool(_QUEUE.fullmatch(ex.target))
        lines.append(agi.set_variable("HOTLINE_QUEUE", ex.target if ok else ""))
        lines.append(agi.set_variable("HOTLINE_PRIORITY", str(int(ex.priority))))
    if ex.kind == "callback":
        number = ex.attributes.get("number", "")
        lines.append(agi.set_variable("HOTLINE_CALLBACK_NUMBER",
                                      number if _CALLER.fullmatch(number) else ""))
    if ex.kind == "transfer":
        ok = bool(_TRANSFER.fullmatch(ex.target))
        lines.append(agi.set_variable("HOTLINE_TRANSFER_TO", ex.target if ok else ""))
    if ok:
        lines.append(agi.set_variable("HOTLINE_DONE", "1"))
    else:
        log.error("exit %s at %s: target %r is not safe for the dialplan; fallback runs",
                  ex.kind, ex.node, ex.target[:40])
    return lines


def reject(reason: str) -> Driver[None]:
    """For a call we cannot run (unknown flow): make sure HOTLINE_DONE is unset, say why."""
    for line in (agi.set_variable("HOTLINE_DONE", ""),
                 agi.set_variable("HOTLINE_ERROR", reason)):
        reply = yield Send(line)
        if isinstance(reply, agi.Reply) and reply.gone:
            return


def _next_ask(rest: Sequence[Effect]) -> Ask | None:
    for effect in rest:
        if isinstance(effect, Ask):
            return effect
        if not isinstance(effect, Say):
            return None
    return None


def _escape_keys(ask: Ask) -> str:
    if ask.choices:
        return "".join(dict.fromkeys(c.key for c in ask.choices if c.key in ALL_KEYS))
    return "0123456789" + (ask.terminator if ask.terminator in ("#", "*") else "")


def _recording_usable(sp: Spoken) -> bool:
    """A recording replaces the whole prompt, so only when there is no value to speak."""
    return not any(isinstance(p, Value) for p in sp.parts)


def _value_line(v: Value, file: str | None, escape: str) -> str | None:
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


# ---------------------------------------------------------------- a blocking driver


def drive_blocking(gen: Driver[T], send: Callable[[str], agi.Reply]) -> T:
    """Run a driver to its end with a blocking ``send(line) -> Reply`` (classic AGI, tests)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return cast(T, stop.value)
        value, error = None, None
        if isinstance(request, Send):
            value = send(request.line)
        else:
            try:
                value = request.fn()
            except Exception as exc:  # noqa: BLE001 - thrown into the driver, which decides
                error = exc


def make_link_sender(links: LinkSigner, sms: SmsSender | None) -> SendLink:
    """The voice side of ``send_link``: text the caller a signed link to the touch menu.

    ``links`` is an ``ivr_flows.edges.links.LinkSigner``, ``sms`` an
    ``ivr_flows.edges.sms.SmsSender``
    (None: no texting configured -> ``Result("error")``, the flow says so honestly)."""

    def send_link(flow: Flow, state: State, act: Act) -> Result:
        to = act.args.get("to", "")
        if sms is None or not to:
            return Result("error", {})
        url = links.make_link(flow, act.args.get("resume", flow.start), state.lang, state.vars)
        try:
            sms.send(to, f"{flow.title.get(state.lang, flow.name)}: {url}")
        except SmsError as exc:
            log.warning("flow %s: link not texted: %s", flow.name, exc.code)
            return Result("error", {})
        return Result("ok", {})

    return send_link
