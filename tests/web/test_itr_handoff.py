"""The touch page served by Flask's test client: a queue exit hands over to the chat with a
signed token; expired pages, pages from before a flow was edited and pages posted again get
a clear page, and side effects run once; screen texts instead of the spoken keys."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient

from ivr_flows.core.effects import Act, Result, State
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.loading.loader import parse_flow
from ivr_flows.touch.app import create_itr_app
from ivr_flows.touch.handoff import Handoff, HandoffCodec
from tests.conftest import DEMO_FLOW_PATH

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning: agents answer
CLOSED = datetime(2026, 11, 23, 23, 30)
SECRET = "state-secret"
CHAT = "http://chat.test/chat/"
T0 = 1_800_000_000.0


class Epoch:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Backend:
    """The demo's answers, counting what it was asked (a real signature, not a Mock)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self, flow: Flow, act: Act) -> Result:
        self.calls.append(act.action)
        return {
            "order_status": Result(
                "ok", {"order_status": "shipped", "eta_month": "11", "eta_day": "25"}
            ),
            "account_by_phone": Result("ok", {"account_id": "A1001", "phone_last4": "8000"}),
            "password_reset": Result("ok", {"reset_sent": "true"}),
        }.get(act.action, Result("error", {}))


def itr(
    flow: Flow,
    backend: Backend,
    epoch: Epoch,
    *,
    now: datetime = OPEN,
    exits: list[State] | None = None,
    chat_url: str = CHAT,
) -> tuple[FlaskClient, LinkSigner, Flask]:
    links = LinkSigner("link-secret", "http://itr.test", 600, epoch=epoch)
    on_exit = None if exits is None else (lambda f, s: exits.append(s))
    app = create_itr_app(
        {flow.name: flow},
        backend,
        links,
        lambda f: now,
        secret_key=SECRET,
        chat_url=chat_url,
        on_exit=on_exit,
        state_max_age_s=1800,
        handoff_ttl_s=900,
        wall=epoch,
    )
    return app.test_client(), links, app


