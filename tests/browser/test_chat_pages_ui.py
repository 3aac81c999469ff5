"""The customer chat panel and the widget loader in headless Chromium, against a scripted
WebSocket server (Playwright's ``route_web_socket``): what a customer sees and what the page
sends, frame by frame (docs/REALTIME.md). The pages are the real templates and static files,
served by a tiny Flask app with the production CSP (``script-src 'self'``)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, Response, jsonify, render_template, request
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, WebSocketRoute, expect

from cti.channels.chat.web.strings import STRINGS
from tests.browser.conftest import PHONE, SCREENSHOTS, serve

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
CHAT_WEB = REPO / "cti" / "channels" / "chat" / "web"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
       "connect-src 'self'; base-uri 'none'; "
       "form-action 'self'")
PNG = base64.b64decode(  # 4x4 red
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAEAQMAAACTPww9AAAAA1BMVEX/AAAZ4gk3AAAAC0lEQVQI12NgQAcAABAAAT"
    "N1l9UAAAAASUVORK5CYII=")
XSS = "<img src=x onerror=alert(1)>"
NEW_GLOBALS = """() => {
  const f = document.createElement("iframe");
  document.body.appendChild(f);
  const base = new Set(Object.getOwnPropertyNames(f.contentWindow));
  f.remove();
  return Object.getOwnPropertyNames(window).filter((k) => !base.has(k));
}"""
TOKEN = "tok-visitor-1"
MAX_FILE = 50_000


# ---------------------------------------------------------------------- the scripted server


@dataclass
class FakeWs:
    """The server end of the page's WebSocket: what it received, and a way to push frames."""

    sockets: list[WebSocketRoute] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.route_web_socket("**/ws", self._accept)

    def _accept(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda m: self.frames.append(json.loads(m)))

    def push(self, **frame: Any) -> None:
        self.sockets[-1].send(json.dumps(frame, ensure_ascii=False))

    def drop(self) -> None:
        self.sockets[-1].close(code=1006, reason="gone")

    def wait(self, page: Page, pred: Callable[[dict[str, Any]], bool], what: str,
             after: int = 0, timeout: float = 5.0) -> dict[str, Any]:
        """The first frame (from index ``after``) that ``pred`` accepts; events are
        dispatched while Playwright waits, so poll with short page waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.frames[after:]:
                if pred(f):
                    return f
            page.wait_for_timeout(20)
        raise AssertionError(f"no {what} frame; got {self.frames[after:]}")

    def of(self, kind: str, after: int = 0) -> list[dict[str, Any]]:
        return [f for f in self.frames[after:] if f.get("t") == kind]


# ---------------------------------------------------------------------- the pages


@dataclass
class Site:
    url: str
    other_origin: str
    uploads: list[dict[str, Any]]


def chat_app(uploads: list[dict[str, Any]]) -> Flask:
    app = Flask(__name__, static_folder=None)
    bp = Blueprint("chat", __name__, template_folder=str(CHAT_WEB / "templates"),
                   static_folder=str(CHAT_WEB / "static"), static_url_path="/chat/static")

    @bp.route("/chat/")
    def chat_page() -> str:
        lang = request.args.get("lang", "zh")
        return render_template("chat.html", lang=lang, strings=STRINGS[lang], ws_url="/ws",
                               max_file_bytes=MAX_FILE,
                               accept="image/png,image/jpeg,application/pdf,text/plain")

    @bp.route("/widget.js")
    def widget() -> Response:
        resp = bp.send_static_file("widget.js")
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    @bp.route("/chat/files", methods=["POST"])
    def upload() -> Any:
        f = request.files["file"]
        uploads.append({"auth": request.headers.get("Authorization"),
                        "conv": request.form.get("conv"), "name": f.filename,
                        "type": f.mimetype, "size": len(f.read())})
        return jsonify({"id": "f-1", "name": f.filename, "type": f.mimetype,
                        "size": uploads[-1]["size"]}), 201

    @bp.route("/chat/files/<file_id>")
    def download(file_id: str) -> Any:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return jsonify({"error": "no_file"}), 404
        return Response(PNG, mimetype="image/png")

    @bp.route("/merchant")
    def merchant() -> str:
        src = request.args["src"]
        return (f'<!doctype html><html><head><title>shop</title><meta name="viewport" '
                f'content="width=device-width, initial-scale=1"></head><body><h1>Shop</h1>'
                f'<script src="{src}/widget.js" data-lang="en" data-identity="claims.sig" '
                f"async></script></body></html>")

    app.register_blueprint(bp)

    @app.after_request
    def csp(resp: Response) -> Response:
        if request.path != "/merchant":
            resp.headers["Content-Security-Policy"] = CSP
        return resp

    return app


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    uploads: list[dict[str, Any]] = []
    with serve(chat_app(uploads)) as url:
        yield Site(url, url.replace("127.0.0.1", "localhost"), uploads)


@pytest.fixture()
def ws(page: Page) -> FakeWs:
    fake = FakeWs()
    fake.attach(page.context)
    return fake


@pytest.fixture()
def console(page: Page) -> list[str]:
    seen: list[str] = []

    def note(m: ConsoleMessage) -> None:
        if m.type in ("error", "warning"):
            seen.append(m.text)

    page.on("console", note)
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on("dialog", lambda d: seen.append("dialog: " + d.message))
    return seen


def open_chat(page: Page, site: Site, ws: FakeWs, lang: str = "en",
              **welcome: Any) -> dict[str, Any]:
    page.goto(f"{site.url}/chat/?lang={lang}")
    hello = ws.wait(page, lambda f: f["t"] == "hello", "hello")
    frame = {"visitor": TOKEN, "conv": None, "open": True, "reason": None} | welcome
    ws.push(t="welcome", role="customer", **frame)
    expect(page.locator("#conn")).to_be_hidden()
    return hello


def say(page: Page, ws: FakeWs, text: str) -> dict[str, Any]:
    before = len(ws.frames)
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    return ws.wait(page, lambda f: f["t"] == "send" and f.get("text") == text, "send", before)


def agent_msg(ws: FakeWs, seq: int, text: str, conv: str = "c1", **extra: Any) -> None:
    ws.push(t="msg", conv=conv, seq=seq, **{"from": "agent"}, name="Li", cid=f"a{seq}",
            text=text, file=None, at="2026-05-09T10:00:00Z", **extra)


def no_csp_trouble(console: list[str]) -> None:
    assert not [m for m in console if "Content Security Policy" in m or "dialog" in m], console


# ---------------------------------------------------------------------- the tests


def test_hello_names_a_customer_and_welcome_token_is_kept(page: Page, site: Site, ws: FakeWs,
                                                          console: list[str]) -> None:
    hello = open_chat(page, site, ws)
    assert hello == {"t": "hello", "role": "customer", "visitor": None, "identity": None,
                     "lang": "en", "resume": {}}
    assert page.evaluate("localStorage.getItem('hotline.visitor')") == TOKEN
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#greeting")).to_contain_text("Send us a message")
    no_csp_trouble(console)


def test_own_message_goes_sending_sent_delivered_read(page: Page, site: Site,
                                                      ws: FakeWs) -> None:
    open_chat(page, site, ws)
    page.locator("#text").fill("Where is my parcel?")
    page.locator("#emoji").click()
    page.locator(".emoji-panel .emoji", has_text="👍").click()
    page.locator("#send").click()
    send = ws.wait(page, lambda f: f["t"] == "send", "send")
    assert send["text"] == "Where is my parcel?👍"
    assert send["conv"] is None and send["cid"]
    bubble = page.locator("li.msg.own")
    expect(bubble).to_have_attribute("data-status", "sending")
    ws.push(t="ack", conv="c1", cid=send["cid"], seq=1)
    expect(bubble).to_have_attribute("data-status", "sent")
    expect(bubble.locator(".status")).to_have_text("Sent")
    ws.push(t="msg", conv="c1", seq=1, **{"from": "customer"}, name="", cid=send["cid"],
            text="Where is my parcel?👍", file=None, at="2026-05-09T10:00:00Z")
    ws.push(t="receipt", conv="c1", kind="delivered", seq=1)
    expect(bubble.locator(".status")).to_have_text("Delivered")
    ws.push(t="receipt", conv="c1", kind="read", seq=1)
    expect(bubble.locator(".status")).to_have_text("Read")
    assert bubble.count() == 1  # the echo of our own message is not shown twice
    assert page.evaluate("JSON.parse(localStorage.getItem('hotline.outbox'))") == []


def test_a_replayed_message_is_shown_once_and_seen_and_read_are_sent(page: Page, site: Site,
                                                                     ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    agent_msg(ws, 1, "Hello, this is Li.")
    agent_msg(ws, 2, "How can I help?")
    agent_msg(ws, 1, "Hello, this is Li.")  # a replay after a reconnect
    agent_msg(ws, 2, "How can I help?")
    expect(page.locator("li.msg.agent")).to_have_count(2)
    expect(page.locator("li.msg.agent .who").first).to_have_text("Li")
    ws.wait(page, lambda f: f["t"] == "seen" and f["seq"] == 2, "seen 2")
    ws.wait(page, lambda f: f["t"] == "read" and f["seq"] == 2, "read 2")
    assert [f["seq"] for f in ws.of("seen")] == [1, 2]
    assert page.evaluate("JSON.parse(localStorage.getItem('hotline.resume'))") == {"c1": 2}


def test_queue_position_then_joined(page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    ws.push(t="queue", conv="c1", position=3, wait_s=110)
    expect(page.locator("#queue")).to_have_text("You are number 3 in line, about 2 min.")
    ws.push(t="queue", conv="c1", position=1, wait_s=None)
    expect(page.locator("#queue")).to_have_text("You are number 1 in line.")
    ws.push(t="joined", conv="c1", name="Li")
    expect(page.locator("li.line.joined")).to_have_text("Li joined the chat.")
    expect(page.locator("#queue")).to_be_hidden()


def test_typing_is_sent_at_most_every_two_seconds_and_the_agents_is_shown(
        page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    page.locator("#text").press_sequentially("hel", delay=30)
    ws.wait(page, lambda f: f["t"] == "typing", "typing")
    page.locator("#text").press_sequentially("lo", delay=30)
    assert len(ws.of("typing")) == 1
    ws.push(t="typing", conv="c1", **{"from": "agent"})
    expect(page.locator("#typing")).to_be_visible()
    expect(page.locator("#typing")).to_have_text("The agent is typing…")
    expect(page.locator("#typing")).to_be_hidden(timeout=6000)  # 4 s after the frame


def test_agent_text_that_looks_like_html_is_shown_literally(page: Page, site: Site,
                                                            ws: FakeWs,
                                                            console: list[str]) -> None:
    open_chat(page, site, ws, conv="c1")
    agent_msg(ws, 1, XSS)
    ws.push(t="joined", conv="c1", name=XSS)
    expect(page.locator("li.msg.agent .text")).to_have_text(XSS)
    expect(page.locator("li.line.joined")).to_have_text(f"{XSS} joined the chat.")
    assert page.locator("#messages img").count() == 0
    no_csp_trouble(console)


def test_unacked_send_is_resent_with_the_same_cid_after_reconnect(page: Page, site: Site,
                                                                  ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    agent_msg(ws, 1, "Hi")
    send = say(page, ws, "Are you there?")
    before = len(ws.frames)
    ws.drop()
    expect(page.locator("#conn")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Connection lost, reconnecting…")
    hello = ws.wait(page, lambda f: f["t"] == "hello", "second hello", before)
    assert hello["visitor"] == TOKEN and hello["resume"] == {"c1": 1}
    ws.push(t="welcome", role="customer", visitor=TOKEN, conv="c1", open=True, reason=None)
    again = ws.wait(page, lambda f: f["t"] == "send", "resend", before)
    assert again["cid"] == send["cid"] and again["text"] == "Are you there?"
    assert again["conv"] == "c1"
    expect(page.locator("#conn")).to_be_hidden()
    ws.push(t="ack", conv="c1", cid=send["cid"], seq=2)
    expect(page.locator("li.msg.own")).to_have_attribute("data-status", "sent")
    assert len(ws.sockets) == 2


def test_a_reload_shows_the_kept_transcript_and_resumes_after_it(page: Page, site: Site,
                                                                 ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    agent_msg(ws, 1, "Your order ships today.")
    send = say(page, ws, "Thanks!")
    ws.push(t="ack", conv="c1", cid=send["cid"], seq=2)
    expect(page.locator("li.msg.own")).to_have_attribute("data-status", "sent")
    page.reload()
    expect(page.locator("li.msg")).to_have_count(2)
    hello = ws.wait(page, lambda f: f["t"] == "hello" and f["visitor"] == TOKEN, "hello")
    assert hello["resume"] == {"c1": 1}
    ws.push(t="welcome", role="customer", visitor=TOKEN, conv="c1", open=True, reason=None)
    ws.push(t="msg", conv="c1", seq=2, **{"from": "customer"}, name="", cid=send["cid"],
            text="Thanks!", file=None, at="2026-05-09T10:01:00Z")
    agent_msg(ws, 3, "You're welcome.")
    expect(page.locator("li.msg")).to_have_count(3)


def test_closed_chat_offers_a_leave_a_message_form(page: Page, site: Site,
                                                   ws: FakeWs) -> None:
    open_chat(page, site, ws, open=False, reason="after_hours")
    expect(page.locator("#offline-reason")).to_have_text("We are closed right now.")
    expect(page.locator("#composer")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SCREENSHOTS / "chat-closed-en.png"))
    page.locator('#leave input[name="name"]').fill("Wang")
    page.locator('#leave input[name="phone"]').fill("not a phone")
    page.locator("#leave-send").click()
    assert not ws.of("leave_message")
    page.locator('#leave input[name="phone"]').fill("+86 138 0000 0000")
    page.locator('#leave textarea[name="text"]').fill("Please call me about order 42")
    page.locator("#leave-send").click()
    left = ws.wait(page, lambda f: f["t"] == "leave_message", "leave_message")
    assert (left["name"], left["phone"], left["text"]) == (
        "Wang", "+86 138 0000 0000", "Please call me about order 42")
    ws.push(t="left", cid=left["cid"], ref="L-42")
    expect(page.locator("#left")).to_have_text("Thank you, we have your message (reference L-42).")
    expect(page.locator("#leave")).to_be_hidden()


def test_closed_chat_offers_a_call_back_confirmed_only_once_it_is_stored(
        page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws, open=False, reason="after_hours")
    form = page.locator("#callback")
    expect(form).to_be_visible()
    form.locator('input[name="phone"]').fill("call me")
    page.locator("#callback-send").click()
    assert not ws.of("callback")  # not a number: refused in the page
    form.locator('input[name="phone"]').fill("138 0013 8000")
    page.locator("#callback-send").click()
    asked = ws.wait(page, lambda f: f["t"] == "callback", "callback")
    assert asked["phone"] == "138 0013 8000"
    expect(page.locator("#called")).to_be_hidden()  # nothing promised before the server says
    ws.push(t="callback_ok", cid=asked["cid"], ref="cb42")
    expect(page.locator("#called")).to_have_text(
        "Thank you: an agent will call you back in your turn (reference cb42).")
    expect(form).to_be_hidden()


def test_an_open_chat_can_ask_for_a_call_back_and_a_refusal_is_shown(
        page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws)
    expect(page.locator("#callback")).to_be_hidden()
    page.locator("#callback-open").click()
    page.locator('#callback input[name="phone"]').fill("+86 138 0013 8000")
    page.locator("#callback-send").click()
    asked = ws.wait(page, lambda f: f["t"] == "callback", "callback")
    ws.push(t="error", code="not_stored", message="callback not taken", ref=asked["cid"])
    expect(page.locator("#callback-send")).to_be_enabled()
    expect(page.locator("#called")).to_be_hidden()


def test_no_agents_reason_is_shown(page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws, lang="zh", open=False, reason="no_agents")
    expect(page.locator("#offline-reason")).to_have_text(STRINGS["zh"]["closed_no_agents"])


def test_ended_chat_offers_a_new_one(page: Page, site: Site, ws: FakeWs) -> None:
    open_chat(page, site, ws, conv="c1")
    agent_msg(ws, 1, "Bye")
    ws.push(t="ended", conv="c1", by="agent")
    expect(page.locator("#ended")).to_be_visible()
    expect(page.locator("#composer")).to_be_hidden()
    page.locator("#new-chat").click()
    expect(page.locator("li.msg")).to_have_count(0)
    send = say(page, ws, "One more question")
    assert send["conv"] is None


def test_files_are_checked_uploaded_with_the_token_and_shown_inline(
        page: Page, site: Site, ws: FakeWs, console: list[str]) -> None:
    open_chat(page, site, ws, conv="c1")
    page.locator("#attach").set_input_files(
        {"name": "big.png", "mimeType": "image/png", "buffer": b"\0" * (MAX_FILE + 1)})
    expect(page.locator("#notice")).to_contain_text("too big")
    page.locator("#attach").set_input_files(
        {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"})
    expect(page.locator("#notice")).to_have_text("This kind of file cannot be sent.")
    assert site.uploads == []
    page.locator("#attach").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": PNG})
    send = ws.wait(page, lambda f: f["t"] == "send" and "file" in f, "file send")
    assert send == {"t": "send", "conv": "c1", "cid": send["cid"], "file": "f-1"}
    assert site.uploads[-1] == {"auth": f"Bearer {TOKEN}", "conv": "c1", "name": "photo.png",
                                "type": "image/png", "size": len(PNG)}
    ws.push(t="msg", conv="c1", seq=1, **{"from": "agent"}, name="Li", cid="a1", text="",
            file={"id": "f-9", "name": "label.png", "type": "image/png", "size": len(PNG)},
            at="2026-05-09T10:00:00Z")
    ws.push(t="msg", conv="c1", seq=2, **{"from": "agent"}, name="Li", cid="a2", text="",
            file={"id": "f-8", "name": "terms.pdf", "type": "application/pdf", "size": 2048},
            at="2026-05-09T10:00:00Z")
    link = page.locator("li.msg.agent a.download")
    expect(link).to_have_text("terms.pdf (2 KB)")
    with page.expect_download() as got:
        link.click()
    assert got.value.suggested_filename == "terms.pdf"
    img = page.locator("li.msg.agent img.inline-image")
    expect(img).to_have_attribute("src", re.compile(r"^blob:"))
    expect(img).to_have_js_property("naturalWidth", 4)  # fetched with the token
    no_csp_trouble(console)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chat_panel_fits_a_360px_phone_and_is_screenshotted(page: Page, site: Site,
                                                            ws: FakeWs, lang: str) -> None:
    open_chat(page, site, ws, lang=lang, conv="c1")
    ws.push(t="queue", conv="c1", position=2, wait_s=60)
    ws.push(t="joined", conv="c1", name="李娜" if lang == "zh" else "Lina")
    agent_msg(ws, 1, "您好，请问有什么可以帮您？" if lang == "zh" else "Hi, how can I help?")
    send = say(page, ws, "我的快递到哪了？" if lang == "zh" else "Where is my parcel?")
    ws.push(t="ack", conv="c1", cid=send["cid"], seq=2)
    ws.push(t="receipt", conv="c1", kind="read", seq=2)
    ws.push(t="typing", conv="c1", **{"from": "agent"})
    expect(page.locator("li.msg.own .status")).to_have_text(STRINGS[lang]["status_read"])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for target in page.locator("button:visible, textarea:visible").all():
        box = target.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot = SCREENSHOTS / f"chat-panel-{lang}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.locator("#emoji").click()
    expect(page.locator(".emoji-panel .emoji")).to_have_count(24)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_widget_opens_the_panel_and_hands_over_the_identity_by_postmessage(
        page: Page, site: Site, ws: FakeWs) -> None:
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(f"{site.other_origin}/merchant?src={site.url}")
    button = page.locator('button[data-hotline="button"]')
    expect(button).to_be_visible()
    assert page.evaluate("Object.keys(HotlineChat).sort()") == ["close", "open"]
    assert page.evaluate(NEW_GLOBALS) == ["HotlineChat"]
    button.click()
    frame = page.locator('iframe[data-hotline="panel"]')
    expect(frame).to_be_visible()
    assert frame.get_attribute("src") == f"{site.url}/chat/?lang=en"
    hello = ws.wait(page, lambda f: f["t"] == "hello", "hello")
    assert hello["identity"] == "claims.sig" and hello["lang"] == "en"
    box = frame.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (380, 600)
    ws.push(t="welcome", role="customer", visitor=TOKEN, conv=None, open=True, reason=None)
    panel = page.frame_locator('iframe[data-hotline="panel"]')
    expect(panel.locator("#composer")).to_be_visible()
    button.click()
    expect(frame).to_be_hidden()
    agent_msg(ws, 1, "Hello from Li", conv="c5")  # a chat opened meanwhile; panel hidden
    ws.wait(page, lambda f: f["t"] == "seen" and f["seq"] == 1, "seen")
    page.wait_for_timeout(200)
    assert not ws.of("read")  # delivered, but not read: the panel is closed
    page.evaluate("HotlineChat.open()")
    expect(frame).to_be_visible()
    ws.wait(page, lambda f: f["t"] == "read" and f["conv"] == "c5", "read once shown")
    page.set_viewport_size({"width": 360, "height": 740})
    expect(button).to_be_hidden()  # full screen: the panel's own close button is used
    box = frame.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (360, 740)
    panel.locator("#close").click()
    expect(frame).to_be_hidden()
    expect(button).to_be_visible()


def test_reconnect_backoff_starts_at_half_a_second_and_doubles_to_ten(page: Page, site: Site,
                                                                      ws: FakeWs) -> None:
    open_chat(page, site, ws)
    delays = page.evaluate("""async () => {
      const m = await import("/chat/static/socket.js");
      const at = (r) => [0, 1, 2, 3, 4, 5, 9, 40].map((a) => m.backoffDelay(a, () => r));
      return [at(0.5), at(0), at(0.999)];
    }""")
    assert delays[0] == [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]
    assert delays[1] == [400, 800, 1600, 3200, 6400, 8000, 8000, 8000]  # jitter: -20 %
    assert all(x <= 10000 for x in delays[2]) and delays[2][0] == 600
