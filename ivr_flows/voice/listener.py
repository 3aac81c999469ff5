"""What a speech menu needs from the audio listener, as a protocol (no transport here).

The listener itself is a transport (``cti.telephony.audiosocket.server.AudioSocketFactory``,
Asterisk's AudioSocket): the composition root builds it and hands it to ``SpeechPort``. A
call registers a listen (``expect``), has Asterisk connect with the listen's ``uuid``, and
reads the decision (``heard``) once the AGI command that streamed the audio has answered.
"""

from __future__ import annotations

from typing import Protocol

from ivr_flows.voice.speech import Heard, Recogniser


class Listen(Protocol):
    """One registered listen."""

    @property
    def uuid(self) -> str:
        """What Asterisk's ``AudioSocket(<uuid>,host:port)`` opens the connection with."""
        ...

    @property
    def connected(self) -> bool:
        """Whether Asterisk's connection for this listen arrived."""
        ...

    @property
    def heard(self) -> Heard | None:
        """The decision (speech, a key, silence, gone, error), None while undecided."""
        ...


class AudioListener(Protocol):
    """Listens shared by every call; thread use as the transport documents (the reactor)."""

    def expect(self, recogniser: Recogniser, no_input_s: float) -> Listen:
        """Register a listen decoded by ``recogniser``; silence for ``no_input_s``: silence."""
        ...

    def forget(self, listen: Listen) -> None:
        """The listen is over (answered or not): drop it."""
        ...
