"""Tags steer routing by configuration: the service's contact policy, with the real engine and
a ``task.Clock``; the policy, the config parsing and the cache are pure."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.config import QueueConfig
from cti.routing.engine import Engine
from cti.service.service import CtiService
from cti.service.tag_routing import TagCache, TagPolicy, TagRouting, steer

ROUTING = TagRouting.from_config({"vip": "9"}, {"complaint": "complaints:1"})


class Records:
    def submit(self, event: Any) -> None:
        pass


class Inbox:
    medium = "voice"

    def __init__(self) -> None:
        self.got: list[tuple[str, c.Command]] = []

    def deliver(self, contact_id: str, command: c.Command) -> None:
        self.got.append((contact_id, command))

    def find(self, transport_key: str) -> str | None:
        return None


def arrived(cid: str, customer: str, priority: int = 0) -> e.ContactArrived:
    return e.ContactArrived(cid, "voice", "service", priority, {"general": 1}, {}, customer)


def test_a_vip_caller_goes_first() -> None:
    clock = Clock()
    clock.advance(100)
    service = CtiService(Engine({"service": QueueConfig("service")}), Records(), clock)
    service.contact_policy = TagPolicy(ROUTING, TagCache({"13900139000": ("vip",)}))
    service.apply(e.AgentLoggedIn("agent1001", {"general": 1}, ready=False))
    inbox = Inbox()
    service.add_contact(inbox, arrived("call-1", "13800138000"))
    clock.advance(5)
    service.add_contact(inbox, arrived("call-2", "+86 139 0013 9000"))
    service.apply(e.AgentReady("agent1001"))
    offers = [cid for cid, cmd in inbox.got if isinstance(cmd, c.Offer)]
    assert offers == ["call-2"]
    view = service.contact("call-2")
    assert view is not None and view.priority == 9


def test_a_tag_adds_its_skills_and_never_lowers_a_priority() -> None:
    out = steer(ROUTING, ("vip", "complaint"), arrived("call-1", "x", priority=12))
    assert out.priority == 12
    assert dict(out.skills) == {"general": 1, "complaints": 1}


def test_no_tag_or_a_transferred_contact_is_left_as_it_came() -> None:
    plain = arrived("call-1", "13800138000")
    assert steer(ROUTING, (), plain) is plain
    assert steer(ROUTING, ("repeat",), plain) is plain
    moved = e.ContactArrived("chat-1", "chat", "service", 10, {}, {"transferred_from": "a1"}, "")
    assert steer(ROUTING, ("vip",), moved) is moved


def test_an_unknown_customer_is_a_cache_miss() -> None:
    cache = TagCache({"13800138000": ("vip",)})
    assert cache.tags_for("13800138000") == ("vip",)
    assert cache.tags_for("Li Wei") == ()
    assert cache.tags_for("") == ()
    cache.put(("13800138000",), ())
    assert cache.tags_for("13800138000") == ()


def test_the_cache_reloads_in_the_background_once_it_is_old() -> None:
    clock = Clock()
    asked: list[Any] = []
    cache = TagCache({}, reload=asked.append, clock=clock.seconds, refresh_s=15)
    cache.tags_for("13800138000")
    assert asked == []
    clock.advance(16)
    cache.tags_for("13800138000")
    cache.tags_for("13800138000")
    assert len(asked) == 1  # one reload at a time
    asked[0]({"13800138000": ["vip"]})
    assert cache.tags_for("13800138000") == ("vip",)


@pytest.mark.parametrize(("priority", "skills"), [({"vip": "high"}, {}),
                                                    ({}, {"complaint": "complaints:x"}),
                                                    ({}, {"complaint": "bad name:1"})])
def test_bad_routing_settings_are_refused(priority: dict[str, str],
                                          skills: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="tags\\."):
        TagRouting.from_config(priority, skills)


def test_a_failing_policy_does_not_lose_the_contact() -> None:
    def broken(event: e.ContactArrived) -> e.ContactArrived:
        raise KeyError("bug")

    clock = Clock()
    service = CtiService(Engine({"service": QueueConfig("service")}), Records(), clock)
    service.contact_policy = broken
    service.add_contact(Inbox(), arrived("call-1", "13800138000"))
    assert service.contact("call-1") is not None


def test_the_voice_entry_hands_a_finished_flows_variables_to_the_value_rule() -> None:
    from cti.app.wiring import TaggingVoiceEntry
    from cti.channels.voice.channel import VoiceChannel, VoiceQueueSettings
    from ivr_flows.voice.session import CallOutcome, PathStep

    records: list[Any] = []

    class Sink:
        def submit(self, event: Any) -> None:
            records.append(event)

    service = CtiService(Engine({"service": QueueConfig("service")}), Sink(), Clock())
    seen: list[tuple[str, dict[str, Any]]] = []
    entry = TaggingVoiceEntry(VoiceChannel(service), VoiceQueueSettings(""),
                              lambda lang, text: "", {},
                              on_vars=lambda caller, v: seen.append((caller, dict(v))))
    outcome = CallOutcome("demo_400", "1700000000.1", "hangup", "caller_hangup", None,
                          (PathStep("main", "start"),),
                          {"vars": {"caller": "13800138000", "account_tier": "vip"}})
    assert entry.after_flow(outcome, {}, 1_700_000_000.0) is None
    assert seen == [("13800138000", {"caller": "13800138000", "account_tier": "vip"})]
    assert records  # the call is recorded as before
