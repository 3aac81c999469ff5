"""Comfort audio for callers waiting in a queue: a soft chime, made once with sox."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHUNK_S = 3  # the voice channel looks at the routing decisions between chunks


def comfort_file(cache_dir: Path) -> str:
    """An 8 kHz mono WAV of CHUNK_S seconds (path without extension, as STREAM FILE wants)."""
    target = cache_dir / "comfort" / f"hold-{CHUNK_S}s"
    wav = target.with_suffix(".wav")
    if not wav.exists():
        wav.parent.mkdir(parents=True, exist_ok=True)
        tmp = wav.with_suffix(".tmp.wav")
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tmp),
             "synth", "0.6", "pluck", "C5", "pluck", "E5", ":", "synth", "0.6", "pluck", "G5",
             ":", "synth", "1.8", "sine", "0", "gain", "-14", "pad", "0", "0"],
            check=True, capture_output=True, timeout=30)
        tmp.replace(wav)
        wav.chmod(0o644)
    return str(target)
