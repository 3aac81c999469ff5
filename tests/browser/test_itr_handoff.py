"""From the touch menu to a chat with an agent, in headless Chromium against the REAL chat
server (``tests.chat.harness``) and the touch menu on the demo back-end: a person on a phone
taps through the menu to "talk to an agent" and opens the chat; a signed-in agent gets the
offer, and the screen pop shows the menu path, what was entered and the results seen. The
hand-off token, presented again, resumes the same conversation (never a second one)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from cti.records.core.events import InteractionStarted, RecordEvent
from cti.records.models import ChatConversation, Interaction
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.links import LinkSigner
from ivr_flows.touch.app import create_itr_app
from tests.browser.conftest import FixedClock, enter, serve, tap
from tests.browser.test_chat_e2e import People, accept, first_offer, reply, sign_in
from tests.chat.harness import Site, chat_site
from tests.contract_cases import OPEN

pytestmark = pytest.mark.browser
CALLER = "13800138000"


@dataclass
class World:
    site: Site
    itr_url: str
    links: LinkSigner


@pytest.fixture()
def people(browser: Browser) -> Iterator[People]:
    crowd = People(browser)
    yield crowd
    for ctx in crowd.contexts:
        ctx.close()
    assert not crowd.problems, crowd.problems


@pytest.fixture()
def world(tmp_path: Path, demo_flow: Flow, demo_backend_url: str) -> Iterator[World]:
    runner = ActionRunner(demo_backend_url)
    with chat_site(tmp_path) as site:
        links = LinkSigner(site.cfg.secret_key, "http://placeholder", 1800, epoch=time.time)
        app = create_itr_app(
            {demo_flow.name: demo_flow},
            runner,
            links,
            FixedClock(OPEN),
            secret_key=site.cfg.secret_key,
            chat_url=f"{site.url}/chat/",
        )
        with serve(app) as url:
            links.base_url = url
            yield World(site, url, links)
    runner.close()


def earlier_call(site: Site) -> None:
    """The customer called last week: the web session must join that history."""
    site.writer.submit(
        RecordEvent.of(
            "call-earlier",
            datetime.now(UTC) - timedelta(days=7),
            InteractionStarted("voice", {"phone": CALLER}, "4008001234", "demo_400"),
        )
    )


def tap_through_to_an_agent(page: Page, world: World, demo_flow: Flow) -> None:
    """The texted link (the session knows the caller's number), order status, then 0."""
    page.goto(world.links.make_link(demo_flow, "main", "en", {"caller": CALLER}))
    expect(page.locator(".prompt")).to_have_text("How can we help you?")
    tap(page, "1")
    enter(page, "12345678")
    expect(page.locator(".card-result")).to_have_text(
        "Your order 12345678 has shipped and should arrive on 11/25."
    )
    tap(page, "0")
    expect(page.locator(".outcome h2")).to_have_text("Talk to an agent")


def open_the_chat(page: Page) -> None:
    """Tap "Open the chat": the chat panel opens, connected, in its conversation."""
    link = page.locator('[data-testid="handoff"]')
    expect(link).to_have_text("Open the chat")
    with page.expect_navigation(url=re.compile(r"/chat/")):
        link.click()
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#conn")).to_be_hidden()
    expect(page).not_to_have_url(re.compile("handoff"))  # out of the address bar at once


def web_row(site: Site, conv: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with site.sf() as s:
            row = s.get(Interaction, conv)
            if row is not None and row.queue:
                s.expunge(row)
                return row
        if time.monotonic() > deadline:
            raise AssertionError(f"no web interaction {conv}")
        time.sleep(0.05)


def test_talk_to_an_agent_opens_a_chat_and_the_agent_sees_the_menu_path(
    people: People, world: World, demo_flow: Flow
) -> None:
    site = world.site
    earlier_call(site)
    agent = sign_in(people, site, "alice", "agent1001")  # ready at once (the harness)
    phone = people.page(phone=True)
    tap_through_to_an_agent(phone, world, demo_flow)
    open_the_chat(phone)

    desk = first_offer([agent])
    offer = desk.locator(".offer")
    expect(offer.locator("h2")).to_have_text("New chat")
    conv = accept(desk)
    assert conv.startswith("web-")
    pop = desk.locator(".pop")
    expect(pop.locator(".ivr-path")).to_have_text(
        "main › order_collect › order_lookup › after_order"
    )
    expect(pop).to_contain_text("digits 12345678")  # what was entered
    expect(pop).to_contain_text("key 0 (Talk to an agent)")
    expect(pop).to_contain_text("Your order 12345678 has shipped and should arrive on 11/25.")
    expect(pop).to_contain_text("order_id")  # the queue exit's attributes
    expect(pop.locator(".history li")).to_have_count(1)  # the earlier call, same customer
    expect(pop.locator(".history")).to_contain_text("voice")

    reply(desk, "I see order 12345678, let me help.")
    expect(phone.locator("li.msg.agent .text")).to_have_text(["I see order 12345678, let me help."])

    row = web_row(site, conv)
    assert (row.channel, row.flow, row.queue, row.priority) == ("web", "demo_400", "service", 5)
    with site.sf() as s:
        earlier = s.get(Interaction, "call-earlier")
        assert earlier is not None and earlier.customer_id == row.customer_id


def test_the_hand_off_link_opened_again_resumes_the_same_conversation(
    people: People, world: World, demo_flow: Flow
) -> None:
    site = world.site
    agent = sign_in(people, site, "alice", "agent1001")
    phone = people.page(phone=True)
    tap_through_to_an_agent(phone, world, demo_flow)
    handoff = phone.locator('[data-testid="handoff"]').get_attribute("href") or ""
    open_the_chat(phone)
    conv = accept(first_offer([agent]))
    reply(agent, "Hello from alice.")
    expect(phone.locator("li.msg.agent .text")).to_have_text(["Hello from alice."])

    other = people.page(phone=True)  # the same link, another phone (no stored visitor)
    other.goto(handoff)
    expect(other.locator("li.msg.agent .text")).to_have_text(["Hello from alice."])
    phone.reload()
    expect(phone.locator("li.msg.agent .text")).to_have_text(["Hello from alice."])
    with site.sf() as s:
        opened = s.scalar(select(func.count()).select_from(ChatConversation))
    assert opened == 1
    assert web_row(site, conv).channel == "web"
    expect(agent.locator(".offer")).to_have_count(0)  # nothing offered twice


# ---------------------------------------------------------------- the hello, without a browser


def handoff_token(site: Site, flow: Flow, ago: float = 0.0) -> tuple[str, str]:
    """A touch session that chose "talk to an agent" in English: (token, conversation)."""
    from ivr_flows.core.effects import Tap
    from ivr_flows.core.interpreter import start, step
    from ivr_flows.touch.handoff import HandoffCodec
    from ivr_flows.touch.session import Journey

    state, _ = start(flow, OPEN, lang="en")
    state, _ = step(flow, state, Tap("0"), OPEN)
    journey = Journey.new(time.time(), flow.start).did("main", "key 0 (Talk to an agent)")
    codec = HandoffCodec(site.cfg.secret_key, site.cfg.itr.handoff_ttl_s)
    made = HandoffCodec(site.cfg.secret_key, wall=lambda: time.time() - ago)
    token = made.make(flow, state, journey)
    assert token is not None
    handoff = codec.read(token) or made.read(token)
    assert handoff is not None
    return token, handoff.conversation


def test_two_hellos_with_one_token_at_once_open_one_conversation(
    tmp_path: Path, demo_flow: Flow
) -> None:
    from tests.chat.test_chat_protocol import desk, records

    with chat_site(tmp_path) as site:
        agent = desk(site, "agent1001", "alice")
        token, conv = handoff_token(site, demo_flow)
        first, second = site.customer(), site.customer()
        for customer in (first, second):
            customer.send(
                t="hello", role="customer", visitor=None, lang="en", resume={}, handoff=token
            )
        welcomes = [c.wait("welcome") for c in (first, second)]
        assert [w["conv"] for w in welcomes] == [conv, conv]
        assert welcomes[0]["visitor"] == welcomes[1]["visitor"]  # one conversation, one visitor
        offer = agent.wait("offer", contact=conv)
        assert offer["medium"] == "chat" and offer["queue"] == "service"
        assert [f for f in agent.quiet(0.5) if f.get("t") == "offer"] == []
        with site.sf() as s:
            assert s.scalar(select(func.count()).select_from(ChatConversation)) == 1
        ivr = [r for r in records(site, conv, "ivr") if r.type == "ivr"]
        assert len(ivr) == 1 and ivr[0].data["steps"][-1] == ["main", "key 0 (Talk to an agent)"]
        assert ivr[0].data["attributes"] == {"language": "en"}
        assert web_row(site, conv).channel == "web"


def test_a_forged_or_expired_hand_off_opens_nothing(tmp_path: Path, demo_flow: Flow) -> None:
    from tests.chat.test_chat_protocol import desk

    with chat_site(tmp_path) as site:
        desk(site, "agent1001", "alice")
        token, _ = handoff_token(site, demo_flow)
        expired, _ = handoff_token(site, demo_flow, ago=site.cfg.itr.handoff_ttl_s + 5)
        for bad in (token[:-4] + "AAAA", "x" * 7000, 42, expired):
            customer = site.customer()
            customer.send(
                t="hello", role="customer", visitor=None, lang="en", resume={}, handoff=bad
            )
            welcome = customer.wait("welcome")
            assert welcome["conv"] is None and welcome["open"] is True  # an ordinary chat
            customer.close()
        with site.sf() as s:
            assert s.scalar(select(func.count()).select_from(ChatConversation)) == 0
