"""Prompt files made by the real espeak-ng and ffmpeg are what Asterisk plays well."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import threading
import wave
from pathlib import Path

import pytest

from ivr_flows.core.model import Flow
from ivr_flows.voice.prompts import PromptStore

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "sox")),
    reason="needs espeak-ng, ffmpeg and sox",
)


def samples_of(path: str) -> tuple[int, int, int, list[int]]:
    """(rate, channels, sample width, samples) of a WAV file."""
    with wave.open(path, "rb") as w:
        frames = w.readframes(w.getnframes())
        n = len(frames) // 2
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), list(
            struct.unpack(f"<{n}h", frames[: n * 2]))


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def goertzel_power(samples: list[int], freq: float, rate: int) -> float:
    """Mean power of one frequency (a single DFT bin), in the units of rms()**2."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return 2 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (len(samples) ** 2)


def write_tone(path: Path, freq: float, rate: int, seconds: float = 1.0,
               amplitude: int = 16000) -> None:
    n = int(rate * seconds)
    data = struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / rate))
                                   for i in range(n)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return PromptStore(tmp_path / "cache", "wav", {"en": "en-us", "zh": "cmn"})


@pytest.mark.parametrize(("lang", "text"), [
    ("zh", "您好，欢迎致电优选商城客服热线。"),
    ("en", "Hello, and thank you for calling Youxuan Shop."),
])
def test_speech_is_8khz_mono_16bit_with_real_sound(store: PromptStore, lang: str,
                                                    text: str) -> None:
    rate, channels, width, samples = samples_of(store.text_file(lang, text) + ".wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert len(samples) / rate > 1.5
    assert rms(samples) > 1000  # speech, not silence
    lead = next(i for i, s in enumerate(samples) if abs(s) > 300)
    assert lead / rate < 0.15  # espeak-ng's leading silence is trimmed


def test_soxi_agrees_on_the_format(store: PromptStore) -> None:
    path = store.text_file("en", "One moment please.") + ".wav"
    out = subprocess.run(["soxi", path], capture_output=True, text=True, check=True).stdout
    assert "Sample Rate    : 8000" in out and "Channels       : 1" in out
    assert "16-bit Signed Integer PCM" in out


def test_a_punctuation_part_is_a_short_valid_pause(store: PromptStore) -> None:
    rate, channels, _, samples = samples_of(store.text_file("zh", "。") + ".wav")
    assert (rate, channels) == (8000, 1)
    assert 0.2 <= len(samples) / rate <= 0.3 and rms(samples) == 0


def test_a_6khz_tone_does_not_alias_to_2khz(store: PromptStore, tmp_path: Path) -> None:
    src = tmp_path / "tone6k.wav"
    write_tone(src, 6000, 48000)
    rate, _, _, out = samples_of(store.recorded_file("en", src) + ".wav")
    assert rate == 8000
    tone_power = 16000**2 / 2
    # Naive decimation (what pydub's set_frame_rate amounts to) folds 6 kHz onto 2 kHz:
    _, _, _, original = samples_of(str(src))
    naive = original[::6]
    assert goertzel_power(naive, 2000, 8000) > 0.5 * tone_power
    # The store's resampler low-passes first: almost nothing is left, at 2 kHz or anywhere.
    assert goertzel_power(out, 2000, 8000) < 1e-4 * tone_power
    assert rms(out) ** 2 < 1e-3 * tone_power


def test_a_1khz_tone_passes_the_resampler(store: PromptStore, tmp_path: Path) -> None:
    src = tmp_path / "tone1k.wav"
    write_tone(src, 1000, 44100)
    _, _, _, out = samples_of(store.recorded_file("en", src) + ".wav")
    assert goertzel_power(out, 1000, 8000) > 0.8 * 16000**2 / 2


def test_an_mp3_operator_recording_is_converted(store: PromptStore, tmp_path: Path) -> None:
    mp3 = tmp_path / "greeting.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=800:sample_rate=44100:duration=1.5", "-ac", "2",
                    "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)], check=True)
    rate, channels, width, samples = samples_of(store.recorded_file("zh", mp3) + ".wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert 1.4 < len(samples) / rate < 1.7
    assert goertzel_power(samples, 800, 8000) > 0.5 * rms(samples) ** 2


def test_gsm_prompts_are_8khz_gsm_frames(tmp_path: Path) -> None:
    store = PromptStore(tmp_path / "cache", "gsm", {"zh": "cmn"})
    path = Path(store.text_file("zh", "感谢您的来电，再见。") + ".gsm")
    data = path.read_bytes()
    assert len(data) % 33 == 0 and len(data) // 33 * 0.02 > 1.0  # 33-byte 20 ms frames
    out = subprocess.run(["soxi", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Sample Rate    : 8000" in out and "GSM" in out


def test_concurrent_real_synthesis_gives_one_whole_file(store: PromptStore) -> None:
    paths: list[str] = []
    threads = [threading.Thread(target=lambda: paths.append(
        store.text_file("en", "Connecting you to an agent, please hold."))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1
    rate, _, _, samples = samples_of(paths[0] + ".wav")
    assert rate == 8000 and len(samples) > 8000


def test_the_demo_flow_builds_completely(tmp_path: Path, demo_flow: Flow) -> None:
    store = PromptStore(tmp_path / "cache", "wav", {"en": "en-us", "zh": "cmn"})
    cold = store.build_flow(demo_flow)
    assert cold.failed == 0 and cold.built == len(cold.files) > 50
    warm = store.build_flow(demo_flow)
    assert warm.built == 0 and warm.cached == cold.built and warm.seconds < 1.0
    for f in cold.files:
        with wave.open(f, "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
