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
    callbacks: Any = None  # CallbackChannel (its ``request``), once wired
    callback_key: str = ""  # the key a waiting caller presses for a callback

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
                                        outcome.uniqueid, ex, lang, caller, self.endpoints,
                                        callbacks=self.callbacks.request if self.callbacks
                                        else None, callback_key=self.callback_key)
            return _finish_queue(session)
        if outcome.ended == "exit" and ex is not None and ex.kind == "callback":
            self._flow_callback(iid, ex, outcome)
        by = "system" if outcome.ended == "exit" else "caller"
        svc.record(iid, lambda: Ended(by, outcome.reason, ex.kind if ex is not None else ""))
        return None


    def _flow_callback(self, iid: str, ex: Any, outcome: CallOutcome) -> None:
        """A flow's callback exit (its prompt said so): the request waits for an agent,
        placed as of now; a request that cannot be taken is logged as an error."""
        if self.callbacks is None:
            log.error("callback exit of %s: callbacks are not wired", iid)
            return
        lang = str(outcome.state.get("lang", "zh")) if outcome.state else "zh"

        def done(cid: str, error: str) -> None:
            if error:
                log.error("callback exit of %s not taken: %s", iid, error)

        self.callbacks.request(ex.attributes.get("number", ""), queue=ex.target, lang=lang,
                               source="flow", priority=ex.priority, skills=dict(ex.skills),
                               attributes={k: v for k, v in ex.attributes.items()
                                           if k != "number"} | {"from_call": iid},
                               done=done)


def _finish_queue(session: VoiceQueueSession) -> Driver[str]:
    ended = yield from session.run()
    log.info("queued call %s ended: %s", session.interaction_id, ended)
    return ended
