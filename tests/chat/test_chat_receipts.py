"""Delivered/read receipts that last: kept per conversation, clamped to what the reader was
sent, replayed to a connection that (re)joins, stored coalesced, back after a restart.

The marks themselves (``Marks``) and their coalesced writer (``ReceiptWriter``) first, pure
and on a ``task.Clock``; then real WebSockets against the wired chat site, on SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from cti.channels.chat import receipts as receipts_module
from cti.channels.chat.receipts import Marks, ReceiptWriter
from cti.records import chat as store
from cti.records.chat_journal import JournalClosed, JournalFull
from tests.chat.harness import Client, Site, chat_site
from tests.chat.test_chat_protocol import desk, open_chat

# -- the marks ---------------------------------------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["customer", "agent"]),
            st.sampled_from(["delivered", "read"]),
            st.integers(0, 30),
        ),
        max_size=40,
    )
)
def test_marks_only_go_up_and_a_read_is_a_delivery(
    receipts: list[tuple[str, str, int]],
) -> None:
    """The shadow model: each mark is the highest seq confirmed for it (a read counts as a
    delivery too); a receipt is taken exactly when it raises its own mark."""
    marks = Marks()
    model = dict.fromkeys(marks.stored(), 0)
    for reader, kind, seq in receipts:
        taken = marks.raise_to(reader, kind, seq)
        assert taken == (seq > model[f"{reader}_{kind}"])
        model[f"{reader}_{kind}"] = max(model[f"{reader}_{kind}"], seq)
        if kind == "read":
            model[f"{reader}_delivered"] = max(model[f"{reader}_delivered"], seq)
        assert marks.stored() == model
        assert marks.customer_delivered >= marks.customer_read
        assert marks.agent_delivered >= marks.agent_read


def test_a_sides_marks_replay_as_receipt_frames_delivered_then_read() -> None:
    marks = Marks.of({"customer_delivered": 4, "customer_read": 3, "agent_read": 0})
    assert marks.frames("c1", "customer") == [
        {"t": "receipt", "conv": "c1", "kind": "delivered", "seq": 4},
        {"t": "receipt", "conv": "c1", "kind": "read", "seq": 3},
    ]
    assert marks.frames("c1", "agent") == []  # nothing confirmed: nothing to say


class FakeJournal:
    """The journal's ``read`` (same signature): keeps the calls; ``refuse`` raises instead."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.refuse: Exception | None = None

    def read(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None]) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.calls.append((fn, args))
        callback(None)


def test_changed_marks_are_stored_together_half_a_second_after_the_first_change() -> None:
    clock, journal = Clock(), FakeJournal()
    writer = ReceiptWriter(journal, clock)
    a, b = Marks(), Marks()
    for seq in range(1, 6):
        a.raise_to("customer", "read", seq)
        writer.changed("a", a)
        clock.advance(0.05)
    b.raise_to("agent", "delivered", 2)
    writer.changed("b", b)
    assert journal.calls == []
    clock.advance(0.3)  # 0.55 s after the first change
    assert journal.calls == [
        (
            store.mark_receipts,
            (
                {
                    "a": {
                        "customer_delivered": 5,
                        "customer_read": 5,
                        "agent_delivered": 0,
                        "agent_read": 0,
                    },
                    "b": {
                        "customer_delivered": 0,
                        "customer_read": 0,
                        "agent_delivered": 2,
                        "agent_read": 0,
                    },
                },
            ),
        )
    ]
    clock.advance(5)
    assert len(journal.calls) == 1 and not clock.getDelayedCalls()  # no timer while idle


def test_a_full_journal_keeps_the_marks_for_the_next_flush_and_a_closed_one_drops_them() -> None:
    clock, journal = Clock(), FakeJournal()
    writer = ReceiptWriter(journal, clock)
    marks = Marks()
    marks.raise_to("agent", "read", 3)
    writer.changed("a", marks)
    journal.refuse = JournalFull("busy")
    clock.advance(0.5)
    assert journal.calls == [] and writer.dirty
    journal.refuse = None
    clock.advance(0.5)
    assert [args[0]["a"]["agent_read"] for _, args in journal.calls] == [3]
    writer.changed("a", marks)
    journal.refuse = JournalClosed("closed")
    writer.flush()  # a stop after the journal closed: logged, nothing raised
    assert not writer.dirty and not clock.getDelayedCalls()


