"""End-to-end speech harness: sandbox Asterisk instance ``speech``, the real Hotline server
with the Korean Vosk model, SIPp callers that *speak* (espeak-ng audio played as RTP).

``SpeechRig`` is ``tests.integration.voice.VoiceRig`` on its own ports (SIP 18060, AMI
18038, FastAGI 18573, AudioSocket 18575, RTP 40000-40999) with one flow,
tests/flows/speech_ko.yaml, on DID 4008003001. A call is a list of steps: ``("pause", ms)``,
``("say", wav)`` (the WAV as a u-law RTP pcap, then a pause as long as it) or ``("key",
digit)`` (SIP INFO).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from bench.sipp import SippResult, end_wait_bye, info_dtmf, pause, play_pcap, run_uac, uac_xml
from bench.speech_audio import duration_s, wav_to_pcap
from tests.integration.voice import VoiceRig

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "tests" / "flows" / "speech_ko.yaml"
DID = "4008003001"
FASTAGI_PORT = 18573
AUDIOSOCKET_PORT = 18575

Step = tuple[str, object]


class SpeechRig(VoiceRig):
    instance = "speech"
    sip_port = 18060
    ami_port = 18038
    rtp_start, rtp_end = 40000, 40999

    def write_flows(self) -> None:
        self.flows_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(FLOW, self.flows_dir / "speech_ko.yaml")

    def make_env(self) -> dict[str, str]:
        env = super().make_env()
        env.update({
            "HOTLINE_FASTAGI_PORT": str(FASTAGI_PORT),
            "HOTLINE_ASTERISK_DIDS": f"{DID}=speech_ko",
            "HOTLINE_PROMPTS_VOICES": "ko=ko,en=en-us,zh=cmn",
            "HOTLINE_SPEECH_PORT": str(AUDIOSOCKET_PORT),
        })
        env.update(self.extra_env)
        return env

    def call(self, steps: Sequence[Step], caller: str, timeout_s: int = 60) -> SippResult:
        xml = speech_scenario(steps, caller, self.tmp / "pcaps", bye_timeout_ms=timeout_s * 1000)
        return run_uac(self.sip_port, DID, xml, timeout_s=timeout_s)


def speech_scenario(steps: Sequence[Step], caller: str, pcap_dir: Path,
                    bye_timeout_ms: int = 30000) -> str:
    """SIPp XML: answer, then the steps, then wait for Asterisk's BYE."""
    parts: list[str] = []
    cseq = 2
    for i, (kind, arg) in enumerate(steps):
        last = i == len(steps) - 1  # no pause at the end: a BYE during a pause fails the call
        if kind == "pause":
            if not last:
                parts.append(pause(int(str(arg))))
        elif kind in ("play", "say"):
            wav = Path(str(arg))
            parts.append(play_pcap(wav_to_pcap(wav, pcap_dir / (wav.stem + ".pcap"))))
            # "play": go on at once (a key while speaking); "say": play_pcap_audio runs beside
            # the scenario, so wait for it to end
            if kind == "say" and not last:
                parts.append(pause(int(duration_s(wav) * 1000) + 100))
        elif kind == "key":
            parts.append(info_dtmf(str(arg), cseq))
            cseq += 1
        else:
            raise ValueError(f"unknown step {kind!r}")
    return uac_xml("".join(parts), end_wait_bye(bye_timeout_ms), caller=caller)
