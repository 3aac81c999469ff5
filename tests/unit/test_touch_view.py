"""Effects -> touch page view model (pure; no Flask, no browser)."""

from __future__ import annotations

import re
from datetime import datetime

from flask.testing import FlaskClient

from ivr_flows.core.effects import Digits, Result, SendLink, State, Tap
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.touch.app import create_itr_app
from ivr_flows.touch.session import StateCodec, StateTampered, advance
from ivr_flows.touch.view import build_page

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning
CLOSED = datetime(2026, 11, 23, 23, 30)
SHIPPED = Result("ok", {"order_status": "shipped", "eta_month": "11", "eta_day": "25"})


def test_main_menu_is_a_welcome_card_a_prompt_and_one_button_per_option(
        demo_flow: Flow) -> None:
    state, effects = start(demo_flow, OPEN, lang="en")
    page = build_page(demo_flow, state, effects)
    assert page.title == "Youxuan Shop Customer Hotline"
    assert [(c.key, c.kind) for c in page.cards] == [("welcome.prompt", "info")]
    assert page.prompt is not None and page.prompt.key == "main.prompt"
    assert [b.key for b in page.choices] == ["1", "2", "3", "4", "0", "8", "9"]
    assert page.choices[0].label == "Order status"
    assert page.digits is None and page.outcome is None and not page.can_go_back
    assert [(lang.code, lang.current) for lang in page.languages] == [("zh", False),
                                                                      ("en", True)]


def test_send_link_choice_shows_only_when_the_page_can_text(demo_flow: Flow) -> None:
    state, effects = start(demo_flow, OPEN)
    page = build_page(demo_flow, state, effects, can_send_link=True)
    assert "5" in [b.key for b in page.choices]


