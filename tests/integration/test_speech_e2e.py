"""Speech menus end to end: SIPp speaks Korean into the sandbox Asterisk, Hotline hears it.

Real parts only: Asterisk 22 (sandbox instance ``speech``), app_audiosocket streaming the
caller's audio to Hotline's AudioSocket listener, the small Korean Vosk model (dither off),
espeak-ng speech sent as u-law RTP by SIPp, the real ``hotline run`` process. Each call's
route is read from its record (calls.jsonl, written by the server's on_outcome hook).

Exact routing is asserted only on phrases the model gets right on espeak-ng speech every run
(상담원, 상담원 연결, 여덟, 넷; 네 to confirm).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.speech_audio import deterministic_model, missing_parts, noise, synth
from tests.integration.conftest import _cannot_run
from tests.integration.speech_rig import SpeechRig

pytestmark = [pytest.mark.asterisk, pytest.mark.speech]

AFTER_PROMPT_MS = 2600  # answer + the 1.3 s menu prompt + AudioSocket start, with margin
AFTER_CONFIRM_MS = 4800  # decision + the ~3.5 s confirmation prompt, with margin


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    why = missing_parts()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("speech-audio")
    words = {"yeodeol": "여덟", "sangdamwon": "상담원", "sangdamwon_yeongyeol": "상담원 연결",
             "net": "넷", "ne": "네", "aniyo": "아니요"}
    out = {name: synth(text, "ko", d / f"{name}.wav") for name, text in words.items()}
    out["english"] = synth("I would like to change my delivery address please", "en",
                           d / "english.wav")
    out["noise"] = noise(d / "noise.wav", seconds=1.2, level=0.25)
    return out


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, audio: dict[str, Path]) -> Iterator[SpeechRig]:
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("speech-e2e")
    model = deterministic_model(tmp / "model-ko")
    rig = SpeechRig.start(tmp, {"HOTLINE_SPEECH_MODELS": f"ko={model}"})
    try:
        yield rig
    finally:
        rig.close()


def _record(rig: SpeechRig, caller: str) -> dict[str, Any]:
    return rig.outcome_for(caller, timeout_s=15)


def _path(record: dict[str, Any]) -> list[str]:
    return [f"{node}:{what}" for node, what in record["path"]]


def test_spoken_choice_confirmed_by_voice_routes_the_call(
        rig: SpeechRig, audio: dict[str, Path]) -> None:
    result = rig.call([("pause", AFTER_PROMPT_MS), ("say", audio["yeodeol"]),
                       ("pause", AFTER_CONFIRM_MS), ("say", audio["ne"])], "1010001")
    assert result.ok, result.describe()
    rec = _record(rig, "1010001")
    assert rec["exit"]["node"] == "route_eight", _path(rec)
    steps = _path(rec)
    assert steps[1].startswith("main:heard 8 conf")
    assert "main:confirm yes" in steps
    assert any(s.startswith("main:speech 8 conf") for s in steps)
    assert "여덟" not in str(rec)  # the words heard never reach the record


@pytest.mark.parametrize(("clip", "route", "caller"), [
    ("sangdamwon", "route_agent", "1010002"),
    ("sangdamwon_yeongyeol", "route_agent", "1010003"),
    ("net", "route_four", "1010004"),
])
def test_reliable_phrases_route_exactly(rig: SpeechRig, audio: dict[str, Path], clip: str,
                                        route: str, caller: str) -> None:
    result = rig.call([("pause", AFTER_PROMPT_MS), ("say", audio[clip]),
                       ("pause", AFTER_CONFIRM_MS), ("key", "1")], caller)
    assert result.ok, result.describe()
    rec = _record(rig, caller)
    assert rec["exit"]["node"] == route, _path(rec)
    assert "main:confirm yes" in _path(rec)


def test_a_key_press_wins_over_speech(rig: SpeechRig, audio: dict[str, Path]) -> None:
    result = rig.call([("pause", AFTER_PROMPT_MS), ("key", "4")], "1010005")
    assert result.ok, result.describe()
    rec = _record(rig, "1010005")
    assert rec["exit"]["node"] == "route_four"
    assert "main:key 4" in _path(rec)


def test_a_key_pressed_while_speaking_wins(rig: SpeechRig, audio: dict[str, Path]) -> None:
    # the caller starts a long English sentence and presses 0 half a second into it
    result = rig.call([("pause", AFTER_PROMPT_MS), ("play", audio["english"]),
                       ("pause", 500), ("key", "0")], "1010006")
    assert result.ok, result.describe()
    rec = _record(rig, "1010006")
    assert rec["exit"]["node"] == "route_agent", _path(rec)
    assert _path(rec)[1:] == ["main:key 0"]


def test_silence_is_no_input_then_the_flow_fallback(rig: SpeechRig) -> None:
    result = rig.call([], "1010007", timeout_s=40)
    assert result.ok, result.describe()
    rec = _record(rig, "1010007")
    assert rec["exit"]["node"] == "route_fallback"
    assert _path(rec)[1:] == ["main:timeout", "main:timeout"]


def test_noise_is_never_acted_on_without_a_confirmation(rig: SpeechRig,
                                                         audio: dict[str, Path]) -> None:
    """Noise may come back as an option (small models map anything onto the grammar): it is
    not acted on unless confirmed; the caller, silent, then presses a key."""
    result = rig.call([("pause", AFTER_PROMPT_MS), ("say", audio["noise"]),
                       ("pause", 6000), ("key", "8")], "1010008", timeout_s=60)
    assert result.ok, result.describe()
    rec = _record(rig, "1010008")
    steps = _path(rec)
    assert rec["exit"]["node"] == "route_eight", steps
    assert steps[-1] == "main:key 8"
    assert not any(s.startswith("main:speech") for s in steps), steps


def test_wrong_language_is_never_acted_on_without_a_confirmation(
        rig: SpeechRig, audio: dict[str, Path]) -> None:
    result = rig.call([("pause", AFTER_PROMPT_MS), ("say", audio["english"]),
                       ("pause", 6000), ("key", "4")], "1010010", timeout_s=60)
    assert result.ok, result.describe()
    rec = _record(rig, "1010010")
    steps = _path(rec)
    assert rec["exit"]["node"] == "route_four", steps
    assert steps[-1] == "main:key 4"
    assert not any(s.startswith("main:speech") for s in steps), steps


def test_a_rejected_choice_is_not_acted_on(rig: SpeechRig, audio: dict[str, Path]) -> None:
    result = rig.call([("pause", AFTER_PROMPT_MS), ("say", audio["yeodeol"]),
                       ("pause", AFTER_CONFIRM_MS), ("say", audio["aniyo"]),
                       ("pause", 3500), ("say", audio["net"]),
                       ("pause", AFTER_CONFIRM_MS), ("say", audio["ne"])], "1010009",
                      timeout_s=60)
    assert result.ok, result.describe()
    rec = _record(rig, "1010009")
    steps = _path(rec)
    assert "main:confirm no" in steps
    assert rec["exit"]["node"] == "route_four", steps
