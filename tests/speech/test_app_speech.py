"""The composition root's speech wiring (``cti.app.speech.start_speech``) with a recording
fake reactor: no model, no listener; the Korean model, an AudioSocket listener on the
configured address behind the ``AudioListener`` protocol the speech menus use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.speech_audio import ko_model_dir, missing_parts
from cti.app.config import Config, SpeechConfig
from cti.app.speech import start_speech
from cti.telephony.audiosocket.server import AudioSocketFactory
from ivr_flows.loading.loader import load_flow_file

FLOW = Path(__file__).resolve().parents[1] / "flows" / "speech_ko.yaml"


class RecordingReactor:
    """The two reactor methods ``start_speech`` calls, recorded instead of run."""

    def __init__(self) -> None:
        self.listening: list[tuple[int, Any, str]] = []
        self.triggers: list[tuple[str, str, Any]] = []

    def listenTCP(self, port: int, factory: Any, backlog: int = 50,
                  interface: str = "") -> object:
        self.listening.append((port, factory, interface))
        return object()

    def addSystemEventTrigger(self, phase: str, event: str, fn: Any, *args: Any) -> object:
        self.triggers.append((phase, event, fn))
        return object()


def test_without_a_model_every_menu_runs_on_keys_and_nothing_listens() -> None:
    reactor = RecordingReactor()
    flow = load_flow_file(FLOW)
    assert start_speech(Config(), {flow.name: flow}, reactor) is None
    assert reactor.listening == [] and reactor.triggers == []


@pytest.mark.speech
def test_with_a_model_the_audiosocket_listener_serves_the_speech_menus() -> None:
    why = missing_parts()
    if why:
        pytest.skip(why)
    reactor = RecordingReactor()
    flow = load_flow_file(FLOW)
    cfg = Config(speech=SpeechConfig(models={"ko": str(ko_model_dir())}, port=45750,
                                     min_confidence=0.7, confirm=False, threads=1))
    port = start_speech(cfg, {flow.name: flow}, reactor)
    try:
        assert port is not None
        assert (port.address, port.min_confidence, port.confirm) == ("127.0.0.1:45750", 0.7,
                                                                     False)
        assert isinstance(port.sockets, AudioSocketFactory)
        assert reactor.listening == [(45750, port.sockets, "127.0.0.1")]
        assert port.models.available("ko")
    finally:
        for _phase, _event, stop in reactor.triggers:  # the decoding pool's stop
            stop()
