"""Bot first over the real WebSocket layer (``chat.bot_first``): the knowledge base answers a
new chat before any agent, hands it to the queue when the customer asks for a person, after
two unhelpful answers or when it has no confident answer, and a chat it solved is recorded
as ``contained``. The demo shop's knowledge base, the wired site on SQLite / PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cti.channels.chat.web.strings import STRINGS
from cti.records import chat as store
from cti.records import knowledge as kb
from cti.records.models import Interaction
from tests.chat.harness import Client, Site, chat_site
from tests.chat.test_chat_protocol import desk
from web_admin.bootstrap import ensure_demo_knowledge

EN, ZH = STRINGS["en"], STRINGS["zh"]


def answer_of(site: Site, question: str) -> str:
    return kb.list_articles(site.sf, search=question)[0][0].answer


def start(site: Site, customer: Client, text: str, lang: str = "en") -> str:
    customer.send(t="hello", role="customer", visitor=None, lang=lang, resume={})
    assert customer.wait("welcome")["open"] is True
    customer.send(t="send", conv=None, cid="c1", text=text)
    return str(customer.wait("ack", cid="c1")["conv"])


def say(customer: Client, conv: str, cid: str, text: str) -> None:
    customer.send(t="send", conv=conv, cid=cid, text=text)
    customer.wait("ack", cid=cid)


def bot(customer: Client, text: str) -> dict[str, Any]:
    """The bot's next message with ``text``."""
    match: dict[str, Any] = {"from": "system", "text": text}
    return customer.wait("msg", **match)


def outcome(site: Site, conv: str, want: str, timeout: float = 5.0) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        with site.sf() as s:
            row = s.scalars(select(Interaction).where(Interaction.id == conv)).first()
        got = row.outcome if row is not None else None
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_the_bot_answers_a_known_question_and_asks_whether_it_helped_without_queueing(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "how long does the refund take to reach my card?")
        reply = bot(customer, answer_of(site, "How long does a refund take?"))
        assert reply["name"] == "Bot" and reply["seq"] == 2
        ask = bot(customer, EN["bot_ask"])
        quick = customer.wait("quick", conv=conv)
        assert quick["seq"] == ask["seq"] == 3
        assert [r["text"] for r in quick["replies"]] == [EN["bot_yes"], EN["bot_person"]]
        assert not [f for f in customer.seen + customer.quiet(0.3) if f["t"] == "queue"]
        assert not [f for f in agent.quiet(0.3) if f["t"] == "offer"]
        assert [(m.sender, m.author) for m in store.transcript(site.sf, conv)][1:] == [
            ("system", "bot"), ("system", "bot")]


def test_asking_for_a_person_hands_over_and_the_agent_sees_the_bots_messages(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "退款多久到账？", lang="zh")
        answer = answer_of(site, "退款多久")
        assert bot(customer, answer)["name"] == "智能助手"
        bot(customer, ZH["bot_ask"])
        assert not [f for f in agent.quiet(0.3) if f["t"] == "offer"]
        say(customer, conv, "c2", "人工")
        bot(customer, ZH["bot_handover"])
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        customer.wait("joined", conv=conv)
        seen = [agent.wait("msg", conv=conv, seq=n) for n in range(1, 6)]
        assert [(f["from"], f["name"], f["text"]) for f in seen] == [
            ("customer", "", "退款多久到账？"), ("system", "智能助手", answer),
            ("system", "智能助手", ZH["bot_ask"]), ("customer", "", "人工"),
            ("system", "智能助手", ZH["bot_handover"])]
        say(customer, conv, "c3", "谢谢")  # the agent has it now: the bot stays quiet
        agent.wait("msg", conv=conv, seq=6)
        assert not [f for f in customer.quiet(0.4) if f["t"] == "msg" and f["seq"] > 6]


def test_two_unhelpful_answers_hand_over(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "when will my order ship?")
        bot(customer, EN["bot_ask"])
        say(customer, conv, "c2", "no")
        bot(customer, EN["bot_rephrase"])
        say(customer, conv, "c3", "when does my order ship?")
        bot(customer, EN["bot_ask"])  # another article: the refused one is not sent again
        say(customer, conv, "c4", "no")
        bot(customer, EN["bot_handover"])
        agent.wait("offer", contact=conv)
        answers = [m.body for m in store.transcript(site.sf, conv)
                   if m.sender == "system" and m.body not in (EN["bot_ask"],
                                                              EN["bot_rephrase"],
                                                              EN["bot_handover"])]
        assert len(answers) == 2 and answers[0] != answers[1]


def test_a_question_the_bot_cannot_answer_is_handed_over_at_once(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "my parrot speaks french")
        bot(customer, EN["bot_handover"])
        agent.wait("offer", contact=conv)
        assert [m.body for m in store.transcript(site.sf, conv)] == [
            "my parrot speaks french", EN["bot_handover"]]


def test_a_chat_the_bot_solved_is_recorded_contained(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "how do I change my delivery address?")
        bot(customer, EN["bot_ask"])
        say(customer, conv, "c2", EN["bot_yes"])
        bot(customer, EN["bot_solved"])
        assert customer.wait("ended", conv=conv)["by"] == "system"
        assert outcome(site, conv, "contained") == "contained"
        assert not [f for f in agent.quiet(0.2) if f["t"] == "offer"]


def test_a_customer_ending_after_a_helpful_answer_is_contained_and_one_ending_early_is_not(
        tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url, bot_first=True) as site:
        ensure_demo_knowledge(site.sf)
        desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "how do I change my delivery address?")
        bot(customer, EN["bot_ask"])
        customer.send(t="end", conv=conv)
        customer.wait("ended", conv=conv)
        assert outcome(site, conv, "contained") == "contained"
        other = site.customer()
        second = start(site, other, "when will my order ship?")
        bot(other, EN["bot_ask"])
        say(other, second, "c2", "no")
        bot(other, EN["bot_rephrase"])
        other.send(t="end", conv=second)
        other.wait("ended", conv=second)
        assert outcome(site, second, "self_served", timeout=2.0) == "self_served"


def test_without_bot_first_a_chat_is_queued_at_once(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        ensure_demo_knowledge(site.sf)
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv = start(site, customer, "how do I change my delivery address?")
        agent.wait("offer", contact=conv)
        assert not [f for f in customer.quiet(0.3) if f["t"] == "msg" and f["from"] == "system"]
