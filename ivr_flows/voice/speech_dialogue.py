"""'Say it or press it' at a speech menu: listen, re-prompt once, confirm, or fall back to keys.

The voice renderer plays the menu prompt (keys barge in as usual), then hands the turn to
``SpeechDialogue.ask``, a sub-generator speaking the renderer's protocol (``Send``/``Work``):

1. ``EXEC AudioSocket(<uuid>,<host:port>)``: Asterisk streams the caller's audio and keys to
   the audio listener (an ``AudioListener``, ``listener.py``; the AudioSocket server in
   ``cti.telephony.audiosocket`` is the one the composition root builds), which decides: a
   key (the key wins), silence, or speech matched against the node's grammar (``speech.py``).
2. A key -> ``Digits``; silence -> ``Timeout`` (the flow's own no-input handling).
3. Speech that is unknown or below ``min_confidence``: "please say it again" once; a second
   miss falls back to the key menu (the prompt again, then a key), and this node stays
   keys-only for the rest of the call.
4. A recognised choice is confirmed before it is acted on ("<label>: yes or no, or press 1
   or 2"), because small models map out-of-grammar speech onto some option with high
   confidence. Confirmed -> ``RecognisedSpeech(phrase, confidence, key)`` for the
   interpreter; the phrase is the flow's own phrase, never the raw recognised text.

Every attempt is noted in the call's path ("speech 0 conf 0.83", "speech ? conf 0.31").
What the dialogue itself says ("please say that again", the confirmation) comes from the
message catalogue (``ivr_flows.core.messages``, ids ``speech.*``), only in a language it has
there: English words in another language's voice would be worse than the key menu.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr_flows.core.effects import Ask, Digits, Input, Speech, Timeout
from ivr_flows.core.messages import has_message, message
from ivr_flows.core.model import Flow
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import CallerGone, Driver, Send, Work, gone_reason
from ivr_flows.voice.listener import AudioListener
from ivr_flows.voice.prompt_plan import Prompts
from ivr_flows.voice.speech import CONFIRM_KEYS, Grammar, Heard, SpeechModels

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RecognisedSpeech(Speech):
    """A confirmed speech choice: ``text`` is the grammar phrase, ``key`` the option's key."""

    key: str = ""


def describe_speech(inp: Speech) -> str:
    """The path entry of a speech input: option key and confidence, never the words."""
    key = getattr(inp, "key", "") or "?"
    return f"speech {key} conf {inp.confidence:.2f}"


@dataclass
class SpeechPort:
    """Shared by every call (built once in the composition root)."""

    models: SpeechModels
    sockets: AudioListener
    address: str  # host:port Asterisk's AudioSocket() connects to
    min_confidence: float = 0.6
    confirm: bool = True

    def dialogue(self, flow: Flow, prompts: Prompts) -> SpeechDialogue:
        return SpeechDialogue(self, flow, prompts)


Command = Callable[[str], Driver[agi.Reply]]
Note = Callable[[str], None]
SayMenu = Callable[[], Driver[str]]


