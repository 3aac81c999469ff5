"""'Say it or press it' through the real voice renderer against a scripted Asterisk.

``EXEC AudioSocket`` is answered the way Asterisk does (``200 result=0`` once our listener
closes the socket); the listener's decision is scripted. Grammars are real ones built from
the Korean test flow with a fake vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from cti.telephony.audiosocket.server import Listening
from ivr_flows.core.effects import Act, Result, SendLink, State
from ivr_flows.core.model import Flow
from ivr_flows.loading.loader import load_flow_file
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import drive_blocking
from ivr_flows.voice.session import VoiceSession
from ivr_flows.voice.speech import (
    Grammar,
    Heard,
    build_grammar,
    check_grammar_json,
    interpret,
)
from ivr_flows.voice.speech_dialogue import SpeechPort

FLOW = Path(__file__).resolve().parents[1] / "flows" / "speech_ko.yaml"
NOW = datetime(2026, 3, 2, 10, 0)


class Vocab:
    unk = "<UNK>"
    words: ClassVar[set[str]] = {"상담원", "연결", "여덟", "넷", "배송", "주소", "변경", "네",
                                 "예", "아니요", "아니오", "<UNK>"}

    def knows(self, word: str) -> bool:
        return word in self.words


class FakeModels:
    def __init__(self) -> None:
        self.recognisers = 0

    def grammar(self, flow: Flow, node: str, lang: str) -> Grammar | None:
        opts = {o.key: o.phrases.get(lang, ()) for o in flow.nodes[node].options}  # type: ignore[union-attr]
        return build_grammar(lang, opts, Vocab())[0]

    def yes_no(self, lang: str) -> Grammar | None:
        return build_grammar(lang, {"1": ("네",), "2": ("아니요",)}, Vocab())[0]

    def recogniser(self, grammar: Grammar) -> object:
        self.recognisers += 1
        return object()


class FakeSockets:
    def __init__(self, heard: Sequence[Heard | None]) -> None:
        self.script = list(heard)
        self.listens: dict[str, Listening] = {}

    def expect(self, rec: Any, no_input_s: float) -> Listening:
        listen = Listening(f"00000000-0000-4000-8000-{len(self.listens):012d}", rec,
                           no_input_s, 300, 500.0, 10_000)
        self.listens[listen.uuid] = listen
        return listen

    def forget(self, listen: Listening) -> None:
        pass

    def asterisk_runs(self, line: str) -> None:
        uid = agi.split_args(line)[2].split(",")[0]
        heard = self.script.pop(0)
        if heard is not None:  # None: AudioSocket never reached us
            self.listens[uid].connected = True
            self.listens[uid].decide(heard)


class Prompts:
    def text_file(self, lang: str, text: str) -> str:
        return f"/p/{lang}/{abs(hash(text)) % 10**8}"

    def say_text(self, lang: str, text: str) -> str:
        return self.text_file(lang, text)

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str:
        return "/p/rec"


class NoRunner:
    def run(self, flow: Flow, act: Act) -> Result:
        return Result("error", {})


def call(heard: Sequence[Heard | None], keys: Sequence[str] = (), *, confirm: bool = True
         ) -> tuple[Any, list[str]]:
    flow = load_flow_file(FLOW)
    sockets = FakeSockets(heard)
    port = SpeechPort(cast(Any, FakeModels()), cast(Any, sockets), "127.0.0.1:4575", 0.6,
                      confirm)
    pressed = list(keys)
    sent: list[str] = []

    def send(line: str) -> agi.Reply:
        sent.append(line)
        if line.startswith("EXEC AudioSocket"):
            sockets.asterisk_runs(line)
            return agi.parse_reply("200 result=0")
        if line.startswith(("STREAM FILE", "WAIT FOR DIGIT")) and pressed:
            k = pressed.pop(0)
            if k:
                return agi.parse_reply(f"200 result={ord(k)}")
        if line.startswith("SET VARIABLE"):
            return agi.parse_reply("200 result=1")
        return agi.parse_reply("200 result=0 endpos=8000")

    def link(flow: Flow, state: State, link: SendLink) -> Result:
        return Result("error", {})

    session = VoiceSession(flow, Prompts(), NoRunner(), link, lambda f: NOW, {}, speech=port)
    outcome = drive_blocking(session.run(), send)
    return outcome, sent


def path(outcome: Any) -> list[str]:
    return [p.input for p in outcome.path[1:]]


def test_a_confirmed_spoken_choice_routes_and_the_path_holds_key_and_confidence() -> None:
    outcome, sent = call([Heard("speech", "8", "여덟", 0.91, 1),
                          Heard("speech", "1", "네", 0.8, 1)])
    assert outcome.exit.node == "route_eight"
    assert path(outcome) == ["heard 8 conf 0.91", "confirm yes", "speech 8 conf 0.91"]
    assert not any("여덟" in line for line in sent)  # words heard never reach an AGI command


def test_confirming_by_key_works_and_no_means_not_acted_on() -> None:
    outcome, _ = call([Heard("speech", "8", "여덟", 0.9, 1), Heard("speech", "2", "아니요", 0.4, 1),
                       Heard("speech", "4", "넷", 0.95, 1)], keys=["", "", "", "1"])
    assert path(outcome) == ["heard 8 conf 0.90", "confirm no", "heard 4 conf 0.95",
                             "confirm yes", "speech 4 conf 0.95"]
    assert outcome.exit.node == "route_four"


def test_unknown_twice_falls_back_to_the_key_menu_for_that_node() -> None:
    outcome, sent = call([Heard("unknown", confidence=0.3), Heard("speech", "4", "넷", 0.2)],
                         keys=["", "", "", "", "4"])
    assert path(outcome) == ["unknown conf 0.30", "low 4 conf 0.20", "speech off: keys", "key 4"]
    assert outcome.exit.node == "route_four"
    # menu prompt, listen, "say it again", listen, "press a key", menu prompt, key
    kinds = [line.split(" ")[0] for line in sent if not line.startswith("SET")]
    assert kinds == ["STREAM", "EXEC", "STREAM", "EXEC", "STREAM", "STREAM", "WAIT"]


def test_a_key_during_listening_wins_and_silence_is_a_timeout() -> None:
    outcome, _ = call([Heard("key", "0")])
    assert path(outcome) == ["key 0"] and outcome.exit.node == "route_agent"
    outcome, _ = call([Heard("silence"), Heard("silence")])
    assert path(outcome) == ["timeout", "timeout"]
    assert outcome.exit.node == "route_fallback"


def test_without_confirmation_a_sure_choice_is_taken_at_once() -> None:
    outcome, _ = call([Heard("speech", "0", "상담원", 0.99, 1)], confirm=False)
    assert path(outcome) == ["heard 0 conf 0.99", "speech 0 conf 0.99"]


def test_audiosocket_not_reaching_us_means_keys_for_the_rest_of_the_call() -> None:
    outcome, sent = call([None], keys=["", "", "8"])
    assert outcome.exit.node == "route_eight"
    assert sum(line.startswith("EXEC AudioSocket") for line in sent) == 1


def test_interpret_needs_exactly_one_phrase_once_unknown_words_are_removed() -> None:
    grammar = build_grammar("ko", {"0": ("상담원 연결",), "5": ("배송 주소",)}, Vocab())[0]
    assert grammar is not None

    def res(*words: tuple[str, float]) -> str:
        return json.dumps({"result": [{"word": w, "conf": c} for w, c in words]})

    assert interpret(res(("<UNK>", 0.5), ("배송", 0.8), ("주소", 0.6)), grammar).key == "5"
    assert interpret(res(("상담원", 1.0), ("연결", 0.5)), grammar).confidence == 0.75
    assert interpret(res(("배송", 1.0), ("배송", 1.0), ("주소", 1.0)), grammar).kind == "unknown"
    assert interpret(res(("<UNK>", 1.0)), grammar).kind == "unknown"
    assert interpret("not json", grammar).kind == "unknown"
    assert interpret('{"text": ""}', grammar).kind == "unknown"


def test_grammars_that_would_crash_vosk_are_refused_in_python() -> None:
    for bad in ("[]", "not json", '["배송 바꿔"]', '[1]', '{"a": 1}'):
        try:
            check_grammar_json(bad, Vocab())
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
    check_grammar_json('["배송 주소", "<UNK>"]', Vocab())
