"""Recommended answers at the desktop, in headless Chromium against the real chat server
(``tests.chat.harness``) with the demo shop's knowledge base: a customer asks, the agent
sees the best three answers, sends one with a click (the customer receives it), then edits
another before sending it. The suggestion route answers only the agent holding the chat."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from cti.records import knowledge as kb
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_chat_e2e import (  # noqa: F401 (people: a fixture)
    XSS,
    People,
    accept,
    open_panel,
    people,
    say,
    set_ready,
    sign_in,
)
from tests.chat.harness import Site, chat_site
from tests.chat.test_chat_protocol import desk, open_chat
from web_admin.bootstrap import ensure_demo_knowledge

REFUND_EN = "How long does a refund take?"
INVOICE_TITLE_ZH = "发票抬头或税号开错了能重开吗？"


def suggestions(desk: Page) -> list[str]:
    return desk.locator(".suggestions .suggestion .s-question").all_inner_texts()


@pytest.mark.browser
def test_an_agent_sends_a_suggested_answer_with_one_click_and_edits_another(
    people: People,  # noqa: F811
    tmp_path: Path,
) -> None:
    with chat_site(tmp_path) as site:
        assert ensure_demo_knowledge(site.sf) > 40
        desk = sign_in(people, site, "alice", "agent1001")
        set_ready(desk)
        customer = open_panel(people, site)
        say(customer, "Hello")
        accept(desk)
        expect(desk.locator(".suggestions .suggest-none")).to_be_visible()  # "hello": nothing

        say(customer, "how long does the refund take to reach my card?")
        box = desk.locator(".suggestions")
        expect(box.locator(".suggestion")).to_have_count(3)
        expect(box.locator(".suggestion").first.locator(".s-question")).to_have_text(REFUND_EN)
        answer = kb.list_articles(site.sf, search=REFUND_EN)[0][0].answer
        expect(box.locator(".suggestion").first.locator(".s-answer")).to_have_text(answer)

        box.locator(".suggestion").first.locator("button.suggest-send").click()
        expect(customer.locator("li.msg.agent .text")).to_have_text([answer])
        expect(desk.locator(".transcript .msg.own .text")).to_have_text([answer])
        expect(box.locator(".suggestion").first.locator("button.suggest-send")).to_be_disabled()

        # the customer writes in Chinese: the answers follow the language of the message
        say(customer, "还有，我的发票抬头写错了")
        expect(box.locator(".suggestion").first.locator(".s-question")).to_have_text(
            INVOICE_TITLE_ZH
        )
        box.locator(".suggestion").first.locator("button.suggest-edit").click()
        composer = desk.locator(".composer textarea.reply")
        zh_answer = kb.list_articles(site.sf, search=INVOICE_TITLE_ZH)[0][0].answer
        expect(composer).to_have_value(zh_answer)
        expect(composer).to_be_focused()
        composer.press("End")
        composer.type(" 请把新的抬头发给我。")
        desk.locator(".composer button.send").click()
        edited = zh_answer + " 请把新的抬头发给我。"
        expect(customer.locator("li.msg.agent .text")).to_have_text([answer, edited])

        shot = SCREENSHOTS / "kb-suggest-desk.png"
        desk.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_an_answer_holding_markup_is_shown_and_sent_as_text(
    people: People,  # noqa: F811
    tmp_path: Path,
) -> None:
    with chat_site(tmp_path) as site:
        kb.create_article(
            site.sf,
            kb.ArticleDraft(
                "gift-wrap", "en", "Do you gift wrap?", f"Yes {XSS}", "gift wrap wrapping"
            ),
            by="sup",
            now=datetime.now(UTC),
        )
        desk = sign_in(people, site, "alice", "agent1001")
        set_ready(desk)
        customer = open_panel(people, site)
        say(customer, "can you gift wrap it?")
        accept(desk)
        first = desk.locator(".suggestions .suggestion").first
        expect(first.locator(".s-answer")).to_have_text(f"Yes {XSS}")
        assert desk.locator(".suggestions img").count() == 0
        first.locator("button.suggest-send").click()
        expect(customer.locator("li.msg.agent .text")).to_have_text([f"Yes {XSS}"])
        assert customer.locator("li.msg img").count() == 0


def _suggest(site: Site, contact: str, token: str | None) -> httpx.Response:
    cookies = {"hotline_desk": token} if token else None
    return httpx.get(
        f"{site.url}/desk/api/contacts/{contact}/suggestions", cookies=cookies, timeout=10
    )


def test_only_the_agent_holding_the_chat_gets_its_suggestions(tmp_path: Path) -> None:
    with chat_site(tmp_path) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, _ = open_chat(site, customer, "I forgot my password")
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        agent.wait("card", contact=conv)
        alice = site.agent_cookie("alice", "agent1001")  # a second desktop session of hers
        bob = site.agent_cookie("bob", "agent1002")
        mine = _suggest(site, conv, alice)
        assert mine.status_code == 200 and mine.headers["Cache-Control"] == "no-store"
        found = mine.json()["suggestions"]
        assert found[0]["key"] == "password-reset" and len(found) <= 3
        assert all(0 < s["confidence"] <= 1 and s["answer"] for s in found)
        assert _suggest(site, conv, bob).status_code == 404
        assert _suggest(site, conv, None).status_code == 401
        assert _suggest(site, "x" * 65, alice).status_code == 404
        assert _suggest(site, "no-such-chat", alice).status_code == 404
        agent.close()
        customer.close()
