"""The ITR in headless Chromium on a 360 px phone screen: layout, walk-throughs, exits."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from tests.browser.conftest import (
    PHONE,
    SCREENSHOTS,
    Itr,
    enter,
    press,
    running_itr,
    tap,
)
from tests.contract_cases import CLOSED

pytestmark = pytest.mark.browser
XSS = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'


def exit_data(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(page.locator("script#exit").text_content() or "null")
    return data


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def assert_fits_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for target in page.locator("button:visible, a.choice:visible, input:visible").all():
        box = target.bounding_box()
        assert box is not None
        assert box["height"] >= 44, target.inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], target.inner_text()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_main_menu_fits_a_360px_phone_and_is_screenshotted(page: Page, itr: Itr,
                                                           lang: str) -> None:
    page.goto(f"{itr.url}/f/demo_400?lang={lang}")
    first = "查询订单" if lang == "zh" else "Order status"
    assert page.locator('button.choice[data-key="1"]').inner_text().endswith(first)
    assert page.locator("button.choice").count() == 7  # "menu on my phone" hidden here
    assert_fits_phone(page)
    shot = SCREENSHOTS / f"itr-main-{lang}.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = png_size(shot)
    assert width == PHONE["width"] and height >= PHONE["height"]
    assert shot.stat().st_size > 10_000


def test_order_status_walk_through_shows_the_result_card(page: Page, itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400?lang=en")
    tap(page, "1")
    field = page.locator('input[name="digits"]')
    assert field.get_attribute("inputmode") == "numeric"
    assert field.get_attribute("pattern") == "[0-9]*"
    enter(page, "12345678")
    result = page.locator(".card-result")
    assert result.inner_text() == "Your order 12345678 has shipped and should arrive on 11/25."
    assert result.locator(".value").all_inner_texts() == ["12345678", "11", "25"]
    assert page.locator("button.choice").all_inner_texts()[0].endswith("Another order")
    assert_fits_phone(page)


def test_invalid_order_number_shows_the_retry_message(page: Page, itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400")
    tap(page, "1")
    enter(page, "1234")
    assert page.locator(".card-notice").inner_text() == "订单号应为8位数字。"
    assert page.locator('input[name="digits"]').is_visible()


def test_back_button_returns_to_the_previous_menu(page: Page, itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400")
    assert page.locator('[data-testid="back"]').count() == 0
    tap(page, "2")
    press(page, "back")
    assert page.locator('button.choice[data-key="1"]').is_visible()
    assert page.locator(".prompt").get_attribute("data-key") == "main.prompt"


def test_language_switch_keeps_the_place_and_changes_the_words(page: Page, itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400")
    tap(page, "1")
    press(page, "lang-en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator(".prompt").inner_text().startswith("Please enter your 8-digit order")
    assert page.locator('[data-testid="lang-en"]').is_disabled()
    press(page, "lang-zh")
    assert page.locator(".prompt").inner_text().startswith("请输入您的8位订单号")


def test_agent_during_opening_hours_says_an_agent_will_contact_you(page: Page,
                                                                   itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400?lang=en")
    tap(page, "0")
    outcome = page.locator(".outcome")
    assert outcome.get_attribute("data-kind") == "queue"
    assert "An agent will contact you" in outcome.inner_text()
    assert "please hold" not in page.locator("main").inner_text()
    data = exit_data(page)
    assert (data["kind"], data["target"], data["vars"]["lang"]) == ("queue", "service", "en")
    assert_fits_phone(page)


def test_callback_when_closed_asks_for_a_number_and_confirms(page: Page, itr: Itr) -> None:
    itr.clock.now = CLOSED
    page.goto(f"{itr.url}/f/demo_400?lang=en")
    tap(page, "0")
    tap(page, "1")
    assert exit_data(page)["attributes"]["number"] == ""
    page.locator('input[name="number"]').fill("12ab")
    page.locator("form").last.evaluate("f => f.noValidate = true")
    with page.expect_navigation():
        page.locator('[data-testid="callback-submit"]').click()
    assert page.locator("#number-error").is_visible()
    page.locator('input[name="number"]').fill("+8613900139000")
    with page.expect_navigation():
        page.locator('[data-testid="callback-submit"]').click()
    assert "We will call you back" in page.locator(".outcome h2").inner_text()
    assert page.locator(".outcome .value").inner_text() == "+8613900139000"
    data = exit_data(page)
    assert (data["kind"], data["target"]) == ("callback", "callbacks")
    assert data["attributes"]["number"] == "+8613900139000"
    assert page.locator('input[name="number"]').count() == 0


def test_link_token_opens_at_its_node_with_the_entered_values(page: Page, itr: Itr,
                                                              demo_flow: Flow) -> None:
    url = itr.links.make_link(demo_flow, "main", "en", {"caller": "13800138000",
                                                         "account_id": "A-forged"})
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == "en"
    tap(page, "4")  # password reset looks the account up by the number the link went to
    assert "ending in 8000" in page.locator(".prompt").inner_text()
    page.goto(itr.links.make_link(demo_flow, "order_collect", "zh", {}))
    assert page.locator('input[name="digits"]').is_visible()
    assert page.locator(".card").count() == 0  # no welcome: the caller heard it already


def test_menu_on_my_phone_texts_a_link_when_the_number_is_known(page: Page, itr: Itr,
                                                                demo_flow: Flow) -> None:
    page.goto(itr.links.make_link(demo_flow, "main", "en", {"caller": "13800138000"}))
    tap(page, "5")
    assert "We have texted you a link" in page.locator("main").inner_text()
    sent = json.loads(itr.outbox.read_text(encoding="utf-8").splitlines()[-1])
    assert sent["to"] == "13800138000" and f"{itr.url}/l/" in sent["text"]


def test_tampered_and_expired_links_get_a_clear_page(page: Page, itr: Itr,
                                                     demo_flow: Flow) -> None:
    url = itr.links.make_link(demo_flow, "main", "zh", {})
    response = page.goto(url[:-4] + "AAAA")
    assert response is not None and response.status == 400
    assert page.locator("main").get_attribute("data-code") == "link_tampered"
    assert "This link is not valid" in page.locator("main").inner_text()
    itr.epoch.now += 1801
    response = page.goto(url)
    assert response is not None and response.status == 410
    assert "This link has expired" in page.locator("main").inner_text()
    press(page, "start-again")
    assert page.locator('button.choice[data-key="1"]').is_visible()


def test_edited_page_state_is_refused(page: Page, itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400")
    page.locator('form.choices input[name="state"]').evaluate(
        "el => el.value = el.value.slice(0, -3) + 'abc'")
    with page.expect_navigation():
        page.locator('button.choice[data-key="1"]').click()
    assert page.locator("main").get_attribute("data-code") == "state_tampered"
    assert "返回主菜单" in page.locator('[data-testid="start-again"]').inner_text()


def test_slow_back_end_gets_an_apology_within_the_action_timeout(page: Page,
                                                                  itr: Itr) -> None:
    page.goto(f"{itr.url}/f/demo_400?lang=en")
    tap(page, "1")
    started = time.monotonic()
    enter(page, "56789012")
    elapsed = time.monotonic() - started
    assert "Sorry, we cannot look that up right now." in page.locator("main").inner_text()
    assert 2.5 <= elapsed < 5.0  # the order_status action times out after 3 s
    assert exit_data(page)["kind"] == "queue"


class HostileBackend:
    """A back-end whose answers carry markup (a real signature, not a bare Mock)."""

    def __init__(self, real: ActionRunner) -> None:
        self.real = real

    def run(self, flow: Flow, act: Act) -> Result:
        if act.action == "delivery":
            return Result("ok", {"carrier": XSS, "location": "</script><script>x()</script>",
                                 "tracking_no": "123"})
        return self.real.run(flow, act)


def test_markup_from_back_end_and_variables_is_shown_as_text(
        page: Page, demo_flow: Flow, demo_backend_url: str, tmp_path: Path) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    real = ActionRunner(demo_backend_url)
    with running_itr(demo_flow, HostileBackend(real), tmp_path) as itr:
        page.goto(itr.links.make_link(demo_flow, "order_not_found", "en", {"order_id": XSS}))
        assert XSS in page.locator(".card").first.inner_text()
        page.goto(f"{itr.url}/f/demo_400?lang=en")
        tap(page, "2")
        enter(page, "12345678")
        assert XSS in page.locator(".card-result").inner_text()
        tap(page, "0")
        data = exit_data(page)
    real.close()
    assert data["vars"]["carrier"] == XSS
    assert data["vars"]["location"] == "</script><script>x()</script>"
    assert page.title() != "pwned" and dialogs == []
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1  # only the JSON exit block
