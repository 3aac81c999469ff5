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
from cti.service.tag_routing import TagCache, TagPolicy, TagRouting
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
    tag_cache: TagCache | None = None


@dataclass
class TaggingVoiceEntry(VoiceEntry):
    """The voice entry, plus: a finished flow's variables go to the value tag rule
    (``on_vars(caller, variables)``) before the call goes on as usual."""

    on_vars: Any = None  # Callable[[str, Mapping[str, Any]], None]

    def after_flow(self, outcome: Any, env: Mapping[str, str], started: float) -> Any:
        state = outcome.state or {}
        variables = state.get("vars", {}) if isinstance(state, Mapping) else {}
        caller = str(variables.get("caller", "")) if isinstance(variables, Mapping) else ""
        if self.on_vars is not None and caller:
            self.on_vars(caller, variables)
        return super().after_flow(outcome, env, started)


def tag_rules(cfg: Config) -> Any:
    from cti.records.tag_rules import TagRules

    t = cfg.tags
    return TagRules(t.repeat_days, t.repeat_tag, t.vip_var,
                    frozenset(v.strip().lower() for v in t.vip_values), t.vip_tag)


def wire_tags(cfg: Config, reactor: Any, records: RecordSink, service: CtiService,
              entry: TaggingVoiceEntry) -> TagCache:
    """Customer tags: the routing policy and its cache (preloaded; reloaded in a thread when
    15 s old), the rules in the records writer's thread, the value rule at a flow's end."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError
    from twisted.internet.threads import deferToThreadPool

    from cti.records import tags
    from cti.records.db import make_session_factory
    from cti.records.tag_hook import TagHook
    from cti.records.tag_rules import value_tags
    from cti.records.writer import RecordWriter

    try:
        routing = TagRouting.from_config(cfg.tags.priority, cfg.tags.skills)
    except ValueError as exc:
        from cti.app.config import ConfigError

        raise ConfigError(str(exc)) from None
    sf = records.session_factory if isinstance(records, RecordWriter) else \
        make_session_factory(cfg.db_url)
    try:
        preload = tags.tagged_phones(sf)
    except SQLAlchemyError as exc:  # the records are down at start: routing goes on without
        log.warning("tags: cannot preload customer tags (%s); reloading later",
                    type(exc).__name__)
        preload = {}

    def reload_failed(failure: Any) -> None:
        log.warning("tags: reload failed: %s", failure.value)
        cache.reload_failed()

    def in_thread(fn: Any, *args: Any) -> Any:  # a Deferred fired on the reactor
        return deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)

    def reload(done: Any) -> None:
        in_thread(tags.tagged_phones, sf).addCallbacks(done, reload_failed)

    cache = TagCache(preload, reload=reload, clock=reactor.seconds)
    service.contact_policy = TagPolicy(routing, cache)
    rules = tag_rules(cfg)

    def publish(phones: tuple[str, ...], names: tuple[str, ...]) -> None:
        reactor.callFromThread(cache.put, phones, names)

    if isinstance(records, RecordWriter):
        records.after_commit = TagHook(rules, publish)

    def persist(caller: str, proposals: tuple[tuple[str, str], ...]) -> None:
        now = datetime.now(UTC)
        customer = tags.customer_of(sf, {"phone": caller}, create=True, now=now)
        if customer is None:
            return
        for tag, source in proposals:
            tags.add(sf, customer, tag, source, now)

    def on_vars(caller: str, variables: Mapping[str, Any]) -> None:
        proposals = value_tags(rules, variables)
        if not proposals:
            return
        cache.add(caller, [t for t, _ in proposals])  # this very call is steered already
        d = in_thread(persist, caller, proposals)
        d.addErrback(lambda f: log.error("tags: cannot store %s for a caller: %s",
                                         [t for t, _ in proposals], f.value))

    entry.on_vars = on_vars
    log.info("tags: %d tagged number(s) loaded; routing by %s", len(cache),
             ", ".join([*routing.priority, *routing.skills]) or "no tag")
    return cache


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
    entry = TaggingVoiceEntry(voice, settings, speak, {})
    tag_cache = wire_tags(cfg, reactor, records, service, entry)
    log.info("cti: queues %s; agents %s", ", ".join(queues) or "none",
             ", ".join(f"{a}({','.join(s)})" for a, s in profiles.items()))
    return Cti(service, gateway, voice, entry, desk, api, profiles, tag_cache)
