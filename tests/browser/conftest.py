"""Browser tests: the ITR served from a thread, driven by headless Chromium (Playwright).

Chromium is Debian's (/usr/bin/chromium); Playwright's own browser download is never used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from werkzeug.serving import make_server

from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.links import LinkSigner
from ivr_flows.edges.sms import OutboxSender
from ivr_flows.touch.app import create_itr_app
from ivr_flows.touch.session import Runner
from tests.contract_cases import OPEN

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
PHONE: ViewportSize = {"width": 360, "height": 740}
EPOCH0 = 1_800_000_000.0
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


class FixedClock:
    """The flow's local now, set by each test (business hours depend on it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self, flow: Flow) -> datetime:
        return self.now


class FakeEpoch:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Itr:
    url: str
    clock: FixedClock
    epoch: FakeEpoch
    links: LinkSigner
    outbox: Path


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def running_itr(flow: Flow, runner: Runner, tmp: Path) -> Iterator[Itr]:
    clock, epoch = FixedClock(OPEN), FakeEpoch(EPOCH0)
    links = LinkSigner("test-link-secret", "http://placeholder", 1800, epoch=epoch)
    outbox = tmp / "outbox.jsonl"
    app = create_itr_app({flow.name: flow}, runner, links, clock,
                         secret_key="test-state-secret", sms_sender=OutboxSender(outbox))
    with serve(app) as url:
        links.base_url = url
        yield Itr(url, clock, epoch, links, outbox)


@pytest.fixture(scope="session")
def itr(demo_flow: Flow, demo_backend_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Itr]:
    runner = ActionRunner(demo_backend_url)
    with running_itr(demo_flow, runner, tmp_path_factory.mktemp("itr")) as server:
        yield server
    runner.close()


@pytest.fixture(autouse=True)
def _reset_itr_clock(request: pytest.FixtureRequest) -> None:
    if "itr" in request.fixturenames:
        server: Itr = request.getfixturevalue("itr")
        server.clock.now = OPEN
        server.epoch.now = EPOCH0


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.set_default_timeout(8000)
    p = context.new_page()
    yield p
    context.close()


def tap(page: Page, key: str) -> None:
    """Tap a menu option by its key and wait for the next page."""
    with page.expect_navigation(wait_until="load"):  # styles applied before measuring
        page.locator(f'button.choice[data-key="{key}"]').click()


def enter(page: Page, digits: str) -> None:
    """Type digits into the number field (empty: submit nothing) and continue."""
    page.locator('input[name="digits"]').fill(digits)
    with page.expect_navigation(wait_until="load"):  # styles applied before measuring
        page.locator('[data-testid="submit"]').click()


def press(page: Page, testid: str) -> None:
    with page.expect_navigation(wait_until="load"):  # styles applied before measuring
        page.locator(f'[data-testid="{testid}"]').click()
