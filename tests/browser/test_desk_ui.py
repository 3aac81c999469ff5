"""The agent desktop in headless Chromium at 1280x800, against a scripted WebSocket server
(Playwright's ``route_web_socket``): offers, chat tabs, transcripts, wrap-up, transfer and
the screen pop, as an agent sees them and as frames (docs/REALTIME.md). The page is the real
template and static files (Preact + htm vendored), served with ``script-src 'self'``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, Response, jsonify, render_template, request
from playwright.sync_api import Browser, Page, expect

from cti.agents.desktop.strings import STRINGS
from tests.browser.conftest import SCREENSHOTS, serve
from tests.browser.test_chat_pages_ui import CSP, PNG, XSS, FakeWs

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
DESK = REPO / "cti" / "agents" / "desktop"
CHAT_STATIC = REPO / "cti" / "channels" / "chat" / "web" / "static"
REASONS = [["break", "Break"], ["lunch", "Lunch"]]
POP = {
    "customer": {"name": "Zhang Wei", "identities": {"phone": "+8613800000000", "account": "A-7"}},
    "context": {"ivr_path": ["main", "orders", "agent"], "entered": {"order": "42"},
                "attributes": {"vip": True}},
    "history": [{"channel": "voice", "started_at": "2026-05-01T09:30:00Z", "outcome": "answered",
                 "agent": "li", "wrap_up_code": "resolved", "wrap_up_notes": XSS,
                 "ivr_path": ["main", "orders"], "self_service": False}],
}


def desk_app() -> Flask:
    app = Flask(__name__, static_folder=None)
    bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder=str(DESK / "templates"),
                   static_folder=str(DESK / "static"), static_url_path="/static")

    @bp.route("/")
    def index() -> str:
        lang = request.args.get("lang", "en")
        return render_template("desk.html", agent_id="a1", agent_name="Li Na", lang=lang,
                               strings=STRINGS[lang], ws_url="/ws", csrf_token="csrf-1",
                               logout_url="/desk/logout", not_ready_reasons=REASONS)

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> str:
        lang = request.args.get("lang", "en")
        return render_template("desk_login.html", lang=lang, strings=STRINGS[lang],
                               csrf_token="csrf-2", error=STRINGS[lang]["login_failed"]
                               if request.method == "POST" else "")

    @bp.route("/api/wrapup-codes")
    def codes() -> Any:
        return jsonify({"codes": [["resolved", "Resolved"], ["callback", "Call back"]]})

    @bp.route("/api/queues")
    def queues() -> Any:
        return jsonify({"queues": ["sales", "support"]})

    @bp.route("/api/contacts/<contact>/pop")
    def pop(contact: str) -> Any:
        return jsonify(POP)

    app.register_blueprint(bp)

    @app.route("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.route("/chat/files/<file_id>")
    def file(file_id: str) -> Response:
        return Response(PNG, mimetype="image/png")

    @app.after_request
    def csp(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        return resp

    return app


@pytest.fixture(scope="module")
def desk_url() -> Iterator[str]:
    with serve(desk_app()) as url:
        yield url


@pytest.fixture()
def desk(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.set_default_timeout(8000)
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail("a dialog opened: " + d.message))
    yield page
    context.close()


@pytest.fixture()
def ws(desk: Page) -> FakeWs:
    fake = FakeWs()
    fake.attach(desk.context)
    return fake


def open_desk(page: Page, url: str, ws: FakeWs, lang: str = "en") -> dict[str, Any]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/desk/?lang={lang}")
    hello = ws.wait(page, lambda f: f["t"] == "hello", "hello")
    ws.push(t="welcome", role="agent", agent="a1", name="Li Na")
    ws.push(t="agent", state="ready", reason="", chats=0, max_chats=3, voice=False)
    expect(page.locator('[data-testid="conn"]')).to_have_count(0)
    assert not errors, errors
    return hello


def card(ws: FakeWs, contact: str, customer: str, state: str = "connected",
         since: str = "2026-05-09T10:00:00Z") -> None:
    ws.push(t="card", contact=contact, medium="chat", conv=contact, customer=customer,
            queue="sales", since=since, state=state)


def customer_msg(ws: FakeWs, conv: str, seq: int, text: str) -> None:
    ws.push(t="msg", conv=conv, seq=seq, **{"from": "customer"}, name="", cid=f"k{seq}",
            text=text, file=None, at="2026-05-09T10:00:00Z")


def tab(page: Page, contact: str) -> Any:
    return page.locator(f'.tab[data-contact="{contact}"]')


def test_hello_then_state_budget_and_a_state_change(desk: Page, desk_url: str,
                                                     ws: FakeWs) -> None:
    hello = open_desk(desk, desk_url, ws)
    assert hello == {"t": "hello", "role": "agent", "resume": {}}
    ws.push(t="agent", state="not_ready", reason="lunch", chats=2, max_chats=3, voice=True)
    expect(desk.locator(".agent-name")).to_have_text("Li Na")
    expect(desk.locator('[data-testid="budget"]')).to_have_text("Chats 2 of 3")
    expect(desk.locator(".top .call")).to_have_text("On a call")
    expect(desk.locator(".reason-select")).to_have_value("lunch")
    desk.locator(".state-select").select_option("ready")
    frame = ws.wait(desk, lambda f: f["t"] == "state", "state")
    assert frame == {"t": "state", "state": "ready", "reason": ""}
    ws.push(t="agent", state="ready", reason="", chats=2, max_chats=3, voice=False)
    expect(desk.locator(".reason-select")).to_have_count(0)
    expect(desk.locator(".top .call")).to_have_text("No call")
    assert desk.locator('.logout input[name="csrf_token"]').get_attribute("value") == "csrf-1"
    ws.push(t="card", contact="v1", medium="voice", conv=None, customer="+8613800000000",
            queue="support", since="2026-05-09T10:00:00Z", state="connected")
    expect(desk.locator(".calls h2")).to_have_text("Current call")
    tab(desk, "v1").click()
    expect(desk.locator(".centre .empty")).to_have_text("Voice call in progress.")
    expect(desk.locator("textarea.reply")).to_have_count(0)


def test_an_offer_counts_down_and_accept_sends_the_accept_frame(desk: Page, desk_url: str,
                                                                 ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    ws.push(t="offer", contact="c7", medium="chat", conv="c7", customer="Zhang Wei",
            queue="sales", expires_in=20)
    offer = desk.locator('.offer[data-contact="c7"]')
    expect(offer).to_be_visible()
    expect(offer.locator(".customer")).to_have_text("Zhang Wei")
    expect(offer.locator(".countdown")).to_have_text("20 s left")
    expect(offer.locator(".countdown")).to_have_text("19 s left", timeout=2500)
    offer.locator("button.accept").click()
    assert ws.wait(desk, lambda f: f["t"] == "accept", "accept") == {"t": "accept",
                                                                     "contact": "c7"}
    expect(offer.locator("button.accept")).to_be_disabled()
    ws.push(t="offer_gone", contact="c7", why="accepted")
    expect(offer).to_have_count(0)
    card(ws, "c7", "Zhang Wei")
    expect(tab(desk, "c7")).to_have_attribute("aria-selected", "true")


def test_two_chat_tabs_count_unread_until_selected(desk: Page, desk_url: str,
                                                   ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    card(ws, "c1", "Wang")
    card(ws, "c2", "Zhao")
    customer_msg(ws, "c1", 1, "hello")
    customer_msg(ws, "c2", 1, "are you there?")
    customer_msg(ws, "c2", 2, "hello??")
    customer_msg(ws, "c2", 2, "hello??")  # a replay: counted once
    expect(tab(desk, "c1")).to_have_attribute("aria-selected", "true")
    expect(tab(desk, "c2").locator(".unread")).to_have_text("2")
    expect(tab(desk, "c1").locator(".unread")).to_have_count(0)  # on screen: read
    ws.wait(desk, lambda f: f["t"] == "read" and f["conv"] == "c1" and f["seq"] == 1, "read c1")
    ws.wait(desk, lambda f: f["t"] == "seen" and f["conv"] == "c2" and f["seq"] == 2, "seen c2")
    assert sorted((f["conv"], f["seq"]) for f in ws.of("seen")) == [("c1", 1), ("c2", 1),
                                                                    ("c2", 2)]
    customer_msg(ws, "c1", 2, "one more")
    tab(desk, "c2").click()
    expect(desk.locator(".transcript .msg.customer")).to_have_count(2)
    expect(tab(desk, "c2").locator(".unread")).to_have_count(0)
    ws.wait(desk, lambda f: f["t"] == "read" and f["conv"] == "c2" and f["seq"] == 2, "read c2")
    expect(tab(desk, "c1").locator(".unread")).to_have_count(0)  # c1 was on screen for it
    expect(tab(desk, "c2").locator(".since")).to_have_text(re.compile(r"^\d+:\d\d"))


def test_html_in_chat_text_names_and_the_screen_pop_is_shown_literally(
        desk: Page, desk_url: str, ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    card(ws, "c1", XSS)
    customer_msg(ws, "c1", 1, XSS)
    expect(desk.locator(".transcript .msg.customer .text")).to_have_text(XSS)
    expect(tab(desk, "c1").locator(".customer")).to_have_text(XSS)
    expect(desk.locator(".contact-head .customer")).to_have_text(XSS)
    expect(desk.locator(".history dd").filter(has_text="onerror")).to_have_text(XSS)
    assert desk.locator(".centre img, .right img, .left img").count() == 0
    assert desk.title() != "1"


def test_a_reply_goes_sending_sent_read_and_is_resent_after_a_drop(desk: Page, desk_url: str,
                                                                    ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    card(ws, "c1", "Wang")
    customer_msg(ws, "c1", 1, "hello")
    desk.locator("textarea.reply").fill("Hi Wang, how can I help?")
    desk.locator("textarea.reply").press("Enter")
    send = ws.wait(desk, lambda f: f["t"] == "send", "send")
    assert (send["conv"], send["text"]) == ("c1", "Hi Wang, how can I help?")
    mine = desk.locator(".transcript .msg.own")
    expect(mine).to_have_attribute("data-status", "sending")
    before = len(ws.frames)
    ws.drop()
    expect(desk.locator('[data-testid="conn"]')).to_have_text("Connection lost, reconnecting…")
    hello = ws.wait(desk, lambda f: f["t"] == "hello", "second hello", before)
    assert hello["resume"] == {"c1": 1}
    ws.push(t="welcome", role="agent", agent="a1", name="Li Na")
    again = ws.wait(desk, lambda f: f["t"] == "send", "resend", before)
    assert again["cid"] == send["cid"]
    ws.push(t="ack", conv="c1", cid=send["cid"], seq=2)
    expect(mine.locator(".status")).to_have_text("Sent")
    ws.push(t="msg", conv="c1", seq=2, **{"from": "agent"}, name="Li Na", cid=send["cid"],
            text="Hi Wang, how can I help?", file=None, at="2026-05-09T10:01:00Z")
    ws.push(t="receipt", conv="c1", kind="read", seq=2)
    expect(mine.locator(".status")).to_have_text("Read")
    expect(mine).to_have_count(1)
    ws.push(t="typing", conv="c1", **{"from": "customer"})
    expect(desk.locator(".typing")).to_have_text("The customer is typing…")
    desk.locator("textarea.reply").press_sequentially("ok", delay=20)
    ws.wait(desk, lambda f: f["t"] == "typing", "typing")


def test_end_wrap_up_and_transfer_send_their_frames(desk: Page, desk_url: str,
                                                    ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    card(ws, "c1", "Wang")
    desk.locator(".transfer-open").click()
    desk.locator('.transfer select[name="queue"]').select_option("support")
    desk.locator(".transfer button[type=submit]").click()
    assert ws.wait(desk, lambda f: f["t"] == "transfer", "transfer") == {
        "t": "transfer", "contact": "c1", "queue": "support"}
    expect(desk.locator(".transfer-sent")).to_be_visible()
    desk.locator(".end-chat").click()
    assert ws.wait(desk, lambda f: f["t"] == "end", "end") == {"t": "end", "conv": "c1"}
    ws.push(t="ended", conv="c1", by="agent")
    card(ws, "c1", "Wang", state="wrap_up")
    expect(tab(desk, "c1").locator(".badge")).to_have_text("Wrap-up")
    expect(desk.locator("textarea.reply")).to_have_count(0)
    desk.locator('.wrapup select[name="code"]').select_option("callback")
    desk.locator('.wrapup textarea[name="notes"]').fill("call back tomorrow")
    desk.locator(".wrapup button[type=submit]").click()
    assert ws.wait(desk, lambda f: f["t"] == "wrapup", "wrapup") == {
        "t": "wrapup", "contact": "c1", "code": "callback", "notes": "call back tomorrow"}
    expect(desk.locator(".wrapup-sent")).to_be_visible()
    ws.push(t="card_gone", contact="c1")
    expect(tab(desk, "c1")).to_have_count(0)
    expect(desk.locator(".pick")).to_have_text("Select a chat on the left.")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_desk_fits_1280x800_and_is_screenshotted(desk: Page, desk_url: str, ws: FakeWs,
                                                 lang: str) -> None:
    open_desk(desk, desk_url, ws, lang)
    ws.push(t="agent", state="ready", reason="", chats=2, max_chats=3, voice=False)
    ws.push(t="offer", contact="c9", medium="chat", conv="c9", customer="陈静", queue="support",
            expires_in=30)
    now = datetime.now(UTC)
    card(ws, "c1", "张伟", since=(now - timedelta(minutes=4, seconds=12)).isoformat())
    card(ws, "c2", "王芳", since=(now - timedelta(seconds=48)).isoformat())
    first = "我的订单 42 还没有到。" if lang == "zh" else "My order 42 has not arrived."
    customer_msg(ws, "c1", 1, first)
    ws.push(t="msg", conv="c1", seq=2, **{"from": "agent"}, name="Li Na", cid="x2",
            text="我查一下，请稍等。" if lang == "zh" else "Let me check, one moment.", file=None,
            at="2026-05-09T10:00:30Z")
    ws.push(t="msg", conv="c1", seq=3, **{"from": "customer"}, name="", cid="k3", text="",
            file={"id": "f-1", "name": "receipt.png", "type": "image/png", "size": 70},
            at="2026-05-09T10:01:00Z")
    customer_msg(ws, "c2", 1, "你好" if lang == "zh" else "Hello")
    expect(desk.locator(".pop-name")).to_have_text("Zhang Wei")
    expect(desk.locator(".ivr-path")).to_have_text("main › orders › agent")
    expect(desk.locator(".transcript img.inline-image")).to_have_js_property("naturalWidth", 4)
    assert desk.evaluate("document.documentElement.scrollWidth") <= 1280
    assert desk.evaluate("document.documentElement.scrollHeight") <= 800
    shot = SCREENSHOTS / f"desk-{lang}.png"
    desk.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


def test_sign_in_page_shows_the_error_and_carries_the_csrf_token(desk: Page,
                                                                  desk_url: str) -> None:
    desk.goto(f"{desk_url}/desk/login?lang=zh")
    expect(desk.locator("h1")).to_have_text("登录坐席工作台")
    expect(desk.locator(".login-error")).to_have_count(0)
    desk.locator('input[name="username"]').fill("li")
    desk.locator('input[name="password"]').fill("wrong")
    with desk.expect_navigation():
        desk.locator("button[type=submit]").click()
    expect(desk.locator(".login-error")).to_have_text("用户名或密码错误。")
    assert desk.locator('input[name="csrf_token"]').get_attribute("value") == "csrf-2"


def test_the_desk_socket_module_is_the_chat_one() -> None:
    def code(path: Path) -> list[str]:
        return [ln for ln in path.read_text(encoding="utf-8").splitlines()
                if not ln.startswith((" *", "/*"))]

    assert code(DESK / "static" / "socket.js") == code(CHAT_STATIC / "socket.js")


def test_the_vendored_library_is_recorded_with_version_and_licence() -> None:
    readme = (DESK / "static" / "vendor" / "README.md").read_text(encoding="utf-8")
    assert "htm-preact-standalone.mjs" in readme and "3.1.1" in readme and "MIT" in readme
    assert (DESK / "static" / "vendor" / "htm-preact-standalone.mjs").stat().st_size > 10_000


def test_a_connected_call_is_transferred_from_its_card_and_a_refusal_brings_the_form_back(
        desk: Page, desk_url: str, ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    ws.push(t="card", contact="call-1", medium="voice", conv=None, customer="13800138000",
            queue="service", since="", state="connected")
    desk.locator('.calls .tab[data-contact="call-1"]').click()
    desk.locator(".transfer-open").click()
    desk.locator('.transfer select[name="queue"]').select_option("support")
    desk.locator(".transfer button[type=submit]").click()
    assert ws.wait(desk, lambda f: f["t"] == "transfer", "transfer") == {
        "t": "transfer", "contact": "call-1", "queue": "support"}
    expect(desk.locator(".transfer-sent")).to_be_visible()
    ws.push(t="error", code="no_agent_leg", message="this call cannot be transferred now",
            ref=None)
    expect(desk.get_by_text("this call cannot be transferred now")).to_be_visible()
    expect(desk.locator(".transfer button[type=submit]")).to_be_visible()  # try again
    expect(desk.locator(".transfer-sent")).to_have_count(0)
    ws.push(t="transferring", contact="call-1", to="support")  # accepted: then the card goes
    ws.push(t="card_gone", contact="call-1")
    expect(desk.locator('.calls .tab[data-contact="call-1"]')).to_have_count(0)


def test_a_callback_offer_shows_the_number_and_accept_rings_the_agents_phone_first(
        desk: Page, desk_url: str, ws: FakeWs) -> None:
    open_desk(desk, desk_url, ws)
    ws.push(t="offer", contact="cb1", medium="callback", conv=None, customer="13800138000",
            queue="callbacks", expires_in=20)
    offer = desk.locator('.offer[data-contact="cb1"]')
    expect(offer.locator("h2")).to_contain_text("Callback request")
    expect(offer.locator(".customer")).to_have_text("13800138000")
    offer.locator(".accept").click()
    assert ws.wait(desk, lambda f: f["t"] == "accept", "accept") == {"t": "accept",
                                                                     "contact": "cb1"}
    ws.push(t="offer_gone", contact="cb1", why="accepted")
    ws.push(t="card", contact="cb1", medium="callback", conv=None, customer="13800138000",
            queue="callbacks", since="", state="connected")
    desk.locator('.calls .tab[data-contact="cb1"]').click()
    expect(desk.locator(".contact .empty")).to_have_text(
        "Callback: your phone, then the customer's.")
    expect(desk.locator(".transfer-open")).to_have_count(0)  # a callback is not transferred
