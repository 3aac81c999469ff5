"""Replaying recorded AMI conversations (tests/protocol/recordings/ami_*.txt) into a protocol.

A recording is read into steps: ``("recv", bytes)`` for what Asterisk sent, ``("send",
bytes)`` for one action the client must have sent by then. ``Replay.run`` feeds received
bytes (in small chunks, as TCP may split them) and checks every expected action against what
the protocol wrote, in order; ``before_send`` hooks (by action name) let a test make the
client send an action the recording shows (advance the clock for a Ping, call send_action).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet.testing import StringTransport

from cti.telephony.ami.codec import parse_message

RECORDINGS = Path(__file__).resolve().parent / "recordings"


@dataclass
class Recording:
    steps: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Recording:
        rec = cls()
        recv: list[bytes] = []
        send: list[str] = []
        for raw in (RECORDINGS / name).read_text().splitlines():
            if raw.startswith("#"):
                continue
            if raw.startswith(("<~ ", "<")):
                if send:
                    rec.steps.append(("send", ("\r\n".join(send) + "\r\n").encode()))
                    send = []
                text = raw[2:]
                if raw.startswith("<~ "):
                    text = codecs.decode(raw[3:], "unicode_escape")
                recv.append(text.encode() + b"\r\n")
            elif raw.startswith(">"):
                if recv:
                    rec.steps.append(("recv", b"".join(recv)))
                    recv = []
                send.append(raw[2:])
                if raw == ">":
                    rec.steps.append(("send", ("\r\n".join(send) + "\r\n").encode()))
                    send = []
        if recv:
            rec.steps.append(("recv", b"".join(recv)))
        return rec

    def received(self) -> bytes:
        return b"".join(data for kind, data in self.steps if kind == "recv")

    def sent_actions(self) -> Iterator[str]:
        for kind, data in self.steps:
            if kind == "send":
                yield parse_message(data.decode().split("\r\n")).get("Action")


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@dataclass
class Replay:
    recording: Recording
    transport: StringTransport
    feed: Callable[[bytes], None]  # protocol.dataReceived
    chunk_size: int = 97  # odd: splits lines, CRLFs and messages everywhere
    sent: bytes = b""

    def run(self, before_send: Mapping[str, Callable[[], object]] | None = None,
            until: str | None = None) -> None:
        """Play the recording; stop before the action ``until`` if given."""
        hooks = before_send or {}
        for kind, data in self.recording.steps:
            if kind == "recv":
                for piece in chunks(data, self.chunk_size):
                    self.feed(piece)
                continue
            action = parse_message(data.decode().split("\r\n")).get("Action")
            if action == until:
                return
            self.sent += self.transport.value()
            self.transport.clear()
            if not self.sent.startswith(data) and action in hooks:
                hooks[action]()
                self.sent += self.transport.value()
                self.transport.clear()
            assert self.sent.startswith(data), (
                f"expected the client to send\n{data.decode()}\nbut it sent\n"
                f"{self.sent.decode()[:400]}"
            )
            self.sent = self.sent[len(data) :]
