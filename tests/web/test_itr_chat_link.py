"""The touch menu links to the chat panel (when chat is wired), in the page's language."""

from __future__ import annotations

from datetime import datetime

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.touch.app import create_itr_app

OPEN = datetime(2026, 11, 23, 10, 0)


class NoBackend:
    def run(self, flow: Flow, act: Act) -> Result:
        return Result("error", {})


def app_with(demo_flow: Flow, chat_url: str) -> object:
    links = LinkSigner("link-secret", "http://itr.test", 600, epoch=lambda: 1_800_000_000.0)
    return create_itr_app({demo_flow.name: demo_flow}, NoBackend(), links, lambda f: OPEN,
                          secret_key="state-secret", chat_url=chat_url)


def test_every_touch_page_links_to_the_chat_in_its_language(demo_flow: Flow) -> None:
    client = app_with(demo_flow, "http://127.0.0.1:8088/chat/").test_client()  # type: ignore[attr-defined]
    en = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    assert 'href="http://127.0.0.1:8088/chat/?lang=en"' in en and "Chat with us" in en
    zh = client.get("/f/demo_400?lang=zh").get_data(as_text=True)
    assert 'href="http://127.0.0.1:8088/chat/?lang=zh"' in zh and "在线咨询" in zh


def test_without_chat_there_is_no_link(demo_flow: Flow) -> None:
    client = app_with(demo_flow, "").test_client()  # type: ignore[attr-defined]
    assert 'data-testid="chat"' not in client.get("/f/demo_400").get_data(as_text=True)
