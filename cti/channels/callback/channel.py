"""The callback channel: "call me back" requests that keep their place in line.

Where a callback comes from: the voice queue (a waiting caller presses ``callback.voice_key``:
``cti/channels/voice/queue_wait.py``), a flow's callback exit (``voice/entry.py``), the touch
menu's callback page and the chat widget (``cti/app/callback_wiring.py``). Each one:

1. ``request``: the number is checked (digits, an optional +, 3-20 long: nothing else ever
   reaches a dial string), the request is **stored first** (``cti.records.callbacks``), then
   recorded as an interaction of channel ``callback`` and put in line with the place the
   customer already had (``ContactArrived.enqueued_at``: a caller who pressed the key keeps
   their enqueue time, so the callback is served neither before the callers who were already
   waiting nor after those who came later). Only then is the customer told "we will call you
   back" (``done``).
2. The engine offers it like any contact. On the agent's desktop the offer shows the number
   and a countdown with accept / reject (not taken in time = ring-no-answer); an agent with
   no desktop open takes it on the phone directly.
3. Accepted: AMI ``Originate`` rings the agent's phone into the dialplan context
   ``hotline-callback`` (asterisk_conf/templates/extensions.conf), which dials the customer
   through the trunk and reports the result with a ``UserEvent(HotlineCallback)`` when the
   agent's channel ends. The agent's phone not answering (``OriginateResponse`` Failure) is
   not the customer's attempt: the agent goes "missed", the callback goes back in line.
4. Every try is a ``callback_attempt`` record. Answered: the callback is done (the agent wraps
   up as after a call). No answer / busy / failed: tried again after ``retry_gap_s`` while
   the schedule is open, up to ``max_attempts``; then it ends with the outcome
   ``callback_failed``.

After a restart, the requests still waiting come back from the store (``restore``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cti.records import callbacks as store
from cti.records.callbacks import CallbackInfo
from cti.records.core.events import CallbackAttempt, Ended, InteractionStarted
from cti.records.core.projection import CALLBACK_FAILED
from cti.routing import commands as c
from cti.routing import events as e
from cti.service.service import CtiService

log = logging.getLogger(__name__)
NUMBER = re.compile(r"\+?[0-9]{3,20}")
ENDPOINT = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALLBACK_ID = re.compile(r"[a-z0-9]{1,64}")  # the dialplan keeps only these characters
# What the dialplan's UserEvent says happened to the customer's leg -> the attempt's result
RESULTS = {"ANSWER": "answered", "NOANSWER": "no_answer", "BUSY": "busy"}

Db = Callable[..., Any]  # run(fn, *args) -> Deferred of fn(session_factory, *args)


def clean_number(text: object) -> str | None:
    """A number fit for a dial string (spaces, dashes, dots and brackets dropped), or None."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    number = re.sub(r"[\s().-]", "", text)
    return number if NUMBER.fullmatch(number) else None


@dataclass(frozen=True)
class CallbackSettings:
    max_attempts: int = 3
    retry_gap_s: float = 600.0
    ring_agent_s: int = 20
    ring_customer_s: int = 30
    offer_s: float = 20.0  # the desktop's accept countdown
    context: str = "hotline-callback"


@dataclass
class LiveCallback:
    info: CallbackInfo
    state: str = "waiting"  # waiting | offered | ringing_agent | calling | between | done
    agent: str | None = None
    tries: int = 0  # every origination, the agent's misses included
    action_id: str = ""
    timer: Any = None
    cards: set[str] = field(default_factory=set)  # agents whose desktop shows it