def state_of(page: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def post(client: FlaskClient, state: str, **form: str) -> tuple[int, str]:
    reply = client.post("/f/demo_400/step", data={"state": state, **form})
    return reply.status_code, reply.get_data(as_text=True)


def handoff_of(page: str, epoch: Epoch) -> Handoff:
    found = re.search(r'href="([^"]+)" data-testid="handoff"', page)
    assert found is not None, "no hand-off link on the page"
    url = html.unescape(found.group(1))
    assert url.startswith(CHAT + "?lang=en#handoff=")
    handoff = HandoffCodec(SECRET, 900, epoch).read(url.split("#handoff=", 1)[1])
    assert handoff is not None
    return handoff


def order_then_agent(client: FlaskClient) -> tuple[str, str]:
    """Order status for 12345678, then "talk to an agent": (last page's state, final page)."""
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    _, page = post(client, state_of(page), key="1")
    _, page = post(client, state_of(page), digits="12345678")
    assert "has shipped" in page
    last = state_of(page)
    status, page = post(client, last, key="0")
    assert status == 200
    return last, page


def test_talk_to_an_agent_offers_the_chat_with_a_hand_off_of_the_path_and_results(
    demo_flow: Flow,
) -> None:
    epoch = Epoch()
    client, _, _ = itr(demo_flow, Backend(), epoch)
    _, page = order_then_agent(client)
    assert "Talk to an agent" in page and "Open the chat" in page
    assert "An agent will contact you" not in page  # a promise nobody kept
    assert 'data-testid="chat"' not in page  # one chat button, the hand-off
    handoff = handoff_of(page, epoch)
    assert (handoff.queue, handoff.priority, dict(handoff.skills)) == ("service", 5, {"general": 1})
    assert handoff.attributes == {"order_id": "12345678", "language": "en"}
    assert handoff.steps == (
        ("welcome", "start"),
        ("main", "key 1 (Order status)"),
        ("order_collect", "digits 12345678"),
        ("order_lookup", "result ok"),
        ("after_order", "key 0 (Talk to an agent)"),
    )
    assert handoff.self_service == (("order_lookup", "ok"),)
    assert handoff.seen == ("Your order 12345678 has shipped and should arrive on 11/25.",)
    assert handoff.flow == "demo_400" and handoff.phone == ""


def test_the_same_last_step_posted_again_hands_over_the_same_conversation(
    demo_flow: Flow,
) -> None:
    epoch = Epoch()
    client, _, _ = itr(demo_flow, Backend(), epoch)
    last, first = order_then_agent(client)
    _, again = post(client, last, key="0")
    _, zh = post(client, state_of(first), lang="zh")  # the final page in Chinese
    ids = {handoff_of(p, epoch).conversation for p in (first, again)}
    assert len(ids) == 1
    found = re.search(r'href="([^"]+)" data-testid="handoff"', zh)
    assert found is not None and "?lang=zh#handoff=" in found.group(1)
    token = html.unescape(found.group(1)).split("#handoff=", 1)[1]
    zh_handoff = HandoffCodec(SECRET, 900, epoch).read(token)
    assert zh_handoff is not None and zh_handoff.conversation in ids


def test_without_a_chat_the_queue_exit_page_is_unchanged(demo_flow: Flow) -> None:
    client, _, _ = itr(demo_flow, Backend(), Epoch(), chat_url="")
    _, page = order_then_agent(client)
    assert "An agent will contact you" in page and 'data-testid="handoff"' not in page


def test_a_page_of_a_session_older_than_the_max_age_asks_to_start_again(
    demo_flow: Flow,
) -> None:
    epoch = Epoch()
    client, _, _ = itr(demo_flow, Backend(), epoch)
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    epoch.now += 1801
    status, page = post(client, state_of(page), key="1")
    assert status == 410
    assert 'data-code="state_expired"' in page and "This page has expired" in page
    assert 'href="/f/demo_400" data-testid="start-again"' in page


def edited_demo(rename: str, to: str) -> Flow:
    """The demo flow after an operator renamed one node (every reference follows)."""
    text = DEMO_FLOW_PATH.read_text(encoding="utf-8")
    return parse_flow(re.sub(rf"\b{rename}\b", to, text), "demo_400.yaml")


def test_a_page_from_before_the_flow_was_edited_asks_to_start_again(demo_flow: Flow) -> None:
    epoch = Epoch()
    old, _, _ = itr(demo_flow, Backend(), epoch)
    page = old.get("/f/demo_400?lang=en").get_data(as_text=True)
    _, page = post(old, state_of(page), key="1")  # waits at order_collect
    at_collect = state_of(page)
    _, page = post(old, at_collect, digits="12345678")  # then at after_order
    at_after_order = state_of(page)
    renamed, _, _ = itr(edited_demo("order_collect", "order_number"), Backend(), epoch)
    for state, form in (
        (at_collect, {"digits": "12345678"}),
        (at_collect, {"back": "1"}),
        (at_collect, {"lang": "zh"}),
        (at_after_order, {"back": "1"}),  # would go back to the renamed node
    ):
        status, page = post(renamed, state, **form)
        assert status == 409, form
        assert 'data-code="state_stale"' in page and "The menu has changed" in page
        assert 'href="/f/demo_400" data-testid="start-again"' in page


def test_a_password_reset_page_posted_again_resets_once_and_shows_the_same_result(
    demo_flow: Flow,
) -> None:
    backend, epoch = Backend(), Epoch()
    client, links, _ = itr(demo_flow, backend, epoch)
    page = client.get(
        links.make_link(demo_flow, "main", "en", {"caller": "13800138000"}).replace(
            "http://itr.test", ""
        )
    ).get_data(as_text=True)
    _, page = post(client, state_of(page), key="4")
    assert 'ending in <strong class="value">8000</strong>' in page
    confirm = state_of(page)
    first = post(client, confirm, key="1")
    again = post(client, confirm, key="1")
    assert backend.calls.count("password_reset") == 1
    assert first[0] == again[0] == 200
    assert "The reset link is on its way" in first[1] and "The reset link is on its way" in again[1]


def test_a_callback_page_posted_again_files_the_request_once(demo_flow: Flow) -> None:
    exits: list[State] = []
    client, _, _ = itr(demo_flow, Backend(), Epoch(), now=CLOSED, exits=exits)
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    _, page = post(client, state_of(page), key="0")
    _, page = post(client, state_of(page), key="1")
    ask = state_of(page)
    one = client.post("/f/demo_400/callback", data={"state": ask, "number": "13900139000"})
    two = client.post("/f/demo_400/callback", data={"state": ask, "number": "13700137000"})
    assert one.status_code == two.status_code == 200
    assert len(exits) == 1 and exits[0].vars["callback_number"] == "13900139000"
    assert "13900139000" in two.get_data(as_text=True)  # the request that was filed
    assert "13700137000" not in two.get_data(as_text=True)


def test_after_a_restart_an_older_page_cannot_run_a_side_effect_but_can_go_on(
    demo_flow: Flow,
) -> None:
    epoch, backend = Epoch(), Backend()
    before, links, _ = itr(demo_flow, backend, epoch)
    page = before.get(
        links.make_link(demo_flow, "main", "en", {"caller": "13800138000"}).replace(
            "http://itr.test", ""
        )
    ).get_data(as_text=True)
    _, page = post(before, state_of(page), key="4")
    confirm = state_of(page)
    epoch.now += 60
    after, _, _ = itr(demo_flow, backend, epoch)  # the process restarted: keys are gone
    status, page = post(after, confirm, key="1")
    assert status == 410 and 'data-code="state_expired"' in page
    assert "password_reset" not in backend.calls
    status, page = post(after, confirm, key="*")  # no side effect: the session goes on
    assert status == 200 and 'data-key="1"' in page


def test_the_touch_page_shows_screen_texts_not_the_spoken_list_of_keys(demo_flow: Flow) -> None:
    client, _, _ = itr(demo_flow, Backend(), Epoch())
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    assert "How can we help you?" in page
    assert "press 1" not in page and "For English" not in page
    assert "welcome to Youxuan Shop customer service" in page  # not "thank you for calling"
    _, page = post(client, state_of(page), key="1")
    assert "Please enter your 8-digit order number." in page
    assert "hash key" not in page


def test_a_menu_without_screen_text_gets_a_short_heading(demo_flow: Flow) -> None:
    main = replace(demo_flow.nodes["main"], screen=None)
    plain = replace(demo_flow, nodes={**demo_flow.nodes, "main": main})
    client, _, _ = itr(plain, Backend(), Epoch())
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    assert re.search(r'class="prompt" data-key="main.prompt">Choose an option<', page)
    assert "press 1" not in page
    page = client.get("/f/demo_400?lang=zh").get_data(as_text=True)
    assert re.search(r'class="prompt" data-key="main.prompt">请选择<', page)


def test_the_chat_panel_link_carries_the_token_only_in_the_fragment(demo_flow: Flow) -> None:
    epoch = Epoch()
    client, _, _ = itr(demo_flow, Backend(), epoch)
    _, page = order_then_agent(client)
    found = re.search(r'href="([^"]+)" data-testid="handoff"', page)
    assert found is not None
    url = html.unescape(found.group(1))
    before, _, fragment = url.partition("#")
    assert "handoff" not in before and fragment.startswith("handoff=")
