"""Caller audio for speech menus: Asterisk's AudioSocket, our end-pointing, streaming Vosk.

Why AudioSocket: the FastAGI session runs ``EXEC AudioSocket(<uuid>,127.0.0.1:<port>)`` and
Asterisk streams the caller's audio (8 kHz 16-bit slin, 20 ms frames) and DTMF over one TCP
connection to this listener, in the same process. We decode as the audio arrives and decide
~``end_silence_ms`` after the caller stops (RECORD FILE's silence detection counts whole
seconds; EAGI needs classic process-per-call AGI; ARI external media needs a second control
channel). The connection is the per-call resource; the model is shared.

Wire format (pure, below): 1 byte kind, 2 bytes big-endian length, payload. Kinds: 0x00
hang up, 0x01 the 16-byte UUID, 0x03 one DTMF digit (ASCII), 0x10 audio, 0xff error.

``AudioSocketFactory.expect(recogniser, no_input_s)`` registers a listen; the connection that
opens with that UUID feeds it. The factory is the ``ivr_flows.voice.listener.AudioListener``
a speech menu talks to (``Listening`` is its ``Listen``); ``listen_audiosocket`` opens the
port. Audio goes to the recogniser in the thread pool (one decode at a time per call, frames
batched while one runs); an energy end-pointer finds the start and end of speech; a key
press ends the listen at once (the key wins). The decision is a ``Heard``; then we send the
hang-up frame and close, so ``AudioSocket()`` returns and the AGI command that ran it answers.
"""

from __future__ import annotations

import logging
import math
import struct
import uuid as uuidlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from ivr_flows.voice.listener import Listen
from ivr_flows.voice.speech import Heard, Recogniser

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
MAX_PAYLOAD = 8192  # Asterisk sends 320-byte frames; anything far larger is not Asterisk
BYTES_PER_MS = 16  # 8 kHz * 2 bytes
DTMF_KEYS = frozenset("0123456789*#ABCD")
# AudioSocket() gives up after 2 s without traffic either way (a caller who sends no RTP
# while silent): we send a 20 ms frame of silence this often.
KEEPALIVE_S = 0.5
SILENCE_FRAME = bytes(320)

# ---------------------------------------------------------------- wire format (pure)


@dataclass(frozen=True)
class Frame:
    kind: int
    payload: bytes = b""


class FrameError(ValueError):
    pass


def encode(kind: int, payload: bytes = b"") -> bytes:
    if not 0 <= kind <= 0xFF or len(payload) > 0xFFFF:
        raise FrameError("bad frame")
    return struct.pack(">BH", kind, len(payload)) + payload


def hangup_frame() -> bytes:
    return encode(KIND_HANGUP)