# -- over the wire -----------------------------------------------------------------------------


def until(what: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def live_marks(site: Site, conv: str) -> dict[str, int]:
    marks: dict[str, int] = site.on_reactor(lambda: site.chat.channel.chats[conv].marks.stored())
    return marks


def stored_marks(site: Site, conv: str) -> dict[str, int]:
    info = store.conversation(site.sf, conv)
    assert info is not None
    return info.receipts


def connected(site: Site) -> tuple[Client, Client, str, dict[str, Any]]:
    """An agent who accepted a customer's chat and got its first message (seq 1)."""
    agent = desk(site, "agent1001", "alice")
    customer = site.customer()
    conv, welcome = open_chat(site, customer, "where is my order?")
    customer.wait("msg", conv=conv, seq=1)
    agent.wait("offer", contact=conv)
    agent.send(t="accept", contact=conv)
    agent.wait("msg", conv=conv, seq=1)
    return agent, customer, conv, welcome


def answer(agent: Client, customer: Client, conv: str, cid: str, seq: int) -> None:
    agent.send(t="send", conv=conv, cid=cid, text=f"answer {cid}")
    assert agent.wait("ack", cid=cid)["seq"] == seq
    customer.wait("msg", conv=conv, seq=seq)


def receipts_and_messages(frames: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [
        (f["t"] if f["t"] == "msg" else f["kind"], f["seq"])
        for f in frames
        if f["t"] in ("msg", "receipt")
    ]


def test_a_receipt_read_while_the_desktop_is_away_shows_when_it_reconnects(
    tmp_path: Path, empty_db_url: str
) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, _ = connected(site)
        answer(agent, customer, conv, "a1", 2)
        agent.close()  # the desktop reloads
        customer.send(t="seen", conv=conv, seq=2)
        customer.send(t="read", conv=conv, seq=2)
        assert until(lambda: live_marks(site, conv)["customer_read"] == 2)
        again = site.agent(site.agent_cookie("alice", "agent1001"))
        again.send(t="hello", role="agent", resume={})
        again.wait("card", contact=conv)
        again.wait("receipt", conv=conv, kind="read")
        # the transcript first, then the customer's marks
        assert receipts_and_messages(again.seen) == [
            ("msg", 1),
            ("msg", 2),
            ("delivered", 2),
            ("read", 2),
        ]


def test_the_customer_gets_the_agents_read_mark_after_a_reload(
    tmp_path: Path, empty_db_url: str
) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, welcome = connected(site)
        customer.close()  # the phone sleeps
        agent.send(t="read", conv=conv, seq=1)
        assert until(lambda: live_marks(site, conv)["agent_read"] == 1)
        again = site.customer()
        again.send(
            t="hello", role="customer", visitor=welcome["visitor"], lang="en", resume={conv: 1}
        )
        assert again.wait("welcome")["conv"] == conv
        assert again.wait("receipt", conv=conv, kind="delivered")["seq"] == 1
        assert again.wait("receipt", conv=conv, kind="read")["seq"] == 1
        assert not [f for f in again.quiet(0.3) if f["t"] == "msg"]  # nothing it has


def test_a_receipt_mark_never_goes_down(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, _ = connected(site)
        answer(agent, customer, conv, "a1", 2)
        customer.send(t="read", conv=conv, seq=2)
        assert agent.wait("receipt", conv=conv, kind="read")["seq"] == 2
        for kind, seq in (("read", 1), ("seen", 2), ("read", 2), ("seen", 0)):
            customer.send(t=kind, conv=conv, seq=seq)
        assert not [f for f in agent.quiet(0.6) if f["t"] == "receipt"]  # nothing new
        assert until(lambda: stored_marks(site, conv)["customer_read"] == 2)
        assert stored_marks(site, conv) == {
            "customer_delivered": 2,
            "customer_read": 2,
            "agent_delivered": 0,
            "agent_read": 0,
        }


def test_a_seq_beyond_what_the_reader_was_sent_is_clamped(
    tmp_path: Path, empty_db_url: str
) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, welcome = connected(site)
        customer.send(t="read", conv=conv, seq=99)
        assert agent.wait("receipt", conv=conv, kind="read")["seq"] == 1
        agent.send(t="read", conv=conv, seq=50)
        assert customer.wait("receipt", conv=conv, kind="read")["seq"] == 1
        # a customer claiming more than the conversation has: clamped to its last message
        liar = site.customer()
        liar.send(
            t="hello", role="customer", visitor=welcome["visitor"], lang="en", resume={conv: 40}
        )
        liar.wait("welcome")
        answer(agent, customer, conv, "a1", 2)
        liar.send(t="read", conv=conv, seq=40)
        assert agent.wait("receipt", conv=conv, kind="read")["seq"] == 2
        assert until(lambda: stored_marks(site, conv)["customer_read"] == 2)
        assert stored_marks(site, conv)["agent_read"] == 1


def test_receipt_marks_survive_a_restart(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, welcome = connected(site)
        answer(agent, customer, conv, "a1", 2)
        customer.send(t="read", conv=conv, seq=2)
        agent.wait("receipt", conv=conv, kind="read")
        agent.send(t="seen", conv=conv, seq=1)
        customer.wait("receipt", conv=conv, kind="delivered")
        marks = {"customer_delivered": 2, "customer_read": 2, "agent_delivered": 1, "agent_read": 0}
        assert until(lambda: stored_marks(site, conv) == marks)  # the 0.5 s flush
        token = site.agent_cookie("alice", "agent1001")
    with chat_site(tmp_path, empty_db_url) as site:  # same database: a restart
        customer = site.customer()
        customer.send(
            t="hello", role="customer", visitor=welcome["visitor"], lang="en", resume={conv: 2}
        )
        assert customer.wait("welcome")["conv"] == conv
        assert customer.wait("receipt", conv=conv) == {
            "t": "receipt",
            "conv": conv,
            "kind": "delivered",
            "seq": 1,
        }
        assert not [f for f in customer.quiet(0.3) if f["t"] == "receipt"]  # nothing read
        agent = site.agent(token)
        agent.send(t="hello", role="agent", resume={conv: 2})
        agent.wait("welcome")
        offer = agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=offer["contact"])
        assert agent.wait("receipt", conv=conv, kind="delivered")["seq"] == 2
        assert agent.wait("receipt", conv=conv, kind="read")["seq"] == 2
        customer.send(t="read", conv=conv, seq=1)  # below the restored mark: ignored
        assert not [f for f in agent.quiet(0.4) if f["t"] == "receipt"]


def test_receipts_are_stored_coalesced_not_one_transaction_each(
    tmp_path: Path, empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []

    def counted(sf: Any, marks: Any) -> None:
        batches.append(len(marks))
        store.mark_receipts(sf, marks)

    monkeypatch.setattr(receipts_module, "mark_receipts", counted)
    with chat_site(tmp_path, empty_db_url) as site:
        agent, customer, conv, _ = connected(site)
        for n in range(2, 8):
            answer(agent, customer, conv, f"a{n}", n)
        for n in range(2, 8):
            customer.send(t="seen", conv=conv, seq=n)
            customer.send(t="read", conv=conv, seq=n)
        assert agent.wait("receipt", conv=conv, kind="read", seq=7)
        assert until(lambda: stored_marks(site, conv)["customer_read"] == 7)
        assert 1 <= len(batches) <= 2  # 12 receipts: one store, two at a timer's edge


def test_a_clean_stop_stores_the_marks_not_stored_yet(tmp_path: Path, empty_db_url: str) -> None:
    with chat_site(tmp_path, empty_db_url) as site:
        site.chat.channel.receipts.interval_s = 60.0  # no timer flush within this test
        agent, customer, conv, _ = connected(site)
        customer.send(t="read", conv=conv, seq=1)
        agent.wait("receipt", conv=conv, kind="read")
        assert stored_marks(site, conv)["customer_read"] == 0
        site.on_reactor(site.chat.agents_stop)  # what the server runs before shutdown
        assert stored_marks(site, conv)["customer_read"] == 1
