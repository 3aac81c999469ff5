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
from cti.records.events import RecordEvent
from ivr_flows.voice.renderer import CallOutcome, Driver

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
        svc.records.submit(RecordEvent(iid, at, "interaction_started", {
            "channel": "voice", "identities": identities,
            "did": env.get("agi_extension", "")[:32], "flow": outcome.flow}))
        # The whole IVR segment in one event (steps and self-service results): it is known
        # only now, and one event per step would cost the records writer eight per call.
        svc.record(iid, "ivr", steps=[[s.node, s.input] for s in outcome.path],
                   self_service=[[s.node, s.input[7:]] for s in outcome.path
                                 if s.input.startswith("result ")])
        ex = outcome.exit
        if outcome.ended == "exit" and ex is not None and ex.kind == "queue":
            lang = str(outcome.state.get("lang", "zh")) if outcome.state else "zh"
            session = VoiceQueueSession(self.channel, self.settings, self.speak, iid,
                                        outcome.uniqueid, ex, lang, caller, self.endpoints)
            return _finish_queue(session)
        by = "system" if outcome.ended == "exit" else "caller"
        svc.record(iid, "ended", by=by, reason=outcome.reason,
                   exit=ex.kind if ex is not None else "")
        return None


def _finish_queue(session: VoiceQueueSession) -> Driver[str]:
    ended = yield from session.run()
    log.info("queued call %s ended: %s", session.interaction_id, ended)
    return ended
