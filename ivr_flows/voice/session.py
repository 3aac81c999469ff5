"""The voice renderer: one call, driven by the flow interpreter, spoken through AGI.

``VoiceSession.run()`` is a ``Driver`` (``ivr_flows.voice.driver``): both transports (FastAGI,
classic AGI) and the tests run the same generator. It returns a ``CallOutcome``.

How effects are rendered (how a prompt sounds is ``prompt_plan``):

- ``Say``: the prompt's lines. When an ``Ask`` follows in the same batch, every prompt before
  it is played with that ``Ask``'s keys as escape digits: a caller who knows the menu can
  press a key at once, and that key answers the ``Ask``.
- ``Ask`` (menu): when the prompt ends in a fixed text, GET DATA on that last file for one
  key (the wait starts inside the prompt's own command: no gap where a key is lost); the
  earlier parts with the option keys as escape digits. Otherwise (a prompt ending in a
  value, speech menus, a "#" option) the prompt with the option keys as escape digits, then
  WAIT FOR DIGIT. A speech menu hands its turn to ``SpeechTurns`` after the prompt.
  ``Ask`` (collect): when the prompt ends in a fixed text and nobody barged in, GET DATA on
  that last file (Asterisk collects up to ``max_digits``, ends on ``#``, one timeout used as
  first- and inter-digit timeout); otherwise (a barge-in, a prompt ending in a value, a
  terminator other than ``#``) a WAIT FOR DIGIT loop with the same rules. No key -> ``Timeout``.
- ``Act``: ``runner.run(flow, act)`` as ``Work``; ``SendLink``: ``send_link(flow, state,
  link)`` as ``Work``. Either ``Result`` goes back into the interpreter; an exception is an
  ``error`` result, never a dropped call.
- ``Exit``: ``exits.exit_variables``, then the session ends.

A hang-up anywhere (``200 result=-1``, the bare ``HANGUP`` line, ``511``, a closed
connection) ends the session at once. A STREAM FILE of a missing file also answers
``result=-1``: it is treated the same way; HOTLINE_DONE stays unset, so a caller still on the
line reaches the dialplan fallback (never a dropped call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from ivr_flows.core.effects import (
    Act,
    Ask,
    Digits,
    Effect,
    Exit,
    Input,
    Result,
    Say,
    SendLink,
    Speech,
    Spoken,
    State,
    Timeout,
)
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSender
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import AgiFailed, CallerGone, Driver, Send, Work, gone_reason
from ivr_flows.voice.exits import caller_vars, exit_variables
from ivr_flows.voice.prompt_plan import (
    FileKey,
    Files,
    Prompts,
    escape_keys,
    make_files,
    memoised_files,
    next_ask,
    prompt_lines,
)

log = logging.getLogger(__name__)

MAX_TURNS = 500  # inputs and results per call; a guard against a caller-driven endless loop


class Runner(Protocol):
    """Runs a flow action: ``run(flow, act) -> Result`` blocking (``ActionRunner``) and/or
    ``start(flow, act) -> Deferred[Result]`` on the reactor (``ReactorActionRunner``)."""


Clock = Callable[[Flow], datetime]


class SpeechTurns(Protocol):
    """One call's speech menus (``ivr_flows.voice.speech_dialogue.SpeechDialogue``): after
    the prompt, the caller's answer, or None to wait for a key as usual."""

    def ask(self, ask: Ask, command: Callable[[str], Driver[agi.Reply]],
            say_menu: Callable[[], Driver[str]],
            note: Callable[[str], None]) -> Driver[Input | None]: ...


class SpeechSource(Protocol):
    """What the renderer needs from ``speech_dialogue.SpeechPort`` (None: keys only)."""

    def dialogue(self, flow: Flow, prompts: Prompts) -> SpeechTurns: ...


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


# ---------------------------------------------------------------- the session


@dataclass
class VoiceSession:
    flow: Flow
    prompts: Prompts
    runner: Runner
    send_link: LinkSender
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
                ask = next_ask(effects[i + 1:])
                escape = escape_keys(ask) if ask else ""
                pressed = yield from self._say(effect.prompt, files, escape)
            elif isinstance(effect, Ask):
                return (yield from self._ask(effect, files, pressed))
            elif isinstance(effect, Act):
                return (yield from self._action(effect))
            elif isinstance(effect, SendLink):
                return (yield from self._work(self._link_job(state, effect), "send_link"))
            else:
                return effect
        log.error("flow %s: batch at %s ends without Ask, Act, SendLink or Exit",
                  self.flow.name, state.node)
        raise AgiFailed("flow produced no input to wait for")

    def _resolve(self, effects: Sequence[Effect]) -> Driver[dict[FileKey, str]]:
        """Every prompt file this batch needs, made in one blocking step."""
        spoken = [e.prompt for e in effects if isinstance(e, Say | Ask)]
        if not spoken:
            return {}
        known = memoised_files(self.prompts, spoken)
        if known is not None:  # all made and seen lately: no blocking step (no thread hop)
            return known
        prompts, flow = self.prompts, self.flow
        files = yield Work(lambda: make_files(prompts, flow, spoken), "prompts")
        return cast(dict[FileKey, str], files)

    # -- saying things

    def _say(self, sp: Spoken, files: Files, escape: str) -> Driver[str]:
        """Play one prompt; returns the escape key the caller pressed ("" if none)."""
        for line in prompt_lines(sp, files, escape, self.flow.name):
            reply = yield from self._command(line)
            if escape and reply.digit and reply.digit in escape:
                return reply.digit
        return ""

    # -- asking

    def _ask(self, ask: Ask, files: Files, pressed: str) -> Driver[Input]:
        escape = escape_keys(ask)
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
        lines = [] if pressed else prompt_lines(ask.prompt, files, escape, self.flow.name)
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

    def _menu_get_data(self, ask: Ask, files: Files, escape: str,
                       timeout_ms: int) -> Driver[str | None]:
        """A menu whose prompt ends in a fixed text: the earlier parts with the option keys
        as escape digits, the last file with GET DATA for one key, so the wait for the key
        starts inside the same command as the prompt (no round trip in between, when a key
        would be lost: Asterisk drops keys that arrive while no AGI command runs). Any key
        ends the prompt (a wrong one is "invalid", as from WAIT FOR DIGIT). Returns the key,
        "" on a timeout, or None when the prompt does not end in a file (the caller then
        plays it and waits as usual). Not for a menu with a "#" option: GET DATA ends on #."""
        lines = prompt_lines(ask.prompt, files, escape, self.flow.name)
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

    def _action(self, act: Act) -> Driver[Result]:
        """A flow action: on the reactor when the runner can (``ReactorActionRunner.start``),
        else as blocking work."""
        runner, flow = self.runner, self.flow
        start = getattr(runner, "start", None)
        run = getattr(runner, "run", None)
        job = (lambda: run(flow, act)) if run is not None else None
        begin = (lambda: start(flow, act)) if start is not None else None
        return (yield from self._work(job, act.action, begin))

    def _link_job(self, state: State, link: SendLink) -> Callable[[], Result]:
        send_link, flow = self.send_link, self.flow
        return lambda: send_link(flow, state, link)

    def _work(self, job: Callable[[], Result] | None, what: str,
              start: Callable[[], Any] | None = None) -> Driver[Result]:
        """Work whose ``Result`` goes back into the interpreter."""
        try:
            result = yield Work(job, what, start)
        except Exception:  # an action must never drop the call: it is an "error" outcome
            log.exception("flow %s: %s failed", self.flow.name, what)
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