class SpeechDialogue:
    """One call's speech turns (knows which nodes fell back to keys)."""

    def __init__(self, port: SpeechPort, flow: Flow, prompts: Prompts) -> None:
        self.port = port
        self.flow = flow
        self.prompts = prompts
        self.keys_only: set[str] = set()
        self.broken = False  # AudioSocket unusable on this call: keys only everywhere

    def ask(self, ask: Ask, command: Command, say_menu: SayMenu,
            note: Note) -> Driver[Input | None]:
        """The caller's answer to a menu whose prompt was just played, or None: speech does
        not apply here (no model, no grammar, fell back), wait for a key as usual."""
        lang = ask.prompt.lang
        if self.broken or ask.node in self.keys_only or not ask.phrases:
            return None
        grammar = self.port.models.grammar(self.flow, ask.node, lang)
        if grammar is None:
            return None
        escape = "".join(dict.fromkeys(c.key for c in ask.choices))
        for attempt in (1, 2):
            heard = yield from self._listen(grammar, float(max(ask.timeout_s, 1)), command)
            if heard is None:
                return None
            if heard.kind == "key":
                return Digits(heard.key)
            if heard.kind == "silence":
                return Timeout()
            if heard.kind in ("gone", "error"):
                self.broken = True
                return None
            if heard.kind == "speech" and heard.confidence >= self.port.min_confidence:
                note(f"heard {heard.key} conf {heard.confidence:.2f}")
                verdict = yield from self._confirm(ask, heard, command, note, escape)
                if isinstance(verdict, Digits):
                    return verdict
                if verdict:
                    return RecognisedSpeech(heard.phrase, heard.confidence, heard.key)
            elif heard.kind == "speech":
                note(f"low {heard.key} conf {heard.confidence:.2f}")
            else:
                note(f"unknown conf {heard.confidence:.2f}")
            if attempt == 1:
                key = yield from self._say_text("speech.again", lang, "", command, escape)
                if key:
                    return Digits(key)
        note("speech off: keys")
        self.keys_only.add(ask.node)
        key = yield from self._say_text("speech.keys", lang, "", command, escape)
        if not key:
            key = yield from say_menu()
        return Digits(key) if key else None

    # -- one listen through AudioSocket

    def _listen(self, grammar: Grammar, no_input_s: float,
                command: Command) -> Driver[Heard | None]:
        models = self.port.models
        try:
            rec = yield Work(lambda: models.recogniser(grammar), "recogniser")
        except (ValueError, KeyError, OSError) as exc:
            log.error("flow %s: no recogniser (%s); keys only", self.flow.name, exc)
            self.broken = True
            return None
        listen = self.port.sockets.expect(rec, no_input_s)
        line = agi.exec_("AudioSocket", [listen.uuid, self.port.address])
        try:
            reply = yield Send(line)
        finally:
            self.port.sockets.forget(listen)
        if not isinstance(reply, agi.Reply):
            raise CallerGone("connection_lost")
        if reply.kind in ("hangup", "dead", "closed"):
            raise CallerGone(gone_reason(reply))
        if not listen.connected:
            log.error("flow %s: Asterisk's AudioSocket did not reach %s (reply %s %s); "
                      "keys only for this call", self.flow.name, self.port.address,
                      reply.code, reply.result)
            self.broken = True
            return None
        heard = listen.heard or Heard("gone")
        if heard.kind == "gone" and reply.gone:
            raise CallerGone("caller_hangup")
        return heard

    # -- confirming a choice

    def _confirm(self, ask: Ask, heard: Heard, command: Command, note: Note,
                 menu_keys: str) -> Driver[bool | Digits]:
        """Yes (say yes / press 1), no (say no / press 2), or another menu key: that key."""
        if not self.port.confirm:
            return True
        lang = ask.prompt.lang
        label = next((c.label for c in ask.choices if c.key == heard.key), "")
        if not has_message("speech.confirm", lang) or not label:
            return True  # nothing to say it with: the choice stands (logged once per call)
        escape = "".join(dict.fromkeys("".join(CONFIRM_KEYS) + menu_keys))
        key = yield from self._say_text("speech.confirm", lang, label, command, escape)
        if not key:
            grammar = self.port.models.yes_no(lang)
            if grammar is not None:
                answer = yield from self._listen(grammar, CONFIRM_TIMEOUT_S, command)
                # "yes" must be sure; a doubtful "no" only costs the caller a second try
                if answer is not None and answer.kind == "speech" and (
                        answer.key == CONFIRM_KEYS[1]
                        or answer.confidence >= self.port.min_confidence):
                    key = answer.key
                elif answer is not None and answer.kind == "key":
                    key = answer.key
            else:
                reply = yield from command(agi.wait_for_digit(int(CONFIRM_TIMEOUT_S * 1000)))
                key = reply.digit
        if key == CONFIRM_KEYS[0]:
            note("confirm yes")
            return True
        if key and key in menu_keys:
            return Digits(key)
        note("confirm no" if key == CONFIRM_KEYS[1] else "confirm none")
        return False

    def _say_text(self, what: str, lang: str, label: str, command: Command,
                  escape: str) -> Driver[str]:
        """Say catalogue message ``what`` (in ``lang`` only); returns an escape key pressed."""
        if not has_message(what, lang):
            return ""
        text = message(what, lang, label=label)
        prompts = self.prompts
        try:
            file: Any = yield Work(lambda: prompts.text_file(lang, text), "prompts")
        except Exception as exc:  # noqa: BLE001 - a missing prompt must not end the call
            log.warning("flow %s: no %s prompt in %s: %s", self.flow.name, what, lang, exc)
            return ""
        reply = yield from command(agi.stream_file(str(file), escape))
        return reply.digit if reply.digit and reply.digit in escape else ""

