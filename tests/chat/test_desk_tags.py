"""Customer tags on the desktop, over the wired realtime site: an agent tags the customer of
a contact they hold (POST/DELETE ``/desk/api/contacts/<id>/tags``, the page's CSRF token),
the screen pop shows the tags, every bad request is a 4xx JSON reason; the repeat rule tags a
returning caller from the records stream and routing's cache learns it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.records.core.events import InteractionStarted, RecordEvent
from cti.routing import events as e
from tests.chat.harness import Site, chat_site
from tests.chat.test_chat_protocol import desk, open_chat, records, screen_pop

CONFIG = re.compile(r'id="desk-config">(.*?)</script>', re.S)


def desk_http(site: Site) -> tuple[httpx.Client, str]:
    """A signed-in desktop's HTTP client (cookies) and the page's CSRF token."""
    token = site.agent_cookie("alice", "agent1001")
    client = httpx.Client(base_url=site.url, cookies={"hotline_desk": token}, timeout=10)
    page = client.get("/desk/")
    assert page.status_code == 200
    found = CONFIG.search(page.text)
    assert found is not None
    return client, str(json.loads(found.group(1))["csrf_token"])


def held_call(site: Site, contact: str = "call-1", phone: str = "13800138000") -> None:
    agent = desk(site, "agent1001", "alice")
    site.writer.submit(RecordEvent.of(contact, datetime.now(UTC), InteractionStarted(
        "voice", {"phone": phone} if phone else {}, "4008001234", "demo_400")))
    records(site, contact, InteractionStarted.KIND)
    arrived = e.ContactArrived(contact, "voice", "service", 0, {"general": 1}, {}, phone)
    site.on_reactor(site.cti.service.add_contact, site.cti.voice, arrived)
    agent.wait("card", contact=contact)
    site.on_reactor(site.cti.gateway.command, e.OfferAccepted(contact, "agent1001"))
    assert agent.wait("card", contact=contact)["state"] == "connected"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with chat_site(tmp_path) as s:
        yield s


def tag(client: httpx.Client, csrf: str, method: str, contact: str, body: Any,
        **headers: str) -> httpx.Response:
    return client.request(method, f"/desk/api/contacts/{contact}/tags",
                          content=json.dumps(body), headers={
                              "Content-Type": "application/json", "X-CSRFToken": csrf,
                              "Origin": site_origin(client), **headers})


def site_origin(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def test_an_agent_tags_the_customer_of_a_held_call_and_the_pop_shows_it(site: Site) -> None:
    held_call(site)
    client, csrf = desk_http(site)
    added = tag(client, csrf, "POST", "call-1", {"tag": " VIP "})
    assert added.status_code == 200, added.text
    assert [t["tag"] for t in added.json()["tags"]] == ["vip"]
    assert added.json()["tags"][0]["source"] == "agent:agent1001"
    tag(client, csrf, "POST", "call-1", {"tag": "投诉"})
    assert [t["tag"] for t in screen_pop(site, "call-1")["tags"]] == ["vip", "投诉"]
    again = tag(client, csrf, "POST", "call-1", {"tag": "vip"})
    assert again.status_code == 200 and again.json()["changed"] is False
    removed = tag(client, csrf, "DELETE", "call-1", {"tag": "vip"})
    assert removed.status_code == 200
    assert [t["tag"] for t in removed.json()["tags"]] == ["投诉"]
    assert [t["tag"] for t in screen_pop(site, "call-1")["tags"]] == ["投诉"]


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    ({"tag": "a b"}, {}, 400, "invalid_tag"),
    ({"tag": "x" * 33}, {}, 400, "invalid_tag"),
    ({"tag": 5}, {}, 400, "invalid_tag"),
    (["vip"], {}, 400, "invalid_tag"),
    ({"tag": "vip"}, {"X-CSRFToken": "forged"}, 400, "csrf"),
    ({"tag": "vip"}, {"Origin": "http://evil.example"}, 403, "bad_origin"),
    ({"tag": "vip"}, {"Content-Type": "text/plain"}, 415, "json_expected"),
])
def test_a_bad_tag_request_is_a_4xx_json_reason(site: Site, body: Any, headers: dict[str, str],
                                                status: int, code: str) -> None:
    held_call(site)
    client, csrf = desk_http(site)
    reply = tag(client, csrf, "POST", "call-1", body, **headers)
    assert (reply.status_code, reply.json()["error"]) == (status, code)
    assert screen_pop(site, "call-1")["tags"] == []


def test_only_a_contact_the_agent_holds_can_be_tagged(site: Site) -> None:
    held_call(site)
    client, csrf = desk_http(site)
    reply = tag(client, csrf, "POST", "call-2", {"tag": "vip"})
    assert (reply.status_code, reply.json()["error"]) == (404, "not_yours")
    stranger = httpx.Client(base_url=site.url, timeout=10)
    reply = stranger.post("/desk/api/contacts/call-1/tags", json={"tag": "vip"},
                          headers={"X-CSRFToken": csrf})
    assert reply.status_code in (400, 401)  # no session: no CSRF session either


def test_a_chat_visitor_is_tagged_like_a_caller(site: Site) -> None:
    agent = desk(site, "agent1001", "alice")
    conv, _ = open_chat(site, site.customer())
    agent.wait("offer", contact=conv)
    agent.send(t="accept", contact=conv)
    agent.wait("card", contact=conv)
    client, csrf = desk_http(site)
    reply = tag(client, csrf, "POST", conv, {"tag": "complaint"})
    assert reply.status_code == 200, reply.text
    assert [t["tag"] for t in screen_pop(site, conv)["tags"]] == ["complaint"]


def test_a_call_without_caller_id_has_no_customer_to_tag(site: Site) -> None:
    held_call(site, "call-1", "")
    client, csrf = desk_http(site)
    reply = tag(client, csrf, "POST", "call-1", {"tag": "vip"})
    assert (reply.status_code, reply.json()["error"]) == (409, "no_customer")


def test_a_returning_caller_is_tagged_repeat_and_routing_learns_it(site: Site) -> None:
    now = datetime.now(UTC)
    site.writer.submit(RecordEvent.of("call-0", now - timedelta(days=2), InteractionStarted(
        "voice", {"phone": "13700137000"}, "4008001234", "demo_400")))
    records(site, "call-0", InteractionStarted.KIND)
    held_call(site, "call-1", "13700137000")
    assert site.writer.flush(5)
    assert [t["tag"] for t in screen_pop(site, "call-1")["tags"]] == ["repeat"]
    cache = site.cti.tag_cache
    assert cache is not None
    deadline = time.monotonic() + 5
    while not site.on_reactor(cache.tags_for, "13700137000") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert site.on_reactor(cache.tags_for, "13700137000") == ("repeat",)


def test_a_vip_tier_from_self_service_tags_the_caller_and_steers_this_call(site: Site) -> None:
    from cti.app.wiring import TaggingVoiceEntry
    from cti.records import tags

    entry = site.cti.voice_entry
    assert isinstance(entry, TaggingVoiceEntry) and entry.on_vars is not None
    site.on_reactor(entry.on_vars, "13800138000",
                    {"caller": "13800138000", "account_tier": "VIP"})
    cache = site.cti.tag_cache
    assert cache is not None
    assert site.on_reactor(cache.tags_for, "13800138000") == ("vip",)  # at once, for this call
    arrived = e.ContactArrived("call-9", "voice", "service", 0, {"general": 1}, {},
                               "13800138000")
    site.on_reactor(site.cti.service.add_contact, site.cti.voice, arrived)
    view = site.on_reactor(site.cti.service.contact, "call-9")
    assert view is not None and view.priority == 0  # no tags.priority configured here
    deadline = time.monotonic() + 5
    stored: list[str] = []
    while not stored and time.monotonic() < deadline:
        customer = tags.customer_of(site.sf, {"phone": "13800138000"})
        stored = list(tags.names(tags.tags_of(site.sf, customer))) if customer else []
        time.sleep(0.05)
    assert stored == ["vip"]
