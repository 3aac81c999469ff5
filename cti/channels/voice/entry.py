"""Where a call enters the CTI: the FastAGI factory's ``after_flow`` hook.

When a call's flow ends, ``VoiceEntry.after_flow`` records the IVR part of the call (the
interaction starts, its whole IVR segment in one event) and, for a "to queue" exit, returns
the driver that keeps the same FastAGI connection and waits in the queue
(``queue_wait.VoiceQueueSession``). Any other ending is recorded as the call's end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cti.channels.voice.channel import VoiceChannel, VoiceQueueSettings
from cti.channels.voice.queue_wait import VoiceQueueSession
from cti.records.core.events import Ended, InteractionStarted, IvrSegment, RecordEvent
from ivr_flows.voice.driver import Driver
from ivr_flows.voice.session import CallOutcome

log = logging.getLogger(__name__)
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def interaction_id(uniqueid: str) -> str:
    """The records' id of a call: its Asterisk uniqueid, made safe."""
    return "call-" + UNSAFE.sub("_", uniqueid)[:58]


@dataclass
class VoiceEntry:
    channel: VoiceChannel
    settings: VoiceQueueSettings
    speak: Callable[[str, str], str]  # (lang, text) -> prompt file (blocking: run as Work)
    endpoints: Mapping[str, str]  # agent id -> PJSIP endpoint (default: the agent id)

    def after_flow(self, outcome: CallOutcome, env: Mapping[str, str],
                   started: float) -> Driver[Any] | None:
        """Record the IVR part of a call; continue a "to queue" exit in the voice channel."""
        iid = interaction_id(outcome.uniqueid or env.get("agi_uniqueid", "unknown"))
        svc = self.channel.service
        at = datetime.fromtimestamp(started, UTC)
        caller = str(outcome.state.get("vars", {}).get("caller", "")) if outcome.state else ""
        identities = {"phone": caller} if caller else {}
        try:
            svc.records.submit(RecordEvent.of(iid, at, InteractionStarted(
                "voice", identities, env.get("agi_extension", "")[:32], outcome.flow)))
        except ValueError as exc:  # an EventError: our bug; the call goes on regardless
            log.error("records: cannot record the start of %s: %s", iid, exc)
        # The whole IVR segment in one event (steps and self-service results): it is known
        # only now, and one event per step would cost the records writer eight per call.
        svc.record(iid, lambda: IvrSegment(
            tuple((s.node, s.input) for s in outcome.path),
            tuple((s.node, s.input[7:]) for s in outcome.path if s.input.startswith("result "))))
        ex = outcome.exit
        if outcome.ended == "exit" and ex is not None and ex.kind == "queue":
            lang = str(outcome.state.get("lang", "zh")) if outcome.state else "zh"
            session = VoiceQueueSession(self.channel, self.settings, self.speak, iid,
                                        outcome.uniqueid, ex, lang, caller, self.endpoints)
            return _finish_queue(session)
        by = "system" if outcome.ended == "exit" else "caller"
        svc.record(iid, lambda: Ended(by, outcome.reason, ex.kind if ex is not None else ""))
        return None


def _finish_queue(session: VoiceQueueSession) -> Driver[str]:
    ended = yield from session.run()
    log.info("queued call %s ended: %s", session.interaction_id, ended)
    return ended
