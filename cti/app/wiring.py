"""Wiring of the CTI: queues from the flows, the engine, records, the voice channel hook.

``build_cti`` is called by the composition root (``cti.app.server``). It returns the service and
the ``after_flow`` hook the FastAGI factory calls when a flow ends: it records the IVR part of
the call and, for a "to queue" exit, hands the still-open call to the voice channel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cti.agents.http_api import AgentApi, parse_skills
from cti.app.config import Config
from cti.channels.voice.queue_wait import VoiceQueueSession, VoiceQueueSettings
from cti.routing.config import OverflowRule, QueueConfig
from cti.routing.engine import Engine
from cti.service.service import CtiService, RecordSink
from ivr_flows.core.model import CallbackNode, Flow, QueueNode
from ivr_flows.voice.renderer import CallOutcome, Driver

log = logging.getLogger(__name__)
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# The engine's ring timer is a safety net for voice: Dial rings for cti.ring_timeout_s and
# reports the no-answer; an offer may first wait for a playing announcement (< 10 s).
VOICE_RING_SLACK_S = 10.0


def queue_names(flows: Mapping[str, Flow]) -> set[str]:
    """Every queue a flow can send a caller to (queue and callback nodes)."""
    names = set()
    for flow in flows.values():
        for node in flow.nodes.values():
            if isinstance(node, QueueNode | CallbackNode):
                names.add(node.queue)
    return names


def flow_skills(flows: Mapping[str, Flow]) -> set[str]:
    skills = set()
    for flow in flows.values():
        for node in flow.nodes.values():
            if isinstance(node, QueueNode):
                skills |= set(node.skills)
    return skills


def make_queues(cfg: Config, flows: Mapping[str, Flow]) -> dict[str, QueueConfig]:
    cti = cfg.cti
    rule = OverflowRule(after_s=float(cti.max_wait_s), exit=cti.no_agents_exit)  # type: ignore[arg-type]
    return {
        name: QueueConfig(
            name=name, strategy=cti.strategy,  # type: ignore[arg-type]
            ring_timeout_s=float(cti.ring_timeout_s) + VOICE_RING_SLACK_S,
            wrap_up_s=float(cti.wrap_up_s),
            max_waiting=cti.max_waiting, overflow=(rule,),
            no_agents_exit=cti.no_agents_exit,  # type: ignore[arg-type]
            over_limit_exit=cti.over_limit_exit,  # type: ignore[arg-type]
            announce_every_s=float(cti.announce_every_s) if cti.announce_every_s else None)
        for name in sorted(queue_names(flows))
    }


def agent_profiles(cfg: Config, flows: Mapping[str, Flow]) -> dict[str, dict[str, int]]:
    """Skills per agent: configured, or level 1 in every skill the flows ask for."""
    default = dict.fromkeys(sorted(flow_skills(flows)), 1)
    profiles = {}
    for agent in cfg.asterisk.agents:
        spec = cfg.cti.agent_skills.get(agent)
        profiles[agent] = parse_skills(spec) if spec else dict(default)
    return profiles


def interaction_id(uniqueid: str) -> str:
    return "call-" + UNSAFE.sub("_", uniqueid)[:58]


@dataclass
class Cti:
    service: CtiService
    api: AgentApi
    settings: VoiceQueueSettings
    speak: Any  # (lang, text) -> prompt file
    profiles: dict[str, dict[str, int]]

    def after_flow(self, outcome: CallOutcome, env: Mapping[str, str],
                   started: float) -> Driver[Any] | None:
        """Record the IVR part of a call; continue a "to queue" exit in the voice channel."""
        iid = interaction_id(outcome.uniqueid or env.get("agi_uniqueid", "unknown"))
        svc = self.service
        at = datetime.fromtimestamp(started, UTC)
        caller = str(outcome.state.get("vars", {}).get("caller", "")) if outcome.state else ""
        identities = {"phone": caller} if caller else {}
        svc.records.submit(_event(iid, at, "interaction_started", channel="voice",
                                  identities=identities, did=env.get("agi_extension", "")[:32],
                                  flow=outcome.flow))
        # The whole IVR segment in one event (steps and self-service results): it is known
        # only now, and one event per step would cost the records writer eight per call.
        svc.record(iid, "ivr", steps=[[s.node, s.input] for s in outcome.path],
                   self_service=[[s.node, s.input[7:]] for s in outcome.path
                                 if s.input.startswith("result ")])
        ex = outcome.exit
        if outcome.ended == "exit" and ex is not None and ex.kind == "queue":
            lang = str(outcome.state.get("lang", "zh")) if outcome.state else "zh"
            session = VoiceQueueSession(svc, self.settings, self.speak, iid, outcome.uniqueid,
                                        ex, lang, caller, {})
            return _finish_queue(session)
        by = "system" if outcome.ended == "exit" else "caller"
        svc.record(iid, "ended", by=by, reason=outcome.reason,
                   exit=ex.kind if ex is not None else "")
        return None


def _event(iid: str, at: datetime, type_: str, **data: Any) -> Any:
    from cti.records.events import RecordEvent

    return RecordEvent(iid, at, type_, data)


def _finish_queue(session: VoiceQueueSession) -> Driver[str]:
    ended = yield from session.run()
    log.info("queued call %s ended: %s", session.interaction_id, ended)
    return ended


def build_cti(cfg: Config, flows: Mapping[str, Flow], reactor: Any, records: RecordSink,
              speak: Any, comfort_file: str) -> Cti:
    queues = make_queues(cfg, flows)
    engine = Engine(queues)
    service = CtiService(engine, records, reactor)
    profiles = agent_profiles(cfg, flows)
    api = AgentApi(service, cfg.cti.api_token, profiles, cfg.cti.max_chats,
                   last_contact=service.last_contact.get)
    recordings = Path(cfg.data_dir) / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    settings = VoiceQueueSettings(
        comfort_file=comfort_file, recordings_dir=str(recordings),
        record_queues=frozenset(cfg.cti.record_queues),
        fallback_mailbox=cfg.asterisk.fallback_mailbox,
        ring_timeouts=dict.fromkeys(queues, float(cfg.cti.ring_timeout_s)))
    log.info("cti: queues %s; agents %s", ", ".join(queues) or "none",
             ", ".join(f"{a}({','.join(s)})" for a, s in profiles.items()))
    return Cti(service, api, settings, speak, profiles)
