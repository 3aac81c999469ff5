"""Bot first in headless Chromium against the real chat server (``chat.bot_first``, the
demo shop's knowledge base): a customer asks in the widget on a shop page, the bot answers
under its name and asks whether that helped, the customer taps "Talk to a person", and the
agent's desktop gets the offer and shows the bot's answer in the transcript."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cti.channels.chat.web.strings import STRINGS
from cti.records import knowledge as kb
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_chat_e2e import (  # noqa: F401 (people, merchant: fixtures)
    People,
    accept,
    merchant,
    open_widget,
    origin_of,
    people,
    say,
    set_ready,
    sign_in,
)
from tests.chat.harness import Site, chat_site
from web_admin.bootstrap import ensure_demo_knowledge

pytestmark = pytest.mark.browser
EN = STRINGS["en"]
QUESTION = "how long does the refund take to reach my card?"


@pytest.fixture()
def bot_site(tmp_path: Path, merchant: ThreadingHTTPServer) -> Iterator[Site]:  # noqa: F811
    with chat_site(tmp_path, allowed_origins=(origin_of(merchant),), bot_first=True) as site:
        merchant.widget_src = f"{site.url}/widget.js"  # type: ignore[attr-defined]
        assert ensure_demo_knowledge(site.sf) > 40
        yield site


def test_the_bot_answers_in_the_widget_and_hands_over_to_an_agent_who_sees_its_answer(
        people: People, bot_site: Site, merchant: ThreadingHTTPServer) -> None:  # noqa: F811
    site = bot_site
    alice = sign_in(people, site, "alice", "agent1001")
    set_ready(alice)
    shop, panel = open_widget(people, merchant)
    answer = kb.list_articles(site.sf, search="How long does a refund take?")[0][0].answer

    say(panel, QUESTION)
    bot = panel.locator("li.msg.bot")
    expect(bot.locator(".text")).to_have_text([answer, EN["bot_ask"]])
    expect(bot.first.locator(".who")).to_have_text(EN["bot"])
    replies = panel.locator("li.quick button.quick-reply")
    expect(replies).to_have_text([EN["bot_yes"], EN["bot_person"]])
    expect(panel.locator("#queue")).to_be_hidden()  # the bot has it: nobody is waited for
    expect(alice.locator(".offer")).to_have_count(0)
    shot = SCREENSHOTS / "bot-answers-en.png"
    shop.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    replies.filter(has_text=EN["bot_person"]).click()
    expect(panel.locator("li.quick")).to_have_count(0)
    expect(panel.locator("li.msg.own .text")).to_have_text([QUESTION, EN["bot_person"]])
    expect(bot.locator(".text")).to_have_text([answer, EN["bot_ask"], EN["bot_handover"]])

    accept(alice)
    expect(panel.locator("li.line.joined")).to_have_text("alice joined the chat.")
    transcript = alice.locator(".transcript .msg")
    expect(transcript.locator(".text")).to_have_text(
        [QUESTION, answer, EN["bot_ask"], EN["bot_person"], EN["bot_handover"]])
    expect(alice.locator(".transcript .msg.bot .who")).to_have_text([EN["bot"]] * 3)
    shot = SCREENSHOTS / "bot-handed-over-desk-en.png"
    alice.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