class FrameReader:
    """Feed bytes as they arrive; get whole frames back."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._max = max_payload

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while len(self._buf) >= 3:
            kind, length = struct.unpack_from(">BH", self._buf)
            if length > self._max:
                raise FrameError(f"frame of {length} bytes")
            if len(self._buf) < 3 + length:
                break
            out.append(Frame(kind, bytes(self._buf[3:3 + length])))
            del self._buf[:3 + length]
        return out


def parse_uuid(payload: bytes) -> str:
    if len(payload) != 16:
        raise FrameError("a UUID frame carries 16 bytes")
    return str(uuidlib.UUID(bytes=payload))


# ---------------------------------------------------------------- end-pointing (pure)


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian samples."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


class Endpointer:
    """Energy end-pointer over audio time. ``feed(pcm)`` answers "start" when speech begins
    (``start_ms`` of loud audio), "end" once ``end_ms`` of quiet follows it, "long" past
    ``max_ms`` of speech, else None. The protocol also ends on a wall-clock timer, for when
    the caller sends no audio at all (no RTP during silence)."""

    def __init__(self, end_ms: int = 300, threshold: float = 500.0, start_ms: int = 60,
                 max_ms: int = 10_000) -> None:
        self.end_ms = end_ms
        self.threshold = threshold
        self.start_ms = start_ms
        self.max_ms = max_ms
        self.in_speech = False
        self.ended = False
        self._loud_ms = 0.0
        self._quiet_ms = 0.0
        self.speech_ms = 0.0

    def feed(self, pcm: bytes) -> str | None:
        if self.ended:
            return None
        ms = len(pcm) / BYTES_PER_MS
        loud = rms(pcm) >= self.threshold
        if not self.in_speech:
            self._loud_ms = self._loud_ms + ms if loud else 0.0
            if self._loud_ms >= self.start_ms:
                self.in_speech = True
                self.speech_ms = self._loud_ms
                self._quiet_ms = 0.0
                return "start"
            return None
        self.speech_ms += ms
        self._quiet_ms = 0.0 if loud else self._quiet_ms + ms
        if self._quiet_ms >= self.end_ms:
            self.ended = True
            return "end"
        if self.speech_ms >= self.max_ms:
            self.ended = True
            return "long"
        return None

    @property
    def loud(self) -> bool:
        return self.in_speech and self._quiet_ms == 0.0


# ---------------------------------------------------------------- one listen


class Listening:
    """A registered listen: the connection with this UUID feeds it; ``done`` fires with the
    ``Heard`` (also kept in ``heard``)."""

    def __init__(self, uuid: str, recogniser: Recogniser, no_input_s: float,
                 end_ms: int, threshold: float, max_speech_ms: int) -> None:
        self.uuid = uuid
        self.recogniser = recogniser
        self.no_input_s = no_input_s
        self.endpointer = Endpointer(end_ms, threshold, max_ms=max_speech_ms)
        self.done: defer.Deferred[Heard] = defer.Deferred()
        self.heard: Heard | None = None
        self.connected = False

    def decide(self, heard: Heard) -> None:
        if self.heard is None:
            self.heard = heard
            self.done.callback(heard)


class AudioSocketProtocol(Protocol):
    factory: AudioSocketFactory

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._listen: Listening | None = None
        self._pending = bytearray()
        self._busy = False
        self._ending = False
        self._eos_at: float | None = None  # reactor time speech ended (last loud frame)
        self._timers: dict[str, Any] = {}
        self._closed = False

    @property
    def _tx(self) -> Any:
        return self.transport

    # -- bytes in

    def dataReceived(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except FrameError as exc:
            log.warning("audiosocket: %s; closing", exc)
            self._fail("bad_frame")
            return
        for frame in frames:
            if self._closed:
                return
            self._frame(frame)

    def _frame(self, frame: Frame) -> None:
        if self._listen is None:
            if frame.kind != KIND_UUID:
                self._fail("no_uuid")
                return
            try:
                uid = parse_uuid(frame.payload)
            except (FrameError, ValueError):
                self._fail("bad_uuid")
                return
            listen = self.factory.claim(uid)
            if listen is None:
                log.warning("audiosocket: nobody listens for %s; closing", uid)
                self._fail("unknown_uuid")
                return
            self._listen = listen
            listen.connected = True
            self._timer("no_input", listen.no_input_s, self._no_input)
            self._keepalive()
            return
        if frame.kind == KIND_AUDIO:
            self._audio(frame.payload)
        elif frame.kind == KIND_DTMF:
            key = frame.payload[:1].decode("ascii", "replace")
            if key in DTMF_KEYS:
                self._decide(Heard("key", key))
        elif frame.kind == KIND_HANGUP:
            self._decide(Heard("gone"))
        elif frame.kind == KIND_ERROR:
            log.info("audiosocket: Asterisk reports error %s", frame.payload[:1].hex())
            self._decide(Heard("gone"))

    def _audio(self, pcm: bytes) -> None:
        assert self._listen is not None
        if self._ending:
            return
        ep = self._listen.endpointer
        event = ep.feed(pcm)
        self._pending += pcm
        now = self.factory.reactor.seconds()
        if event == "start":
            self._cancel("no_input")
        if ep.in_speech and ep.loud:
            self._eos_at = now + len(pcm) / BYTES_PER_MS / 1000.0
            # no audio at all after this (no RTP in silence) ends the utterance too
            self._timer("quiet", ep.end_ms / 1000.0 + 0.06, self._quiet)
        if event in ("end", "long"):
            self._end()
        else:
            self._pump()

    # -- decoding, one batch at a time per call

    def _pump(self) -> None:
        if self._busy or self._listen is None:
            return
        if self._pending:
            chunk, self._pending = bytes(self._pending), bytearray()
            self._busy = True
            d = self.factory.decode(self._listen.recogniser.accept, chunk)
            d.addBoth(self._accepted)
        elif self._ending:
            self._busy = True
            d2 = self.factory.decode(self._listen.recogniser.finish)
            d2.addBoth(self._finished)

    def _accepted(self, result: object) -> None:
        self._busy = False
        if isinstance(result, Failure):
            log.error("audiosocket: decoding failed: %s", result.getErrorMessage())
            self._decide(Heard("error"))
            return
        self._pump()

    def _finished(self, result: object) -> None:
        self._busy = False
        if isinstance(result, Failure):
            log.error("audiosocket: decoding failed: %s", result.getErrorMessage())
            self._decide(Heard("error"))
            return
        assert isinstance(result, Heard) and self._listen is not None
        eos = self._eos_at
        now = self.factory.reactor.seconds()
        ms = None if eos is None else round(max(0.0, now - eos) * 1000.0, 1)
        self._decide(Heard(result.kind, result.key, result.phrase, result.confidence,
                           result.words, ms, self._listen.endpointer.speech_ms))

    def _end(self) -> None:
        if self._ending:
            return
        self._ending = True
        self._cancel("quiet")
        self._cancel("no_input")
        self._pump()

    def _quiet(self) -> None:
        self._timers.pop("quiet", None)
        self._end()

    def _keepalive(self) -> None:
        if not self._closed:
            self._tx.write(encode(KIND_AUDIO, SILENCE_FRAME))
            self._timer("keepalive", KEEPALIVE_S, self._keepalive)

    def _no_input(self) -> None:
        self._timers.pop("no_input", None)
        if self._listen is not None and not self._listen.endpointer.in_speech:
            self._decide(Heard("silence"))

    # -- the end

    def _decide(self, heard: Heard) -> None:
        listen = self._listen
        for name in list(self._timers):
            self._cancel(name)
        if listen is not None:
            listen.decide(heard)
        self._close()

    def _fail(self, why: str) -> None:
        log.debug("audiosocket: closing (%s)", why)
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._tx.write(hangup_frame())
            self._tx.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._closed = True
        for name in list(self._timers):
            self._cancel(name)
        if self._listen is not None and self._listen.heard is None:
            self._listen.decide(Heard("gone"))

    def _timer(self, name: str, seconds: float, fn: Callable[[], None]) -> None:
        self._cancel(name)
        self._timers[name] = self.factory.reactor.callLater(seconds, fn)

    def _cancel(self, name: str) -> None:
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()


class AudioSocketFactory(Factory):
    """The AudioSocket listener's shared state: listens by UUID, the reactor, the decoding
    pool (a started ``twisted.python.threadpool.ThreadPool``)."""

    protocol = AudioSocketProtocol  # type: ignore[assignment]

    def __init__(self, reactor: Any, pool: Any, end_ms: int = 300, threshold: float = 500.0,
                 max_speech_ms: int = 10_000) -> None:
        self.reactor = reactor
        self.pool = pool
        self.end_ms = end_ms
        self.threshold = threshold
        self.max_speech_ms = max_speech_ms
        self._waiting: dict[str, Listening] = {}

    def expect(self, recogniser: Recogniser, no_input_s: float) -> Listening:
        uid = str(uuidlib.uuid4())
        listen = Listening(uid, recogniser, no_input_s, self.end_ms, self.threshold,
                           self.max_speech_ms)
        self._waiting[uid] = listen
        return listen

    def decode(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        """Blocking decoding work, in the pool (tests run it inline)."""
        return deferToThreadPool(self.reactor, self.pool, fn, *args)

    def claim(self, uid: str) -> Listening | None:
        return self._waiting.pop(uid, None)

    def forget(self, listen: Listen) -> None:
        self._waiting.pop(listen.uuid, None)

    @property
    def waiting(self) -> int:
        return len(self._waiting)


def listen_audiosocket(reactor: Any, factory: AudioSocketFactory, host: str = "127.0.0.1",
                       port: int = 4575, backlog: int = 1024) -> IListeningPort:
    listening: IListeningPort = reactor.listenTCP(port, factory, backlog=backlog,
                                                  interface=host)
    return listening