class CallbackChannel:
    medium = "callback"

    def __init__(self, service: CtiService, reactor: Any, settings: CallbackSettings, db: Db,
                 wall: Callable[[], datetime], endpoints: Mapping[str, str]) -> None:
        self.service = service
        self.reactor = reactor
        self.settings = settings
        self.db = db
        self.wall = wall
        self.endpoints = endpoints
        self.callbacks: dict[str, LiveCallback] = {}
        self._by_action: dict[str, str] = {}
        # wired by the composition root: AMI Originate (fields -> Deferred), the desktops
        self.originate: Callable[[Mapping[str, Any]], Any] | None = None
        self.to_agent: Callable[[str, dict[str, Any]], None] = lambda agent, frame: None
        self.has_desk: Callable[[str], bool] = lambda agent: False
        self.in_hours: Callable[[], bool] = lambda: True

    # ------------------------------------------------------------------ Channel protocol

    def deliver(self, contact_id: str, command: c.Command) -> None:
        live = self.callbacks.get(contact_id)
        if live is None:
            return
        match command:
            case c.Offer():
                self._offered(live, command.agent_id)
            case c.CancelOffer():
                self._offer_gone(live, command.agent_id, command.reason)
            case c.Connect():
                self._dial(live, command.agent_id)
            case c.ExitContact():  # never for a callback (routing keeps it in line)
                log.error("callback %s: unexpected exit %s", contact_id, command.exit)
            case _:
                pass

    def find(self, transport_key: str) -> str | None:
        return self._by_action.get(transport_key)

    # ------------------------------------------------------------------ requests

    def request(self, number: object, *, queue: str, lang: str, source: str,
                done: Callable[[str, str], None], priority: int = 0,
                skills: Mapping[str, int] | None = None,
                attributes: Mapping[str, str] | None = None, place_at: datetime | None = None,
                callback_id: str | None = None) -> None:
        """Store, record and queue a callback; then ``done(id, "")`` (or ``("", error)``:
        bad_number, unknown_queue, not_stored). A resend with the same ``callback_id`` is the
        same request. Reactor thread."""
        num = clean_number(number)
        if num is None:
            done("", "bad_number")
            return
        if callback_id is not None and not CALLBACK_ID.fullmatch(callback_id):
            done("", "bad_id")
            return
        if queue not in {q.name for q in self.service.queues()}:
            done("", "unknown_queue")
            return
        now = self.wall()
        place = min(place_at or now, now)
        info = CallbackInfo(callback_id or "cb" + secrets.token_hex(8), num, queue,
                            max(0, min(10, int(priority))), source, lang[:8], now, place,
                            dict(skills or {}), dict(attributes or {}))

        def stored(result: tuple[CallbackInfo, bool]) -> None:
            saved, created = result
            if created:
                self.service.record(saved.id, lambda: InteractionStarted(
                    "callback", {"phone": saved.number}))
                self._enqueue(LiveCallback(saved))
            done(saved.id, "")

        def failed(failure: Any) -> None:
            log.error("callback: request not stored: %s", getattr(failure, "value", failure))
            done("", "not_stored")

        self.db(store.create, info).addCallbacks(stored, failed)

    def restore(self, infos: list[CallbackInfo]) -> int:
        """Requests still waiting in the store after a restart: back in line (their place
        kept), or their next try scheduled."""
        for info in infos:
            if info.id in self.callbacks:
                continue
            live = LiveCallback(info)
            wait = (info.next_at - self.wall()).total_seconds() if info.next_at else 0.0
            if wait > 0:
                self.callbacks[info.id] = live
                live.state = "between"
                live.timer = self.reactor.callLater(wait, self._retry, live)
            else:
                self._enqueue(live)
        return len(infos)

    def _enqueue(self, live: LiveCallback) -> None:
        info = live.info
        self.callbacks[info.id] = live
        live.state, live.agent = "waiting", None
        behind_s = max(0.0, (self.wall() - info.place_at).total_seconds())
        attributes = {**info.attributes, "callback_number": info.number,
                      "callback_source": info.source}
        self.service.add_contact(self, e.ContactArrived(
            info.id, "callback", info.queue, info.priority, dict(info.skills), attributes,
            info.number, enqueued_at=self.reactor.seconds() - behind_s))

    # ------------------------------------------------------------------ offers (desktop)

    def offer_frame(self, live: LiveCallback, expires_in: float) -> dict[str, Any]:
        return {"t": "offer", "contact": live.info.id, "medium": "callback", "conv": None,
                "customer": live.info.number, "queue": live.info.queue,
                "expires_in": round(expires_in)}

    def _offered(self, live: LiveCallback, agent_id: str) -> None:
        live.state, live.agent = "offered", agent_id
        if not self.has_desk(agent_id):  # a phone-only agent: their phone rings at once
            self.service.connected(live.info.id, agent_id)
            return
        self._cancel_timer(live)
        live.timer = self.reactor.callLater(self.settings.offer_s, self._offer_timed_out,
                                            live, agent_id)
        self.to_agent(agent_id, self.offer_frame(live, self.settings.offer_s))

    def _offer_timed_out(self, live: LiveCallback, agent_id: str) -> None:
        live.timer = None
        if live.state == "offered" and live.agent == agent_id:
            live.state, live.agent = "waiting", None
            self.to_agent(agent_id, {"t": "offer_gone", "contact": live.info.id,
                                     "why": "timeout"})
            self.service.timed_out(live.info.id, agent_id)

    def _offer_gone(self, live: LiveCallback, agent_id: str, why: str) -> None:
        self._cancel_timer(live)
        if live.state == "offered" and live.agent == agent_id:
            live.state, live.agent = "waiting", None
        self.to_agent(agent_id, {"t": "offer_gone", "contact": live.info.id, "why": why})

    def accept(self, contact_id: str, agent_id: str) -> bool:
        live = self.callbacks.get(contact_id)
        if live is None or live.state != "offered" or live.agent != agent_id:
            return False
        self._cancel_timer(live)
        self.to_agent(agent_id, {"t": "offer_gone", "contact": contact_id, "why": "accepted"})
        self.service.connected(contact_id, agent_id)
        return True

    def reject(self, contact_id: str, agent_id: str) -> bool:
        live = self.callbacks.get(contact_id)
        if live is None or live.state != "offered" or live.agent != agent_id:
            return False
        self._cancel_timer(live)
        live.state, live.agent = "waiting", None
        self.to_agent(agent_id, {"t": "offer_gone", "contact": contact_id, "why": "rejected"})
        self.service.rejected(contact_id, agent_id)
        return True

    def offered_to(self, agent_id: str) -> list[LiveCallback]:
        return [cb for cb in self.callbacks.values()
                if cb.agent == agent_id and cb.state == "offered"]

    # ------------------------------------------------------------------ telephony

    def _dial(self, live: LiveCallback, agent_id: str) -> None:
        """The agent took it: ring the agent's phone; once answered the dialplan calls the
        customer (AMI Originate into ``hotline-callback``)."""
        info = live.info
        live.state, live.agent = "ringing_agent", agent_id
        live.tries += 1
        endpoint = self.endpoints.get(agent_id, agent_id)
        if self.originate is None or not ENDPOINT.fullmatch(endpoint):
            self._agent_missed(live, "no_telephony" if self.originate is None else "endpoint")
            return
        fields = {
            "Channel": f"PJSIP/{endpoint}", "Context": self.settings.context, "Exten": "s",
            "Priority": "1", "Timeout": str(int(self.settings.ring_agent_s * 1000)),
            "CallerID": f"Callback <{info.number}>", "Async": "true",
            "Variable": [f"HOTLINE_CB={info.id}", f"HOTLINE_CB_NUMBER={info.number}",
                         f"HOTLINE_CB_RING={int(self.settings.ring_customer_s)}"],
        }
        tries = live.tries

        def queued(result: Any) -> None:
            action_id = getattr(getattr(result, "response", None), "action_id", None)
            if action_id:
                live.action_id = action_id
                self._by_action[action_id] = info.id

        def refused(failure: Any) -> None:
            log.error("callback %s: Originate refused: %s", info.id,
                      getattr(failure, "value", failure))
            if live.tries == tries and live.state == "ringing_agent":
                self._agent_missed(live, "originate_failed")

        log.info("callback %s: ringing %s (try %d), then %s", info.id, agent_id, tries,
                 info.number)
        self.originate(fields).addCallbacks(queued, refused)

    def on_ami(self, item: Any) -> None:
        """AMI events for callbacks: OriginateResponse (the agent's phone answered or not)
        and the dialplan's UserEvent HotlineCallback (how the customer's leg ended)."""
        name = getattr(item, "name", "").lower()
        if getattr(item, "kind", "") != "event" or name not in ("originateresponse",
                                                                 "userevent"):
            return
        if name == "originateresponse":
            cid = self._by_action.get(item.get("ActionID"))
            live = self.callbacks.get(cid) if cid else None
            if live is None or live.state != "ringing_agent":
                return
            if item.get("Response").lower() == "success":
                live.state = "calling"  # the agent answered: the dialplan dials the customer
            else:
                self._agent_missed(live, f"reason_{item.get('Reason') or 'unknown'}")
            return
        if item.get("UserEvent") != "HotlineCallback":
            return
        live = self.callbacks.get(item.get("Id"))
        if live is None or live.state not in ("calling", "ringing_agent"):
            return
        status = item.get("Status").upper()
        self._customer_leg_ended(live, RESULTS.get(status, "failed"), status[:32])

    def _agent_missed(self, live: LiveCallback, cause: str) -> None:
        """The agent's phone did not take the callback: not the customer's try. The agent is
        made not ready ("missed", as for a ring-no-answer) and the callback waits again."""
        agent = live.agent or ""
        info = live.info
        self._forget_action(live)
        self.service.record(info.id, lambda: CallbackAttempt(
            info.attempts + 1, agent, "agent_no_answer", cause))
        self.service.ended(info.id)
        self.service.apply(e.WrapUpEnded(agent, info.id))
        self.service.apply(e.AgentNotReady(agent, "missed"))
        self._enqueue(live)

    def _customer_leg_ended(self, live: LiveCallback, result: str, cause: str) -> None:
        info = live.info
        agent = live.agent or ""
        attempts = info.attempts + 1
        self._forget_action(live)
        self.service.record(info.id, lambda: CallbackAttempt(attempts, agent, result, cause))
        self.service.ended(info.id)  # the agent wraps up, as after a call
        if result == "answered":
            self._finish(live, replace(info, attempts=attempts), "done", "answered",
                         Ended("agent", "hangup"))
            return
        if attempts >= self.settings.max_attempts:
            self._finish(live, replace(info, attempts=attempts), "failed", result,
                         Ended("system", f"{result}_x{attempts}", CALLBACK_FAILED))
            return
        next_at = self.wall() + timedelta(seconds=self.settings.retry_gap_s)
        live.info = replace(info, attempts=attempts, next_at=next_at)
        live.state, live.agent = "between", None
        self.db(store.update, info.id, attempts=attempts, next_at=next_at).addErrback(
            self._log_db, info.id)
        live.timer = self.reactor.callLater(self.settings.retry_gap_s, self._retry, live)
        log.info("callback %s: %s on try %d of %d; next at %s", info.id, result, attempts,
                 self.settings.max_attempts, next_at.isoformat(timespec="seconds"))

    def _retry(self, live: LiveCallback) -> None:
        live.timer = None
        if self.callbacks.get(live.info.id) is not live or live.state != "between":
            return
        if not self.in_hours():  # only in business hours: look again later
            live.timer = self.reactor.callLater(min(self.settings.retry_gap_s, 600.0),
                                                self._retry, live)
            return
        self._enqueue(live)

    def _finish(self, live: LiveCallback, info: CallbackInfo, state: str, outcome: str,
                ended: Ended) -> None:
        live.info, live.state = info, "done"
        self.service.record(info.id, ended)
        self.db(store.update, info.id, state=state, attempts=info.attempts, next_at=None,
                outcome=outcome).addErrback(self._log_db, info.id)
        self.callbacks.pop(info.id, None)
        self.service.forget_contact(info.id)

    # ------------------------------------------------------------------ helpers

    def _forget_action(self, live: LiveCallback) -> None:
        self._by_action.pop(live.action_id, None)
        live.action_id = ""

    def _cancel_timer(self, live: LiveCallback) -> None:
        if live.timer is not None and live.timer.active():
            live.timer.cancel()
        live.timer = None

    @staticmethod
    def _log_db(failure: Any, callback_id: str) -> None:
        log.error("callback %s: state not stored: %s", callback_id,
                  getattr(failure, "value", failure))