def test_collect_node_is_a_digits_field(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, effects = step(demo_flow, state, Tap("1"), OPEN)
    page = build_page(demo_flow, state, effects)
    assert page.digits is not None and (page.digits.min_digits, page.digits.max_digits) == (8, 8)
    assert page.choices == () and page.can_go_back


def test_order_status_is_a_result_card_with_its_values_marked(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Tap("1"), OPEN)
    state, first = step(demo_flow, state, Digits("12345678"), OPEN)
    state, then = step(demo_flow, state, SHIPPED, OPEN)
    page = build_page(demo_flow, state, first + then)
    (card,) = page.cards
    assert card.kind == "result" and card.text == "您的订单12345678已发货，预计11月25日送达。"
    assert [s.text for s in card.segments if s.value] == ["12345678", "11", "25"]
    assert [b.key for b in page.choices] == ["1", "*", "0"]


def test_wrong_input_is_a_notice_and_the_question_again(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, lang="en")
    state, _ = step(demo_flow, state, Tap("1"), OPEN)
    state, effects = step(demo_flow, state, Digits("123"), OPEN)
    page = build_page(demo_flow, state, effects)
    assert [(c.kind, c.text) for c in page.cards] == [
        ("notice", "An order number has 8 digits.")]
    assert page.digits is not None


def test_queue_exit_says_honestly_what_happens_and_drops_please_hold(
        demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, lang="en")
    state, effects = step(demo_flow, state, Tap("0"), OPEN)
    page = build_page(demo_flow, state, effects)
    assert page.outcome is not None and page.outcome.kind == "queue"
    assert page.cards == ()  # not "Connecting you to an agent, please hold."
    assert "An agent will contact you" in "".join(s.text for s in page.outcome.message)
    assert page.outcome.data["target"] == "service"
    assert page.outcome.data["vars"]["lang"] == "en"
    assert page.choices == () and page.digits is None and not page.can_go_back


def test_callback_without_a_number_asks_for_one(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, CLOSED)
    state, _ = step(demo_flow, state, Tap("0"), CLOSED)
    state, effects = step(demo_flow, state, Tap("1"), CLOSED)
    page = build_page(demo_flow, state, effects)
    assert page.outcome is not None and page.outcome.kind == "callback"
    assert page.outcome.needs_number


def test_callback_with_the_callers_number_confirms_it(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, CLOSED, vars={"caller": "13900139000"})
    state, _ = step(demo_flow, state, Tap("0"), CLOSED)
    state, effects = step(demo_flow, state, Tap("1"), CLOSED)
    page = build_page(demo_flow, state, effects)
    assert page.outcome is not None and not page.outcome.needs_number
    assert [s.text for s in page.outcome.message if s.value] == ["13900139000"]


class FakeRunner:
    """Answers actions like the demo back-end would, and records what it was asked."""

    def __init__(self, results: dict[str, Result]) -> None:
        self.results = results
        self.calls: list[str] = []

    def run(self, flow: Flow, act: object) -> Result:
        name = getattr(act, "action", "")
        self.calls.append(name)
        return self.results.get(name, Result("error", {}))


def test_advance_runs_actions_until_the_caller_is_asked(demo_flow: Flow) -> None:
    runner = FakeRunner({"account_by_phone": Result("ok", {"account_id": "A1001",
                                                           "phone_last4": "8000"}),
                         "password_reset": Result("ok", {"reset_sent": "true"})})
    state, _ = start(demo_flow, OPEN, lang="en", vars={"caller": "13800138000"})
    state, effects = step(demo_flow, state, Tap("4"), OPEN)
    state, shown = advance(demo_flow, state, effects, runner, lambda f: OPEN,
                           lambda f, s, a: Result("error", {}))
    assert runner.calls == ["account_by_phone"] and state.node == "pwd_confirm"
    state, effects = step(demo_flow, state, Tap("1"), OPEN)
    state, shown = advance(demo_flow, state, effects, runner, lambda f: OPEN,
                           lambda f, s, a: Result("error", {}))
    page = build_page(demo_flow, state, shown)
    assert [c.key for c in page.cards] == ["pwd_sent.prompt"]  # no "one moment please"
    assert page.outcome is not None and page.outcome.kind == "hangup"


def test_advance_texts_a_link_for_send_link_and_never_asks_the_action_runner(
        demo_flow: Flow) -> None:
    runner = FakeRunner({})
    texted: list[SendLink] = []

    def send_link(flow: Flow, state: State, link: SendLink) -> Result:
        texted.append(link)
        return Result("ok", {})

    state, _ = start(demo_flow, OPEN, lang="en", vars={"caller": "13800138000"})
    state, effects = step(demo_flow, state, Tap("5"), OPEN)
    state, shown = advance(demo_flow, state, effects, runner, lambda f: OPEN, send_link)
    assert texted == [SendLink("send_menu_link", "main", "13800138000")]
    assert runner.calls == []  # a link is not a back-end action
    page = build_page(demo_flow, state, shown)
    assert page.cards[-1].key == "link_sent.prompt"


def test_state_codec_round_trips_and_refuses_edits(demo_flow: Flow) -> None:
    codec = StateCodec("state-secret")
    state, _ = start(demo_flow, OPEN, vars={"account_id": "A1001"})
    token = codec.dump(state)
    assert codec.load(token, demo_flow) == state
    forged = StateCodec("guess").dump(State.from_dict({**state.to_dict(),
                                                       "vars": {"account_id": "A9999"}}))
    for bad in (forged, token[:-3] + "abc", "", "garbage"):
        try:
            codec.load(bad, demo_flow)
        except StateTampered as exc:
            assert exc.code == "state_tampered"
        else:
            raise AssertionError(f"accepted {bad!r}")




# ---------------------------------------------------------------- the served page (test client)


class Epoch:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def itr_client(flow: Flow, exits: list[State], epoch: Epoch) -> tuple[FlaskClient, LinkSigner]:
    links = LinkSigner("link-secret", "http://itr.test", 600, epoch=epoch)
    app = create_itr_app({flow.name: flow}, FakeRunner({}), links, lambda f: CLOSED,
                         secret_key="state-secret",
                         on_exit=lambda f, s: exits.append(s))
    return app.test_client(), links


def state_field(html: str) -> str:
    match = re.search(r'name="state" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_exit_is_handed_over_once_the_callback_number_is_known(demo_flow: Flow) -> None:
    exits: list[State] = []
    client, _ = itr_client(demo_flow, exits, Epoch())
    page = client.get("/f/demo_400").get_data(as_text=True)
    page = client.post("/f/demo_400/step", data={"state": state_field(page), "key": "0"})\
        .get_data(as_text=True)
    page = client.post("/f/demo_400/step", data={"state": state_field(page), "key": "1"})\
        .get_data(as_text=True)
    assert exits == []  # a callback without a number is not handed over yet
    bad = client.post("/f/demo_400/callback", data={"state": state_field(page), "number": "1"})
    assert bad.status_code == 422 and exits == []
    ok = client.post("/f/demo_400/callback",
                     data={"state": state_field(page), "number": "13900139000"})
    assert ok.status_code == 200
    (done,) = exits
    assert done.exit is not None and done.exit.attributes["number"] == "13900139000"
    assert ok.headers["Cache-Control"] == "no-store"
    assert "script-src" not in ok.headers["Content-Security-Policy"]  # default-src 'none'


def test_bad_requests_get_clear_status_codes(demo_flow: Flow) -> None:
    epoch = Epoch()
    client, links = itr_client(demo_flow, [], epoch)
    assert client.get("/f/nope").status_code == 404
    assert client.post("/f/demo_400/step", data={"state": "x", "key": "1"}).status_code == 400
    page = client.get("/f/demo_400").get_data(as_text=True)
    assert client.post("/f/demo_400/step", data={"state": state_field(page)}).status_code == 400
    token = links.make_token(demo_flow, "main", "en", {})
    assert client.get(f"/l/{token}").status_code == 200
    assert client.get("/l/not-a-token").status_code == 400
    epoch.now += 601
    assert client.get(f"/l/{token}").status_code == 410
