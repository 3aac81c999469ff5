"""The AudioSocket frame codec, the end-pointer, and the listener protocol on a fake clock.

Decoding is done by a scripted recogniser with the real one's signatures; the protocol runs
on Twisted's ``StringTransport`` and ``task.Clock``, decoding inline instead of in a pool.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport

from cti.telephony.audiosocket.server import (
    KIND_AUDIO,
    KIND_DTMF,
    KIND_HANGUP,
    KIND_UUID,
    AudioSocketFactory,
    Endpointer,
    FrameError,
    FrameReader,
    Listening,
    encode,
    parse_uuid,
)
from ivr_flows.voice.speech import Heard, Recogniser

LOUD = struct.pack("<160h", *(int(8000 * math.sin(i / 3.0)) for i in range(160)))
QUIET = bytes(320)


class ScriptedRecogniser:
    def __init__(self, heard: Heard) -> None:
        self.heard = heard
        self.bytes = 0

    def accept(self, pcm: bytes) -> None:
        self.bytes += len(pcm)

    def finish(self) -> Heard:
        return self.heard


class InlineFactory(AudioSocketFactory):
    def decode(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        return defer.maybeDeferred(fn, *args)


EIGHT = Heard("speech", "8", "여덟", 0.9, 1)


def connect(heard: Heard = EIGHT, no_input_s: float = 5.0
            ) -> tuple[task.Clock, StringTransport, Any, Listening, ScriptedRecogniser]:
    clock = task.Clock()
    factory = InlineFactory(clock, None, end_ms=300)
    rec = ScriptedRecogniser(heard)
    listen = factory.expect(cast(Recogniser, rec), no_input_s)
    proto: Any = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(encode(KIND_UUID, uuid.UUID(listen.uuid).bytes))
    return clock, transport, proto, listen, rec


def frames_written(transport: StringTransport) -> list[int]:
    return [f.kind for f in FrameReader().feed(transport.value())]


def test_frames_round_trip_across_arbitrary_chunks() -> None:
    data = encode(KIND_UUID, bytes(16)) + encode(KIND_AUDIO, LOUD) + encode(KIND_DTMF, b"5")
    reader = FrameReader()
    got = [f for i in range(0, len(data), 7) for f in reader.feed(data[i:i + 7])]
    assert [(f.kind, len(f.payload)) for f in got] == [(KIND_UUID, 16), (KIND_AUDIO, 320),
                                                       (KIND_DTMF, 1)]
    assert encode(KIND_HANGUP) == b"\x00\x00\x00"


def test_an_oversized_frame_and_a_bad_uuid_are_refused() -> None:
    with pytest.raises(FrameError):
        FrameReader().feed(b"\x10\xff\xff")
    with pytest.raises(FrameError):
        parse_uuid(b"short")


def test_the_endpointer_ends_after_the_trailing_silence() -> None:
    ep = Endpointer(end_ms=300)
    assert [ep.feed(QUIET) for _ in range(5)] == [None] * 5
    events = [ep.feed(LOUD) for _ in range(10)] + [ep.feed(QUIET) for _ in range(15)]
    assert events.count("start") == 1
    assert events.index("end") == 10 + 14  # 15 quiet frames = 300 ms
    assert ep.feed(LOUD) is None  # ended: nothing more


def test_a_short_click_is_not_speech() -> None:
    ep = Endpointer(end_ms=300, start_ms=60)
    assert [ep.feed(LOUD), ep.feed(LOUD), ep.feed(QUIET)] == [None, None, None]
    assert not ep.in_speech


def test_speech_then_silence_is_decided_300_ms_after_the_last_loud_frame() -> None:
    clock, transport, proto, listen, rec = connect()
    for _ in range(20):
        proto.dataReceived(encode(KIND_AUDIO, LOUD))
        clock.advance(0.02)
    for _ in range(15):
        proto.dataReceived(encode(KIND_AUDIO, QUIET))
        clock.advance(0.02)
    assert listen.heard is not None and listen.heard.key == "8"
    assert listen.heard.eos_to_decision_ms == pytest.approx(300, abs=20)
    assert rec.bytes == 35 * 320  # every frame reached the recogniser
    assert frames_written(transport)[-1] == KIND_HANGUP and transport.disconnecting


def test_a_caller_who_sends_no_audio_after_speaking_is_decided_by_the_clock() -> None:
    clock, _transport, proto, listen, _ = connect()
    for _ in range(10):
        proto.dataReceived(encode(KIND_AUDIO, LOUD))
    assert listen.heard is None
    clock.advance(0.4)  # no RTP at all in silence
    assert listen.heard is not None and listen.heard.kind == "speech"


def test_a_key_wins_at_once_even_mid_speech() -> None:
    _clock, transport, proto, listen, _ = connect()
    proto.dataReceived(encode(KIND_AUDIO, LOUD) * 5 + encode(KIND_DTMF, b"4"))
    assert listen.heard == Heard("key", "4")
    assert transport.disconnecting


def test_silence_until_the_timeout_is_no_input_and_the_line_is_kept_alive() -> None:
    clock, transport, _proto, listen, _ = connect(no_input_s=3.0)
    for _ in range(29):
        clock.advance(0.1)
    assert listen.heard is None
    # AudioSocket() gives up after 2 s without traffic: we send silence every 0.5 s
    assert frames_written(transport).count(KIND_AUDIO) >= 5
    clock.advance(0.2)
    assert listen.heard == Heard("silence")


def test_a_connection_for_nobody_is_closed() -> None:
    factory = InlineFactory(task.Clock(), None)
    proto: Any = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(encode(KIND_UUID, uuid.uuid4().bytes))
    assert transport.disconnecting


def test_asterisk_hanging_up_mid_listen_is_gone() -> None:
    _clock, _transport, proto, listen, _ = connect()
    proto.connectionLost(None)
    assert listen.heard == Heard("gone")
