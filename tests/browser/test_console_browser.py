"""The supervisor console in headless Chromium: sign in, see the flows with their pictures."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from cti.app.config import Config
from cti.records.db import dispose, make_session_factory
from cti.records.migrate import upgrade
from cti.records.users import create_user
from tests.browser.conftest import SCREENSHOTS, serve
from web_admin.app import create_console_app

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "supervisor1", "browser test password"


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    factory = make_session_factory(url)
    create_user(factory, USERNAME, PASSWORD)
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(REPO / "ivr_flows" / "flows" / "demo_400.yaml", flows)
    cfg = Config(data_dir=str(tmp_path), secret_key=secrets.token_urlsafe(32))
    app = create_console_app(cfg, session_factory=factory, flows_dir=flows)
    with serve(app) as base:
        yield base
    dispose(factory)


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(10000)
    page = context.new_page()
    yield page
    context.close()


def test_supervisor_signs_in_and_sees_the_flow_picture(console_url: str, desk: Page) -> None:
    desk.goto(f"{console_url}/flows")
    assert desk.url.startswith(f"{console_url}/login")

    desk.fill("#username", USERNAME)
    desk.fill("#password", "not the password")
    desk.click("input[type=submit]")
    assert "Wrong username or password." in desk.inner_text("main")

    desk.fill("#username", USERNAME)
    desk.fill("#password", PASSWORD)
    desk.click("input[type=submit]")
    desk.wait_for_url(f"{console_url}/flows")

    card = desk.locator("#flow-demo_400")
    assert "valid" in card.locator(".status").inner_text()
    img = card.locator("img.graph")
    img.wait_for()
    desk.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert desk.evaluate("document.querySelector('img.graph').naturalWidth") > 300

    SCREENSHOTS.mkdir(exist_ok=True)
    desk.screenshot(path=str(SCREENSHOTS / "console-flows.png"), full_page=True)

    desk.click("#flow-demo_400 h2 a")
    desk.wait_for_url(f"{console_url}/flows/demo_400")
    assert "order_branch" in desk.inner_text("table.nodes")
