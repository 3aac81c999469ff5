"""Speech menus for the running server: models, the decoding pool, the AudioSocket listener.

``start_speech(cfg, flows, reactor)`` is the composition root's one call for speech: load the
models the flows' speech menus need (once per process, shared by every call), start the
decoding thread pool and the AudioSocket listener (``cti.telephony.audiosocket``), and hand
back the ``SpeechPort`` every voice session gets. None when no speech menu has a model: every
menu then runs on keys (one log line per language says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cti.app.config import Config
from cti.telephony.audiosocket.server import AudioSocketFactory, listen_audiosocket
from ivr_flows.core.model import Flow
from ivr_flows.voice.speech import SpeechModels
from ivr_flows.voice.speech_dialogue import SpeechPort

log = logging.getLogger(__name__)


def start_speech(cfg: Config, flows: Mapping[str, Flow], reactor: Any) -> SpeechPort | None:
    from twisted.python.threadpool import ThreadPool

    sp = cfg.speech
    models = SpeechModels(sp.models)
    models.prepare(flows)
    if not models.models:
        return None
    pool = ThreadPool(minthreads=1, maxthreads=max(1, sp.threads), name="hotline-speech")
    pool.start()
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    sockets = AudioSocketFactory(reactor, pool, end_ms=sp.end_silence_ms)
    listen_audiosocket(reactor, sockets, sp.host, sp.port)
    log.info("speech: AudioSocket listener on %s:%d, languages %s", sp.host, sp.port,
             ", ".join(sorted(models.models)))
    return SpeechPort(models, sockets, f"{sp.host}:{sp.port}", sp.min_confidence, sp.confirm)
