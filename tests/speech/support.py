"""Real parts for speech tests: bench/speech_audio.py (the speech benchmark uses them too, and
bench never imports tests), re-exported for the tests that import them from here."""

from bench.speech_audio import (
    RELIABLE_KO,
    SPEECH_TOOLS,
    deterministic_model,
    duration_s,
    ko_model_dir,
    missing_parts,
    noise,
    pcm_of,
    synth,
    to_ulaw,
    wav_to_pcap,
)

__all__ = ["RELIABLE_KO", "SPEECH_TOOLS", "deterministic_model", "duration_s", "ko_model_dir",
           "missing_parts", "noise", "pcm_of", "synth", "to_ulaw", "wav_to_pcap"]
