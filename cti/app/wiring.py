"""Wiring of the CTI: queues from the flows, the engine and its service, the gateway, the
voice channel and its entry hook, agent use cases and their HTTP API.

``build_cti`` is called by the composition root (``cti.app.server``); the FastAGI factory's
``after_flow`` is ``Cti.voice_entry.after_flow`` (``cti/channels/voice/entry.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti.agents.desk import AgentDesk, parse_skills, personal_skill
from cti.agents.http_api import AgentApi
from cti.app.config import Config
from cti.channels.voice.channel import VoiceChannel, VoiceQueueSettings
from cti.channels.voice.entry import VoiceEntry
from cti.routing.config import OverflowRule, QueueConfig
from cti.routing.engine import Engine
from cti.service.gateway import Gateway
from cti.service.service import CtiService, RecordSink
from ivr_flows.core.model import CallbackNode, Flow, QueueNode

log = logging.getLogger(__name__)
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
        profiles[agent][personal_skill(agent)] = 1  # a transfer to this agent requires it
    return profiles


@dataclass
class Cti:
    """The running CTI: what the composition root listens with and hands to adapters."""

    service: CtiService
    gateway: Gateway
    voice: VoiceChannel
    voice_entry: VoiceEntry
    desk: AgentDesk
    api: AgentApi
    profiles: dict[str, dict[str, int]]


def build_cti(cfg: Config, flows: Mapping[str, Flow], reactor: Any, records: RecordSink,
              speak: Any, comfort_file: str) -> Cti:
    queues = make_queues(cfg, flows)
    service = CtiService(Engine(queues), records, reactor)
    gateway = Gateway(service, reactor)
    profiles = agent_profiles(cfg, flows)
    desk = AgentDesk(gateway, profiles, cfg.cti.max_chats, cfg.cti.chat_while_voice)
    api = AgentApi(desk, cfg.cti.api_token)
    recordings = Path(cfg.data_dir) / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    settings = VoiceQueueSettings(
        comfort_file=comfort_file, recordings_dir=str(recordings),
        record_queues=frozenset(cfg.cti.record_queues),
        fallback_mailbox=cfg.asterisk.fallback_mailbox,
        ring_timeouts=dict.fromkeys(queues, float(cfg.cti.ring_timeout_s)))
    voice = VoiceChannel(service)
    entry = VoiceEntry(voice, settings, speak, {})
    log.info("cti: queues %s; agents %s", ", ".join(queues) or "none",
             ", ".join(f"{a}({','.join(s)})" for a, s in profiles.items()))
    return Cti(service, gateway, voice, entry, desk, api, profiles)
