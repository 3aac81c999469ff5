"""The Korean test corpus: bench/speech_corpus.py (the speech benchmark's figures come from
it too, and bench never imports tests), re-exported for tests/speech/test_recognition.py."""

from bench.speech_corpus import GRAMMARS, RENDERINGS, Utterance, pcm_of, phone_pcm, utterances

__all__ = ["GRAMMARS", "RENDERINGS", "Utterance", "pcm_of", "phone_pcm", "utterances"]
