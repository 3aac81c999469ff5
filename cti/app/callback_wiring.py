"""Wiring of callbacks (cti/channels/callback/channel.py): the channel, its store thread,
its business hours, the desktops it offers to, AMI, and the places a customer asks from.

- ``build_callbacks``: the channel on the CTI's service, the store run in the web pool.
- ``attach_chat``: offers go to the agent desktops of the chat site (accept/reject frames
  come back through ``AgentFrames``); the chat widget's "call me back" asks for one.
- ``attach_ami``: Originate through the AMI client; OriginateResponse and the dialplan's
  UserEvent come back to ``CallbackChannel.on_ami``.
- ``voice_requests`` (the voice queue's key and a flow's callback exit) and ``itr_exit``
  (the touch menu's callback page, from a WSGI thread) ask for callbacks too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cti.app.config import Config
from cti.channels.callback.channel import CallbackChannel, CallbackSettings
from cti.records import callbacks as store
from ivr_flows.core.effects import State
from ivr_flows.core.model import Flow
from ivr_flows.edges.clock import local_now

log = logging.getLogger(__name__)
Request = Callable[..., None]  # CallbackChannel.request's signature


def build_callbacks(cfg: Config, flows: Mapping[str, Flow], reactor: Any, cti: Any,
                    session_factory: Any, pool: Any) -> CallbackChannel:
    from twisted.internet.threads import deferToThreadPool

    cb = cfg.callback
    settings = CallbackSettings(max_attempts=cb.max_attempts, retry_gap_s=float(cb.retry_gap_s),
                                ring_agent_s=cb.ring_agent_s, ring_customer_s=cb.ring_customer_s,
                                offer_s=float(cfg.cti.ring_timeout_s))

    def db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return deferToThreadPool(reactor, pool, fn, session_factory, *args, **kwargs)

    channel = CallbackChannel(cti.service, reactor, settings, db, lambda: datetime.now(UTC), {})
    channel.in_hours = lambda: in_hours(cfg, flows)
    return channel


def in_hours(cfg: Config, flows: Mapping[str, Flow]) -> bool:
    """A callback is tried only while ``callback.flow``'s ``callback.schedule`` is open."""
    flow = flows.get(cfg.callback.flow) or next(iter(flows.values()), None)
    if flow is None or cfg.callback.schedule not in flow.schedules:
        return True
    return flow.schedules[cfg.callback.schedule].is_open(local_now(flow))


def attach_chat(channel: CallbackChannel, chat: Any, queue: str) -> None:
    """``chat``: the chat wiring's parts. Offers go to the desktops (the chat channel holds
    their connections); the widget's "call me back" asks for a callback in ``queue``."""
    channel.to_agent = chat.channel.to_agent
    channel.has_desk = lambda agent: bool(chat.channel.desks.get(agent))
    chat.app.agents.callbacks = channel

    def from_widget(who: Any, request_id: str, phone: str,
                    done: Callable[[str, str], None]) -> None:
        channel.request(phone, queue=queue, lang=who.lang, source="chat",
                        attributes={"chat_visitor": who.visitor}, callback_id=request_id,
                        done=done)

    chat.app.customers.callbacks = from_widget


def attach_ami(channel: CallbackChannel, client: Any) -> None:
    channel.originate = lambda fields: client.send_action("Originate", fields, timeout=10.0)
    client.subscribe(channel.on_ami)


def restore(channel: CallbackChannel, session_factory: Any) -> int:
    """At start, before the reactor runs: the requests still to call go back in line."""
    infos = store.waiting(session_factory)
    if infos:
        log.warning("callback: %d request(s) still to call, back in line", len(infos))
    return channel.restore(infos)


class LateExit:
    """The touch menu's ``on_exit``, built before the CTI: set ``fn`` once callbacks run."""

    def __init__(self) -> None:
        self.fn: Callable[[Flow, State], None] | None = None

    def __call__(self, flow: Flow, state: State) -> None:
        if self.fn is not None:
            self.fn(flow, state)
        else:
            log.error("callback asked in the touch menu before the CTI runs: not taken")


class LateAnswers:
    """The touch menu's "type your question": the knowledge base's best answer when its
    confidence reaches ``min_confidence`` (WSGI threads; the index follows every edit)."""

    def __init__(self) -> None:
        self._kb: Any = None
        self.min_confidence = 0.5

    def open(self, session_factory: Any, min_confidence: float) -> None:
        from cti.knowledge.live import LiveKnowledge

        self._kb, self.min_confidence = LiveKnowledge(session_factory), min_confidence

    def __call__(self, text: str, lang: str) -> tuple[str, str] | None:
        if self._kb is None:
            return None
        found = self._kb.suggest([text], 1, lang)
        if not found or found[0].confidence < self.min_confidence:
            return None
        return found[0].key, found[0].answer


def itr_exit(channel: CallbackChannel, reactor: Any) -> Callable[[Flow, State], None]:
    """The touch menu's callback exit (a WSGI thread): stored before the page says so."""
    from twisted.internet import defer
    from twisted.internet.threads import blockingCallFromThread

    def on_exit(flow: Flow, state: State) -> None:
        ex = state.exit
        if ex is None or ex.kind != "callback":
            return

        def ask() -> defer.Deferred[tuple[str, str]]:
            d: defer.Deferred[tuple[str, str]] = defer.Deferred()
            channel.request(ex.attributes.get("number", ""), queue=ex.target, lang=state.lang,
                            source="itr", priority=ex.priority, skills=dict(ex.skills),
                            attributes={k: v for k, v in ex.attributes.items()
                                        if k != "number"},
                            done=lambda cid, error: d.callback((cid, error)))
            return d

        answer: tuple[str, str] = blockingCallFromThread(reactor, ask)  # type: ignore[arg-type]
        cid, error = answer
        if error:
            log.error("callback from the touch menu (%s) not taken: %s", flow.name, error)
        else:
            log.info("callback %s requested in the touch menu (%s)", cid, flow.name)

    return on_exit
