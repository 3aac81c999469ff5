"""Honest recognition with the real small Korean Vosk model (dither off: deterministic).

Grammars are built and validated exactly as the server does (``SpeechModels``); audio is
espeak-ng speech at 8 kHz through a u-law round trip, fed in 20 ms frames like AudioSocket.
Exact results are asserted only on the phrases this model gets right every run; overall
accuracy over the whole corpus (69 utterances) is asserted with a margin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.speech_audio import deterministic_model, missing_parts
from bench.speech_corpus import GRAMMARS, Utterance, phone_pcm, utterances
from ivr_flows.voice.speech import Heard, LoadedModel, SpeechModels, build_grammar

pytestmark = pytest.mark.speech
ACCURACY_FLOOR = 0.45  # measured 38/69 = 0.55 (bench/RESULTS.md); espeak-ng is a poor stand-in


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SpeechModels:
    why = missing_parts()
    if why:
        pytest.skip(why)
    model = deterministic_model(tmp_path_factory.mktemp("model") / "ko")
    models = SpeechModels({"ko": str(model)})
    models.load(["ko"])
    assert models.available("ko")
    return models


@pytest.fixture(scope="module")
def decoded(models: SpeechModels,
            tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Utterance, Heard]]:
    return [(u, decode(models, u)) for u in utterances(tmp_path_factory.mktemp("corpus"))]


def decode(models: SpeechModels, u: Utterance) -> Heard:
    grammar, problems = build_grammar("ko", GRAMMARS[u.prompt], models.models["ko"])
    assert grammar is not None and not problems
    rec = models.recogniser(grammar)
    pcm = phone_pcm(u.wav)
    for i in range(0, len(pcm), 320):
        rec.accept(pcm[i:i + 320])
    return rec.finish()


def test_the_reliable_phrases_are_recognised_exactly(
        decoded: list[tuple[Utterance, Heard]]) -> None:
    reliable = [(u, h) for u, h in decoded if u.reliable]
    assert len(reliable) >= 6
    wrong = [(u.phrase, h) for u, h in reliable if (h.kind, h.key) != ("speech", u.key)]
    assert not wrong


def test_overall_accuracy_has_a_margin(decoded: list[tuple[Utterance, Heard]]) -> None:
    assert len(decoded) >= 50
    right = sum(1 for u, h in decoded if h.kind == "speech" and h.key == u.key)
    assert right / len(decoded) >= ACCURACY_FLOOR, f"{right}/{len(decoded)}"


def test_the_same_audio_decodes_the_same_way_every_time(
        models: SpeechModels, decoded: list[tuple[Utterance, Heard]]) -> None:
    for u, first in decoded[:8]:
        assert decode(models, u) == first


def test_a_grammar_with_an_unknown_word_never_reaches_vosk(models: SpeechModels) -> None:
    grammar, problems = build_grammar("ko", {"1": ("배송지 바꿔줘요", "넷")}, models.models["ko"])
    assert grammar is not None and list(grammar.phrases) == ["넷"]
    assert [p.word for p in problems] == ["바꿔줘요"]
    none, _ = build_grammar("ko", {"1": ("바꿔줘요",)}, models.models["ko"])
    assert none is None  # nothing usable: speech is off there, no "[]" grammar for Vosk


def test_silence_is_unknown(models: SpeechModels) -> None:
    grammar, _ = build_grammar("ko", GRAMMARS["main"], models.models["ko"])
    assert grammar is not None
    rec = models.recogniser(grammar)
    rec.accept(bytes(16000))
    assert rec.finish().kind == "unknown"


def test_the_model_is_loaded_once_and_shared(models: SpeechModels, tmp_path: Path) -> None:
    loads: list[str] = []

    def loader(lang: str, path: str) -> LoadedModel:
        loads.append(lang)
        return models.models[lang]

    shared = SpeechModels({"ko": models.paths["ko"]}, loader=loader)
    shared.load(["ko"])
    shared.load(["ko", "ko"])
    grammar = shared.yes_no("ko")
    assert grammar is not None
    a, b = shared.recogniser(grammar), shared.recogniser(grammar)
    assert a is not b and loads == ["ko"]
