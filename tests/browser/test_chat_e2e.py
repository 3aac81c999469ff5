"""Chat end to end in headless Chromium against the REAL chat server (``tests.chat.harness``:
engine, chat channel, journal, records on SQLite, the realtime site with its pages and
``/ws``): agents sign in through ``/desk/login`` and press Ready, customers open the widget
on a merchant page (another 127.0.0.1 port) or ``/chat/`` itself, and everything happens by
clicks and typing. Nothing is injected into the pages; assertions are on what is visible
(and, for wrap-up, on the records database)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    ViewportSize,
    expect,
)
from websockets.exceptions import ConnectionClosed

from cti.records.models import Interaction
from cti.records.users import create_user, link_agent
from tests.browser.conftest import PHONE, SCREENSHOTS
from tests.chat.harness import PASSWORD, Site, chat_site

pytestmark = pytest.mark.browser
DESK_VIEW: ViewportSize = {"width": 1280, "height": 800}
XSS = "<img src=x onerror=alert(1)>"
STATUS_EN = {"sent": "Sent", "delivered": "Delivered", "read": "Read"}


# ---------------------------------------------------------------------- the merchant's site


class _MerchantPage(BaseHTTPRequestHandler):
    """Any path: a shop page with the one widget tag (``/zh`` for a Chinese widget)."""

    def do_GET(self) -> None:
        widget: str = self.server.widget_src  # type: ignore[attr-defined]
        lang = "zh" if self.path.startswith("/zh") else "en"
        body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<title>Shop</title></head><body><h1>Tea shop</h1><p>Green tea, 250 g.</p>'
                f'<script src="{widget}" data-lang="{lang}" async></script></body></html>')
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def merchant_site() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MerchantPage)
    server.widget_src = ""  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def origin_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------------- people


@dataclass
class People:
    """Everyone's browser (one context each, closed after the test) and what went wrong on
    their pages: a dialog or an uncaught error fails the test."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def page(self, phone: bool = False, locale: str = "en-GB") -> Page:
        if phone:
            ctx = self.browser.new_context(viewport=PHONE, device_scale_factor=1,
                                           is_mobile=True, has_touch=True, locale=locale)
        else:
            ctx = self.browser.new_context(viewport=DESK_VIEW, locale=locale)
        ctx.set_default_timeout(8000)
        self.contexts.append(ctx)
        return self.watch(ctx.new_page())

    def watch(self, page: Page) -> Page:
        def dialog(d: Any) -> None:
            self.problems.append("dialog: " + d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.on("pageerror", lambda e: self.problems.append("pageerror: " + str(e)))
        return page


def make_agent(site: Site, username: str, agent_id: str) -> None:
    create_user(site.sf, username, PASSWORD, role="agent")
    link_agent(site.sf, username, agent_id)


def sign_in(people: People, site: Site, username: str, agent_id: str, lang: str = "en") -> Page:
    """A person at the desktop: the sign-in form, then the desktop, connected."""
    make_agent(site, username, agent_id)
    page = people.page()
    page.goto(f"{site.url}/desk/login?lang={lang}")
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(PASSWORD)
    with page.expect_navigation(url=re.compile(r"/desk/$")):
        page.locator('button[type="submit"]').click()
    expect(page.locator(".agent-name")).to_have_text(username)
    expect(page.locator('[data-testid="conn"]')).to_have_count(0)
    expect(page.locator(".badge.state")).not_to_have_attribute("data-state", "")
    return page


def set_state(page: Page, state: str, shown: str | re.Pattern[str] | None = None) -> None:
    page.locator(".state-select").select_option(state)
    expect(page.locator(".badge.state")).to_have_attribute("data-state", shown or state)


def set_ready(page: Page) -> None:
    """Ready; a chat waiting for this agent is offered at once (state ``offered``)."""
    set_state(page, "ready", re.compile(r"^(ready|offered)$"))


def open_widget(people: People, merchant: ThreadingHTTPServer, lang: str = "en"
                ) -> tuple[Page, FrameLocator]:
    """A customer on the shop's page clicks the chat button; the panel is connected."""
    page = people.page(phone=True, locale="zh-CN" if lang == "zh" else "en-GB")
    page.goto(f"{origin_of(merchant)}/{lang}")
    page.locator('button[data-hotline="button"]').click()
    panel = page.frame_locator('iframe[data-hotline="panel"]')
    expect(panel.locator("#chat")).to_be_visible()
    expect(panel.locator("#conn")).to_be_hidden()
    return page, panel


def open_panel(people: People, site: Site, lang: str = "en") -> Page:
    """A customer on ``/chat/`` itself (as a phone browser would open a link)."""
    page = people.page(phone=True)
    page.goto(f"{site.url}/chat/?lang={lang}")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#conn")).to_be_hidden()
    return page


def say(panel: Page | FrameLocator, text: str) -> Locator:
    """The customer types and presses Send; the bubble of that message."""
    panel.locator("#text").fill(text)
    panel.locator("#send").click()
    bubble = panel.locator("li.msg.own", has_text=text).last
    expect(bubble).to_be_visible()
    return bubble


def reply(desk: Page, text: str) -> None:
    desk.locator(".composer textarea.reply").fill(text)
    desk.locator(".composer button.send").click()
    expect(desk.locator(".transcript .msg.own .text").filter(has_text=text)).to_have_count(1)


def first_offer(desks: list[Page], timeout: float = 8.0) -> Page:
    """The desktop that shows an offer (routing picks the agent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in desks:
            if d.locator(".offer").count():
                return d
        desks[0].wait_for_timeout(50)
    raise AssertionError("no desktop shows an offer")


def accept(desk: Page) -> str:
    """Click Accept on the (only) offer; the contact id of the chat tab that appears."""
    offer = desk.locator(".offer").first
    expect(offer).to_be_visible()
    contact = offer.get_attribute("data-contact") or ""
    offer.locator("button.accept").click()
    expect(desk.locator(f'.offer[data-contact="{contact}"]')).to_have_count(0)
    expect(desk.locator(f'.tab[data-contact="{contact}"]')).to_be_visible()
    return contact


def tab(desk: Page, contact: str) -> Locator:
    return desk.locator(f'.tab[data-contact="{contact}"]')


def interaction(site: Site, conv: str, timeout: float = 5.0) -> Interaction:
    """The records row of a conversation once its wrap-up is written."""
    deadline = time.monotonic() + timeout
    while True:
        with site.sf() as s:
            row = s.get(Interaction, conv)
            if row is not None and (row.wrap_up_code or time.monotonic() > deadline):
                s.expunge(row)
                return row
        if time.monotonic() > deadline:
            raise AssertionError(f"no interaction row for {conv}")
        time.sleep(0.05)


@pytest.fixture()
def people(browser: Browser) -> Iterator[People]:
    crowd = People(browser)
    yield crowd
    for ctx in crowd.contexts:
        ctx.close()
    assert not crowd.problems, crowd.problems


@pytest.fixture()
def merchant() -> Iterator[ThreadingHTTPServer]:
    with merchant_site() as server:
        yield server


@pytest.fixture()
def site_with_merchant(tmp_path: Path, merchant: ThreadingHTTPServer) -> Iterator[Site]:
    with chat_site(tmp_path, allowed_origins=(origin_of(merchant),),
                   ready_on_sign_in=False) as site:  # the shipped default: press Ready
        merchant.widget_src = f"{site.url}/widget.js"  # type: ignore[attr-defined]
        yield site


# ---------------------------------------------------------------------- the tests


def test_a_customer_on_a_shop_page_chats_with_the_agent_who_accepts(
        people: People, site_with_merchant: Site, merchant: ThreadingHTTPServer) -> None:
    site = site_with_merchant
    alice = sign_in(people, site, "alice", "agent1001")
    bob = sign_in(people, site, "bob", "agent1002")
    set_ready(alice)
    set_ready(bob)
    shop, panel = open_widget(people, merchant)

    mine = say(panel, "Where is my order 42?")
    expect(mine).to_have_attribute("data-status", "sent")  # stored; nobody has it yet
    expect(mine.locator(".status")).to_have_text("Sent")

    desk = first_offer([alice, bob])
    other = bob if desk is alice else alice
    name = "alice" if desk is alice else "bob"
    offer = desk.locator(".offer")
    expect(offer.locator("h2")).to_have_text("New chat")
    countdown = offer.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^\d+ s left$"))
    start = int(countdown.get_attribute("data-left") or 0)
    assert 0 < start <= site.cfg.cti.ring_timeout_s
    expect(countdown).not_to_have_attribute("data-left", str(start))  # it counts down
    assert int(countdown.get_attribute("data-left") or 0) < start
    expect(other.locator(".offer")).to_have_count(0)

    accept(desk)
    expect(panel.locator("li.line.joined")).to_have_text(f"{name} joined the chat.")
    expect(desk.locator(".transcript .msg.customer .text")).to_have_text(["Where is my order 42?"])
    expect(mine).to_have_attribute("data-status", "read")  # delivered, and on the agent's screen
    expect(mine.locator(".status")).to_have_text("Read")
    expect(desk.locator(".budget")).to_have_text(f"Chats 1 of {site.cfg.cti.max_chats}")

    reply(desk, "It ships today.")
    expect(panel.locator("li.msg.agent .text")).to_have_text(["It ships today."])
    expect(desk.locator(".transcript .msg.own").last).to_have_attribute("data-status", "read")

    second = say(panel, "Thank you!")
    expect(desk.locator(".transcript .msg.customer .text")).to_have_text(
        ["Where is my order 42?", "Thank you!"])
    expect(second).to_have_attribute("data-status", "read")
    expect(panel.locator("li.msg .text")).to_have_text(
        ["Where is my order 42?", "It ships today.", "Thank you!"])
    expect(desk.locator(".transcript .msg .text")).to_have_text(
        ["Where is my order 42?", "It ships today.", "Thank you!"])

    shot = SCREENSHOTS / "e2e-widget-en.png"
    shop.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


def test_one_agent_holds_two_chats_and_the_third_waits_for_the_other_agent(
        people: People, tmp_path: Path) -> None:
    with chat_site(tmp_path, max_chats=2) as site:
        alice = sign_in(people, site, "alice", "agent1001")
        bob = sign_in(people, site, "bob", "agent1002")
        set_state(bob, "not_ready")
        expect(bob.locator(".reason-select")).to_have_value("break")
        set_ready(alice)
        expect(alice.locator(".budget")).to_have_text("Chats 0 of 2")

        customers = []
        contacts = []
        for n, text in enumerate(["My parcel is late.", "I want to change my address."]):
            c = open_panel(people, site)
            say(c, text)
            contacts.append(accept(alice))
            expect(c.locator("li.line.joined")).to_have_text("alice joined the chat.")
            expect(alice.locator(".budget")).to_have_text(f"Chats {n + 1} of 2")
            customers.append(c)
        first, second = contacts
        expect(alice.locator(".tabs .tab")).to_have_count(2)
        expect(tab(alice, first)).to_have_attribute("aria-selected", "true")
        # the chat on screen is read; the other one counts what its customer wrote
        expect(tab(alice, first).locator(".unread")).to_have_count(0)
        expect(tab(alice, second).locator(".unread")).to_have_text("1")
        say(customers[1], "It is 5 Long Street now.")
        expect(tab(alice, second).locator(".unread")).to_have_text("2")
        say(customers[0], "Order 42.")
        expect(alice.locator(".transcript .msg.customer .text")).to_have_text(
            ["My parcel is late.", "Order 42."])
        expect(tab(alice, first).locator(".unread")).to_have_count(0)

        third = open_panel(people, site)
        waiting = say(third, "Hello?")
        expect(waiting).to_have_attribute("data-status", "sent")  # stored, nobody has it
        # (no "You are number 1 in line" yet: the server's first queue frame of a new chat
        # is sent before the customer's connection follows the conversation; see the report)
        alice.wait_for_timeout(300)
        expect(alice.locator(".offer")).to_have_count(0)  # full: 2 of 2
        expect(alice.locator(".budget")).to_have_text("Chats 2 of 2")
        view = site.on_reactor(site.cti.gateway.contact, third_conv(site, contacts))
        assert view is not None and view.state == "waiting"

        reply(alice, "Let me check order 42.")  # to the chat on screen, and only there
        expect(customers[0].locator("li.msg.agent .text")).to_have_text(["Let me check order 42."])
        expect(customers[1].locator("li.msg.agent")).to_have_count(0)
        expect(alice.locator(".pop-name")).to_have_text(re.compile(r"^v-"))  # anonymous
        expect(alice.locator(".history dt", has_text="IVR path")).to_have_count(0)  # none: chat
        shot = SCREENSHOTS / "e2e-desk-en.png"
        alice.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        set_ready(bob)
        accept(bob)
        expect(third.locator("li.line.joined")).to_have_text("bob joined the chat.")
        expect(third.locator("#queue")).to_be_hidden()
        expect(bob.locator(".budget")).to_have_text("Chats 1 of 2")
        expect(bob.locator(".transcript .msg.customer .text")).to_have_text(["Hello?"])

        tab(alice, second).click()
        expect(tab(alice, second).locator(".unread")).to_have_count(0)
        expect(alice.locator(".transcript .msg.customer .text")).to_have_text(
            ["I want to change my address.", "It is 5 Long Street now."])
        alice.goto(f"{site.url}/desk/?lang=zh")  # the desktop speaks Chinese too: reload in zh
        expect(alice.locator(".budget")).to_have_text("对话 2 / 2")
        expect(alice.locator(".tabs .tab")).to_have_count(2)
        expect(alice.locator(".transcript .msg.customer .text")).not_to_have_count(0)
        # what was read before the reload stays read (no unread counts come back)
        expect(alice.locator(".transcript .msg.own .status")).to_have_text(["已读"])
        expect(alice.locator(".tabs .unread")).to_have_count(0)
        shot = SCREENSHOTS / "e2e-desk-zh.png"
        alice.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000


def third_conv(site: Site, taken: list[str]) -> str:
    """The one open conversation that is not in ``taken``."""
    rest = [c for c in site.chat.channel.chats if c not in taken]
    assert len(rest) == 1, rest
    return rest[0]


def test_the_customer_ends_the_chat_and_the_wrap_up_is_recorded(
        people: People, site_with_merchant: Site, merchant: ThreadingHTTPServer) -> None:
    site = site_with_merchant
    alice = sign_in(people, site, "alice", "agent1001")
    set_ready(alice)
    shop, panel = open_widget(people, merchant, lang="zh")
    expect(panel.locator("#text")).to_have_attribute("placeholder", "输入消息")
    mine = say(panel, "我的订单 42 还没有到。")
    contact = accept(alice)
    expect(panel.locator("li.line.joined")).to_have_text(re.compile("alice"))
    reply(alice, "我查一下，请稍等。")
    expect(panel.locator("li.msg.agent .text")).to_have_text(["我查一下，请稍等。"])
    expect(mine.locator(".status")).to_have_text("已读")
    shot = SCREENSHOTS / "e2e-widget-zh.png"
    shop.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    panel.locator("#end-chat").click()
    expect(panel.locator("#ended")).to_be_visible()
    expect(panel.locator("#composer")).to_be_hidden()
    card = tab(alice, contact)
    expect(card).to_have_attribute("class", re.compile(r"\bwrap_up\b"))
    expect(alice.locator(".contact .note").first).to_have_text("The chat has ended.")
    expect(alice.locator(".composer")).to_have_count(0)
    form = alice.locator("form.wrapup")
    expect(form.locator('button[type="submit"]')).to_be_disabled()  # a code is required
    form.locator('select[name="code"]').select_option("resolved")
    form.locator('textarea[name="notes"]').fill("Parcel re-sent, arrives Friday.")
    form.locator('button[type="submit"]').click()
    expect(card).to_have_count(0)
    expect(alice.locator(".chats .empty")).to_have_text("No chats right now.")
    expect(alice.locator(".budget")).to_have_text(f"Chats 0 of {site.cfg.cti.max_chats}")
    expect(alice.locator(".badge.state")).to_have_attribute("data-state", "ready")

    row = interaction(site, contact)
    assert (row.channel, row.agent, row.wrap_up_code) == ("chat", "agent1001", "resolved")
    assert row.wrap_up_notes == "Parcel re-sent, arrives Friday."


def test_html_typed_by_a_customer_is_shown_as_text_and_runs_nothing(
        people: People, tmp_path: Path) -> None:
    with chat_site(tmp_path) as site:
        alice = sign_in(people, site, "alice", "agent1001")
        set_ready(alice)
        customer = open_panel(people, site)
        say(customer, XSS)
        accept(alice)
        shown = alice.locator(".transcript .msg.customer .text")
        expect(shown).to_have_text([XSS])
        expect(alice.locator(".transcript img")).to_have_count(0)
        reply(alice, "<b>bold?</b> " + XSS)
        expect(customer.locator("li.msg.agent .text")).to_have_text(["<b>bold?</b> " + XSS])
        expect(customer.locator("#messages img, #messages b")).to_have_count(0)
        alice.locator("button.end-chat").click()  # the agent ends this one
        expect(customer.locator("#ended")).to_be_visible()
        expect(customer.locator("li.line.ended-line")).to_have_count(1)
        alice.wait_for_timeout(200)  # a late onerror would have opened its dialog by now
    # no dialog, no page error: checked by the ``people`` fixture


def test_a_customer_who_reloads_or_comes_back_sees_the_same_transcript_once(
        people: People, tmp_path: Path) -> None:
    with chat_site(tmp_path) as site:
        alice = sign_in(people, site, "alice", "agent1001")
        set_ready(alice)
        customer = open_panel(people, site)
        say(customer, "Hi, one question.")
        accept(alice)
        reply(alice, "Sure, go ahead.")
        expect(customer.locator("li.msg.agent .text")).to_have_text(["Sure, go ahead."])
        say(customer, "Can I pay by card?")
        expect(alice.locator(".transcript .msg.customer .text")).to_have_count(2)
        texts = ["Hi, one question.", "Sure, go ahead.", "Can I pay by card?"]
        expect(customer.locator("li.msg .text")).to_have_text(texts)

        customer.reload()
        expect(customer.locator("#conn")).to_be_hidden()
        expect(customer.locator("li.msg .text")).to_have_text(texts)
        expect(customer.locator("li.line.joined")).to_have_count(1)
        expect(customer.locator("li.msg.own").last).to_have_attribute("data-status", "read")

        customer.goto("about:blank")  # the customer leaves; the agent answers meanwhile
        reply(alice, "Yes, card or Alipay.")
        customer.goto(f"{site.url}/chat/?lang=en")  # and comes back: resume from the last seq
        expect(customer.locator("#conn")).to_be_hidden()
        texts.append("Yes, card or Alipay.")
        expect(customer.locator("li.msg .text")).to_have_text(texts)
        say(customer, "Great, thanks.")
        texts.append("Great, thanks.")
        expect(alice.locator(".transcript .msg .text")).to_have_text(texts)
        expect(customer.locator("li.msg .text")).to_have_text(texts)
        seqs = customer.locator("li.msg").evaluate_all("els => els.map(e => e.dataset.seq)")
        assert seqs == ["1", "2", "3", "4", "5"], seqs
        expect(customer.locator("li.line.joined")).to_have_count(1)


def test_after_signing_out_a_copied_cookie_opens_neither_the_desktop_nor_the_socket(
        people: People, tmp_path: Path) -> None:
    with chat_site(tmp_path) as site:
        alice = sign_in(people, site, "alice", "agent1001")
        set_ready(alice)
        old = [c for c in alice.context.cookies() if c["name"] == "hotline_desk"]
        assert len(old) == 1 and old[0]["httpOnly"] and old[0]["sameSite"] == "Strict"
        token = old[0]["value"]
        with alice.expect_navigation(url=re.compile(r"/desk/login")):
            alice.locator("form.logout button").click()
        expect(alice.locator('input[name="username"]')).to_be_visible()
        assert not [c for c in alice.context.cookies() if c["name"] == "hotline_desk"]
        view = site.on_reactor(site.cti.gateway.agent, "agent1001")
        assert view.state == "logged_out"

        page = people.page()  # the copied cookie, in another browser
        page.context.add_cookies(old)  # type: ignore[arg-type]
        page.goto(f"{site.url}/desk/")
        expect(page).to_have_url(re.compile(r"/desk/login$"))
        api = page.request.get(f"{site.url}/desk/api/wrapup-codes")
        assert api.status == 401

        ws = site.agent(token)
        ws.send(t="hello", role="agent", resume={})
        assert ws.wait("error")["code"] == "not_signed_in"
        with pytest.raises(ConnectionClosed):
            ws.next(2)
        assert ws.ws.close_code == 4003
        view = site.on_reactor(site.cti.gateway.agent, "agent1001")
        assert view.state == "logged_out"
