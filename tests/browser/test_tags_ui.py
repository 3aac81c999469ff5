"""Customer tags in the screen pop, in headless Chromium against the real chat site: an agent
holding a chat types a tag and presses Add, sees it, reloads and still sees it, removes it
with its × button; a bad tag shows its reason and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from cti.agents.desktop.strings import STRINGS
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_chat_e2e import (  # noqa: F401 (people: a fixture)
    People,
    accept,
    open_panel,
    people,
    say,
    set_ready,
    sign_in,
)
from tests.chat.harness import chat_site

W = STRINGS["en"]


@pytest.mark.browser
def test_an_agent_tags_the_customer_in_the_screen_pop_and_removes_the_tag(
    people: People,  # noqa: F811
    tmp_path: Path,
) -> None:
    with chat_site(tmp_path) as site:
        desk = sign_in(people, site, "alice", "agent1001")
        set_ready(desk)
        customer = open_panel(people, site)
        say(customer, "My parcel is late again")
        accept(desk)
        pop = desk.locator(".pop")
        expect(pop.locator(".tags-none")).to_have_text(W["tags_none"])

        pop.locator("input.tag-input").fill(" Complaint ")
        pop.locator(".tag-add button[type=submit]").click()
        expect(pop.locator(".tag-list .tag-text")).to_have_text(["complaint"])
        pop.locator("input.tag-input").fill("投诉")
        pop.locator("input.tag-input").press("Enter")
        expect(pop.locator(".tag-list .tag-text")).to_have_text(["complaint", "投诉"])
        expect(pop.locator("input.tag-input")).to_have_value("")

        pop.locator("input.tag-input").fill("not ok!")
        pop.locator(".tag-add button[type=submit]").click()
        expect(pop.locator(".tag-error")).to_have_text(W["tags_error_invalid_tag"])
        expect(pop.locator(".tag-list .tag-text")).to_have_text(["complaint", "投诉"])
        desk.screenshot(path=str(SCREENSHOTS / "desk-tags.png"))

        desk.reload()  # stored: the screen pop shows them again
        expect(desk.locator(".pop .tag-list .tag-text")).to_have_text(["complaint", "投诉"])
        desk.locator('.pop .tag[data-tag="complaint"] button.tag-remove').click()
        expect(desk.locator(".pop .tag-list .tag-text")).to_have_text(["投诉"])
        desk.locator('.pop .tag[data-tag="投诉"] button.tag-remove').click()
        expect(desk.locator(".pop .tags-none")).to_be_visible()
