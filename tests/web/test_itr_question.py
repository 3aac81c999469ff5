""""Type your question" on the touch menu: a menu with ``question`` offers a text box; the
knowledge base's confident answer is shown with "that helped" (recorded as contained),
"talk to a person" (the menu's option for a person) and "back to the menu"; no confident
answer offers the person at once. The answers function is a real ranker over the demo's
knowledge base (``cti/knowledge``), not a stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cti.app.callback_wiring import LateAnswers
from cti.app.itr_records import LateSink, itr_contained
from cti.records.core.events import RecordEvent
from cti.records.db import dispose, make_session_factory
from cti.records.migrate import upgrade
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.loading.loader import FlowInvalid, load_flow_file
from ivr_flows.touch.app import create_itr_app
from tests.conftest import DEMO_FLOW_PATH
from tests.web.test_itr_handoff import OPEN, SECRET, Backend, Epoch, post, state_of


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LateAnswers]:
    from web_admin.bootstrap import ensure_demo_knowledge

    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'h.db'}"
    upgrade(url)
    sf = make_session_factory(url)
    assert ensure_demo_knowledge(sf) > 0
    late = LateAnswers()
    late.open(sf, 0.5)
    try:
        yield late
    finally:
        dispose(sf)


def app_with(answers: LateAnswers, recorded: list[RecordEvent]) -> Any:
    flow = load_flow_file(DEMO_FLOW_PATH)
    sink = LateSink()
    sink.submit = recorded.append
    epoch = Epoch()
    app = create_itr_app({flow.name: flow}, Backend(), LinkSigner("l", "http://itr.test", 600,
                                                                  epoch=epoch),
                         lambda f: OPEN, secret_key=SECRET, wall=epoch, answers=answers,
                         on_contained=itr_contained(sink))
    return app.test_client(), flow


def ask(client: Any, flow: Flow, text: str, lang: str = "en") -> str:
    page = client.get(f"/f/demo_400?lang={lang}").get_data(as_text=True)
    assert 'name="question"' in page  # the main menu offers the text box
    reply = client.post("/f/demo_400/ask", data={"state": state_of(page), "question": text})
    assert reply.status_code == 200
    return str(reply.get_data(as_text=True))


def test_a_question_gets_the_knowledge_bases_answer_and_that_helped_is_contained(
        answers: LateAnswers) -> None:
    recorded: list[RecordEvent] = []
    client, flow = app_with(answers, recorded)
    page = ask(client, flow, "how do I get a refund for my order?")
    assert 'data-testid="helped"' in page and "refund" in page.lower()
    key = page.split('name="key" value="', 1)[1].split('"', 1)[0]
    reply = client.post("/f/demo_400/helped", data={"state": state_of(page), "key": key})
    assert reply.status_code == 200 and 'data-kind="contained"' in reply.get_data(as_text=True)
    kinds = [(ev.type, ev.data) for ev in recorded]
    assert kinds[0][0] == "interaction_started" and kinds[0][1]["channel"] == "itr"
    assert ("self_service", {"action": "kb_answer", "outcome": key, "identities": {}}) in kinds
    assert kinds[-1] == ("ended", {"by": "caller", "reason": "bot_solved", "exit": "bot"})


def test_talk_to_a_person_after_an_answer_takes_the_menus_option_for_a_person(
        answers: LateAnswers) -> None:
    client, flow = app_with(answers, [])
    page = ask(client, flow, "退款怎么办", lang="zh")
    assert 'data-testid="person"' in page and 'value="0"' in page
    status, final = post(client, state_of(page), key="0")
    assert status == 200 and 'data-kind="queue"' in final  # agents answer: the queue exit


def test_no_confident_answer_offers_a_person_at_once_and_back_returns_to_the_menu(
        answers: LateAnswers) -> None:
    client, flow = app_with(answers, [])
    page = ask(client, flow, "qwzx blorp vvv")
    assert 'data-testid="helped"' not in page
    assert "found no answer" in page and 'data-testid="person"' in page
    status, menu = post(client, state_of(page), lang="en")
    assert status == 200 and 'name="question"' in menu and 'data-key="1"' in menu


def test_question_text_is_bounded_and_shown_as_text(answers: LateAnswers) -> None:
    client, flow = app_with(answers, [])
    page = ask(client, flow, "<script>alert(1)</script> " + "x" * 1000)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    shown = page.split("card-question", 1)[1].split("</section>", 1)[0]
    assert shown.count("x") <= 300  # cut at 300 characters


def test_a_menu_without_question_offers_no_text_box_and_refuses_a_posted_one(
        answers: LateAnswers) -> None:
    client, _ = app_with(answers, [])
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    _, order = post(client, state_of(page), key="1")  # the order number: a collect node
    assert 'name="question"' not in order
    reply = client.post("/f/demo_400/ask", data={"state": state_of(order), "question": "hi"})
    assert reply.status_code == 400


def test_question_must_name_one_of_the_menus_keys(tmp_path: Path) -> None:
    text = DEMO_FLOW_PATH.read_text(encoding="utf-8").replace('question: "0"', 'question: "7"')
    bad = tmp_path / "demo_400.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        load_flow_file(bad)
    assert "question" in str(caught.value) and "demo_400.yaml:" in str(caught.value)
