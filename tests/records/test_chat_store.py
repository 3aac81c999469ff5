"""The durable chat transcript (``cti.records.chat``), on SQLite and PostgreSQL: seqs, resends,
refusals, files, receipt marks, the customer history with chats, the 0002 -> 0003 and
0003 -> 0004 migrations."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, inspect, select
from sqlalchemy.exc import OperationalError

from cti.records import chat
from cti.records.chat import (
    RECEIPT_MARKS,
    Appended,
    ChatError,
    FileRef,
    NewMessage,
    StoredMessage,
    add_file,
    append_many,
    end_conversation,
    file_info,
    find_open_conversation,
    link_customer,
    mark_receipts,
    messages_after,
    open_conversation,
    open_conversations,
    transcript,
)
from cti.records.core.events import RecordEvent
from cti.records.customers import find_customer, identify, merge, normalize
from cti.records.db import SessionFactory, dispose, make_engine, make_session_factory
from cti.records.history import customer_history, get_interaction
from cti.records.migrate import alembic_config, current_revision, upgrade
from cti.records.models import ChatConversation, ChatFile, ChatMessage, User, UTCDateTime
from cti.records.store import record
from cti.records.users import DEFAULT_HASHER, authenticate, create_user, link_agent

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def msg(
    conv: str,
    cid: str,
    body: str = "hello",
    *,
    sender: str = "customer",
    author: str = "v-1",
    seconds: float = 0,
) -> NewMessage:
    return NewMessage(conv, sender, author, cid, "text", body, None, at(seconds))


def opened(sf: SessionFactory, *convs: str, visitor: str = "v-1") -> None:
    for n, conv in enumerate(convs):
        open_conversation(sf, conv, visitor=visitor, lang="zh", now=at(n))


def seqs(results: list[Appended]) -> list[int | None]:
    return [None if r.message is None else r.message.seq for r in results]


def stored_rows(sf: SessionFactory) -> int:
    with sf() as s:
        return int(s.scalar(select(func.count()).select_from(ChatMessage)) or 0)


# -- conversations -----------------------------------------------------------------------------


def test_opening_a_conversation_twice_returns_the_first(session_factory: SessionFactory) -> None:
    first = open_conversation(session_factory, "c1", visitor="v-1", lang="zh", now=at(0))
    again = open_conversation(session_factory, "c1", visitor="v-2", lang="en", now=at(9))
    assert again == first
    assert (first.state, first.last_seq, first.visitor, first.lang) == ("open", 0, "v-1", "zh")
    assert first.created_at == at(0) and first.ended_at is None
    assert chat.conversation(session_factory, "c1") == first
    assert chat.conversation(session_factory, "nope") is None


def test_a_visitor_resumes_their_latest_open_conversation(
    session_factory: SessionFactory,
) -> None:
    opened(session_factory, "old", "new")
    open_conversation(session_factory, "other", visitor="v-2", lang="en", now=at(5))
    found = find_open_conversation(session_factory, "v-1")
    assert found is not None and found.id == "new"
    assert end_conversation(session_factory, "new", at(10))
    found = find_open_conversation(session_factory, "v-1")
    assert found is not None and found.id == "old"
    assert find_open_conversation(session_factory, "v-9") is None
    assert [c.id for c in open_conversations(session_factory)] == ["old", "other"]


def test_ending_is_once(session_factory: SessionFactory) -> None:
    opened(session_factory, "c1")
    assert end_conversation(session_factory, "c1", at(30)) is True
    assert end_conversation(session_factory, "c1", at(40)) is False
    assert end_conversation(session_factory, "nope", at(40)) is False
    info = chat.conversation(session_factory, "c1")
    assert info is not None and info.state == "ended" and info.ended_at == at(30)


def test_a_linked_customer_follows_merges(session_factory: SessionFactory) -> None:
    opened(session_factory, "c1")
    with session_factory.begin() as s:
        older = identify(s, [normalize("phone", "13800000001")], at(0))
        newer = identify(s, [normalize("phone", "13800000002")], at(0))
    assert older is not None and newer is not None
    assert link_customer(session_factory, "c1", newer)
    assert not link_customer(session_factory, "nope", newer)
    info = chat.conversation(session_factory, "c1")
    assert info is not None and info.customer_id == newer
    with session_factory.begin() as s:
        merge(s, keep=older, absorb=newer)
    info = chat.conversation(session_factory, "c1")
    assert info is not None and info.customer_id == older


@pytest.mark.parametrize(
    "kwargs",
    [
        {"conversation_id": ""},
        {"conversation_id": "x" * 65},
        {"visitor": ""},
        {"lang": ""},
        {"lang": "x" * 9},
    ],
)
def test_bad_conversations_are_refused(
    session_factory: SessionFactory, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"conversation_id": "c1", "visitor": "v", "lang": "zh", "now": at(0)}
    args.update(kwargs)
    with pytest.raises(ChatError) as info:
        open_conversation(session_factory, **args)
    assert info.value.code == "bad_conversation"


# -- appending ---------------------------------------------------------------------------------


def test_seqs_are_consecutive_per_conversation_in_batch_order(
    session_factory: SessionFactory,
) -> None:
    opened(session_factory, "a", "b")
    first = append_many(
        session_factory, [msg("a", "1"), msg("b", "1"), msg("a", "2"), msg("a", "3")]
    )
    assert seqs(first) == [1, 1, 2, 3]
    assert not any(r.duplicate or r.error for r in first)
    second = append_many(session_factory, [msg("b", "2"), msg("a", "4")])
    assert seqs(second) == [2, 4]
    info = chat.conversation(session_factory, "a")
    assert info is not None and info.last_seq == 4
    assert [m.client_id for m in transcript(session_factory, "a")] == ["1", "2", "3", "4"]


def test_a_resend_gets_the_stored_message_back_and_writes_nothing(
    session_factory: SessionFactory,
) -> None:
    opened(session_factory, "a")
    [first] = append_many(session_factory, [msg("a", "m1", "original", seconds=1)])
    append_many(session_factory, [msg("a", "m2")])
    [again] = append_many(session_factory, [msg("a", "m1", "edited on resend", seconds=9)])
    assert again.duplicate and again.error is None
    assert again.message == first.message
    assert again.message is not None and again.message.body == "original"
    assert stored_rows(session_factory) == 2
    info = chat.conversation(session_factory, "a")
    assert info is not None and info.last_seq == 2


def test_the_same_cid_twice_in_one_batch_is_stored_once(session_factory: SessionFactory) -> None:
    opened(session_factory, "a")
    results = append_many(
        session_factory, [msg("a", "x"), msg("a", "y"), msg("a", "x"), msg("a", "y")]
    )
    assert seqs(results) == [1, 2, 1, 2]
    assert [r.duplicate for r in results] == [False, False, True, True]
    assert results[2].message == results[0].message
    assert stored_rows(session_factory) == 2


def test_a_cid_is_per_sender(session_factory: SessionFactory) -> None:
    opened(session_factory, "a")
    results = append_many(
        session_factory, [msg("a", "1"), msg("a", "1", sender="agent", author="1001")]
    )
    assert seqs(results) == [1, 2] and not any(r.duplicate for r in results)


def test_refused_items_do_not_stop_the_others(session_factory: SessionFactory) -> None:
    opened(session_factory, "a", "gone")
    end_conversation(session_factory, "gone", at(5))
    results = append_many(
        session_factory,
        [msg("a", "1"), msg("nope", "1"), msg("gone", "1"), msg("a", "2")],
    )
    assert [r.error for r in results] == [None, "no_conversation", "conversation_ended", None]
    assert seqs(results) == [1, None, None, 2]
    assert [m.client_id for m in transcript(session_factory, "a")] == ["1", "2"]
    assert transcript(session_factory, "gone") == []


def test_an_ended_conversation_refuses_new_messages_but_acks_stored_ones(
    session_factory: SessionFactory,
) -> None:
    opened(session_factory, "a")
    [stored] = append_many(session_factory, [msg("a", "before")])
    end_conversation(session_factory, "a", at(60))
    results = append_many(session_factory, [msg("a", "after"), msg("a", "before")])
    assert results[0] == Appended(None, duplicate=False, error="conversation_ended")
    assert results[1].duplicate and results[1].message == stored.message


def test_messages_after_a_seq_are_exactly_the_later_ones(session_factory: SessionFactory) -> None:
    opened(session_factory, "a", "b")
    append_many(session_factory, [msg("a", str(n), f"text {n}", seconds=n) for n in range(1, 8)])
    append_many(session_factory, [msg("b", "1")])
    assert [m.seq for m in messages_after(session_factory, "a", 0)] == [1, 2, 3, 4, 5, 6, 7]
    later = messages_after(session_factory, "a", 4)
    assert later == [
        StoredMessage("a", n, "customer", "v-1", str(n), "text", f"text {n}", None, at(n))
        for n in (5, 6, 7)
    ]
    assert [m.seq for m in messages_after(session_factory, "a", 2, limit=2)] == [3, 4]
    assert messages_after(session_factory, "a", 7) == []
    assert messages_after(session_factory, "nope", 0) == []


def test_nul_characters_and_lone_surrogates_are_not_stored(
    session_factory: SessionFactory,
) -> None:
    opened(session_factory, "a")
    [result] = append_many(session_factory, [msg("a", "1", "he\x00llo \ud83d wor\x00ld")])
    assert result.message is not None and result.message.body == "hello \ufffd world"
    assert transcript(session_factory, "a")[0].body == "hello \ufffd world"


@pytest.mark.parametrize(
    "fields",
    [
        {"sender": "robot"},
        {"kind": "html"},
        {"client_id": ""},
        {"client_id": "x" * 65},
        {"client_id": "a\x00b"},
        {"author": ""},
        {"at": datetime(2026, 3, 4, 9, 0)},  # naive
        {"kind": "file"},  # without an attachment
        {"attachment": FileRef("f1", "a.png", "image/png", 1)},  # a text with one
        {"kind": "file", "attachment": {"id": "f1"}},  # not a FileRef
    ],
)
def test_malformed_messages_are_refused_before_the_store(fields: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "conversation_id": "a",
        "sender": "customer",
        "author": "v",
        "client_id": "1",
        "kind": "text",
        "body": "hi",
        "attachment": None,
        "at": at(0),
    }
    values.update(fields)
    with pytest.raises(ChatError) as info:
        NewMessage(**values)
    assert info.value.code == "bad_message"


# -- files -------------------------------------------------------------------------------------


def upload(sf: SessionFactory, conv: str, file_id: str | None = None) -> chat.FileInfo:
    return add_file(
        sf,
        conv,
        name="receipt\x00.png",
        type="image/png",
        size=1234,
        path=f"{conv}/f",
        uploaded_by="v-1",
        at=at(3),
        file_id=file_id,
    )


def test_a_file_message_carries_the_stored_file(session_factory: SessionFactory) -> None:
    opened(session_factory, "a", "b")
    info = upload(session_factory, "a")
    assert len(info.id) >= 20 and info.name == "receipt.png" and info.path == "a/f"
    assert file_info(session_factory, info.id) == info
    assert file_info(session_factory, "nope") is None
    other = upload(session_factory, "b", file_id="fb")
    items = [
        NewMessage("a", "customer", "v-1", "1", "file", "", FileRef(info.id, "x", "y", 1), at(4)),
        NewMessage("a", "customer", "v-1", "2", "file", "", other.ref, at(4)),
        NewMessage("a", "customer", "v-1", "3", "file", "", FileRef("nope", "", "", 0), at(4)),
    ]
    results = append_many(session_factory, items)
    assert [r.error for r in results] == [None, "no_file", "no_file"]
    expected = FileRef(info.id, "receipt.png", "image/png", 1234)
    assert results[0].message is not None and results[0].message.attachment == expected
    assert transcript(session_factory, "a")[0].attachment == expected
    assert info.ref == expected


def test_files_need_an_open_conversation_and_a_safe_path(session_factory: SessionFactory) -> None:
    opened(session_factory, "a")
    with pytest.raises(ChatError) as missing:
        upload(session_factory, "nope")
    assert missing.value.code == "no_conversation"
    for path in ("/etc/passwd", "../x", "a/../../x", "", "a\\b", "./a"):
        with pytest.raises(ChatError) as bad:
            add_file(
                session_factory,
                "a",
                name="x",
                type="text/plain",
                size=1,
                path=path,
                uploaded_by="v",
                at=at(0),
            )
        assert bad.value.code == "bad_file"
    end_conversation(session_factory, "a", at(9))
    with pytest.raises(ChatError) as ended:
        upload(session_factory, "a")
    assert ended.value.code == "conversation_ended"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatFile)) == 0


# -- receipt marks -----------------------------------------------------------------------------


def receipts(sf: SessionFactory, conv: str) -> dict[str, int]:
    info = chat.conversation(sf, conv)
    assert info is not None
    return info.receipts


def test_a_new_conversation_has_no_receipt_marks(session_factory: SessionFactory) -> None:
    opened(session_factory, "c1")
    assert receipts(session_factory, "c1") == dict.fromkeys(RECEIPT_MARKS, 0)


def test_receipt_marks_of_several_conversations_go_up_and_never_down(
    session_factory: SessionFactory,
) -> None:
    sf = session_factory
    opened(sf, "a", "b")
    mark_receipts(sf, {"a": {"customer_read": 5, "agent_delivered": 3}, "b": {"agent_read": 2}})
    mark_receipts(
        sf,
        {
            "a": {"customer_read": 4, "agent_delivered": 7},  # 4 < 5: kept at 5
            "b": {"agent_read": 0, "customer_delivered": 1},
            "nope": {"agent_read": 9},  # an unknown conversation is skipped
        },
    )
    mark_receipts(sf, {})
    assert receipts(sf, "a") == {
        "customer_delivered": 0,
        "customer_read": 5,
        "agent_delivered": 7,
        "agent_read": 0,
    }
    assert receipts(sf, "b") == {
        "customer_delivered": 1,
        "customer_read": 0,
        "agent_delivered": 0,
        "agent_read": 2,
    }
    assert chat.conversation(sf, "nope") is None


@pytest.mark.parametrize(
    "bad",
    [{"seen": 1}, {"agent_read": -1}, {"agent_read": True}, {"agent_read": "3"}],
)
def test_bad_receipt_marks_are_refused_before_anything_is_written(
    session_factory: SessionFactory, bad: dict[str, Any]
) -> None:
    opened(session_factory, "c0", "c1")
    with pytest.raises(ChatError) as refused:
        mark_receipts(session_factory, {"c0": {"agent_read": 1}, "c1": bad})
    assert refused.value.code == "bad_receipt"
    assert receipts(session_factory, "c0")["agent_read"] == 0


def test_concurrent_writers_never_lower_a_receipt_mark(db_url: str) -> None:
    """Two session factories (two processes), three writers marking the same conversations
    with seqs in rising, falling and random order; a reader watching: every mark it sees
    is at least the one it saw before, and the end is the highest seq written."""
    factories = [make_session_factory(db_url), make_session_factory(db_url)]
    opened(factories[0], "a", "b")
    orders = [list(range(1, 41)), list(range(40, 0, -1)), random.Random(7).sample(range(1, 41), 40)]
    failures: list[BaseException] = []
    done = threading.Event()

    def writer(sf: SessionFactory, seqs: list[int]) -> None:
        try:
            for seq in seqs:
                marks = {"a": {"customer_read": seq, "agent_read": seq}, "b": {"agent_read": seq}}
                while True:
                    try:
                        mark_receipts(sf, marks)
                        break
                    except OperationalError:  # SQLite: the other writer holds the lock
                        continue
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            failures.append(exc)

    def reader(sf: SessionFactory) -> None:
        last = dict.fromkeys(RECEIPT_MARKS, 0)
        try:
            while not done.is_set():
                now = receipts(sf, "a")
                assert all(now[k] >= last[k] for k in RECEIPT_MARKS), (last, now)
                last = now
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            failures.append(exc)

    writers = [
        threading.Thread(target=writer, args=(factories[n % 2], order))
        for n, order in enumerate(orders)
    ]
    watcher = threading.Thread(target=reader, args=(factories[1],))
    try:
        watcher.start()
        for t in writers:
            t.start()
        for t in writers:
            t.join(60)
        done.set()
        watcher.join(10)
        assert not failures, failures
        assert receipts(factories[0], "a") == {
            "customer_delivered": 0,
            "customer_read": 40,
            "agent_delivered": 0,
            "agent_read": 40,
        }
        assert receipts(factories[0], "b")["agent_read"] == 40
    finally:
        done.set()
        for f in factories:
            dispose(f)


# -- two writers -------------------------------------------------------------------------------


def test_two_writers_on_one_database_never_share_a_seq(db_url: str) -> None:
    """Two session factories (as two processes would have), four threads each, the same
    cids sent by all of them: every cid stored once, seqs 1..n, every answer agrees."""
    factories = [make_session_factory(db_url), make_session_factory(db_url)]
    opened(factories[0], "a", "b")
    answers: dict[tuple[str, str], set[int]] = {}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(sf: SessionFactory, offset: int) -> None:
        try:
            for n in range(15):
                batch = [msg(conv, f"m{(n + offset + k) % 20}") for conv in "ab" for k in (0, 1)]
                while True:
                    try:
                        results = append_many(sf, batch)
                        break
                    except OperationalError:  # SQLite: the other writer holds the lock
                        continue
                with lock:
                    for item, r in zip(batch, results, strict=True):
                        assert r.message is not None
                        answers.setdefault((item.conversation_id, item.client_id), set()).add(
                            r.message.seq
                        )
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(factories[n % 2], n * 3)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures, failures
        for conv in "ab":
            stored = transcript(factories[0], conv)
            assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
            assert len({m.client_id for m in stored}) == len(stored) == 20
            for m in stored:
                assert answers[(conv, m.client_id)] == {m.seq}
    finally:
        for f in factories:
            dispose(f)


# -- the shadow model: any interleaving of sends and resends ------------------------------------


def _clear(sf: SessionFactory) -> None:
    with sf.begin() as s:
        s.execute(delete(ChatMessage))
        s.execute(delete(ChatFile))
        s.execute(delete(ChatConversation))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sends=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5), st.booleans()), min_size=1, max_size=40
    )
)
def test_any_interleaving_of_sends_and_resends_gives_each_cid_one_seq(
    session_factory: SessionFactory, sends: list[tuple[int, int, bool]]
) -> None:
    """(conversation, cid, ends a batch): the model gives each new cid the next seq of its
    conversation and every resend the same seq; the store must agree after every batch."""
    sf = session_factory
    _clear(sf)
    convs = ["c0", "c1", "c2"]
    opened(sf, *convs)
    model: dict[str, dict[str, int]] = {c: {} for c in convs}
    batch: list[NewMessage] = []
    expected: list[tuple[int, bool]] = []

    def flush() -> None:
        results = append_many(sf, batch)
        assert [(r.message.seq if r.message else -1, r.duplicate) for r in results] == expected
        batch.clear()
        expected.clear()

    for conv_n, cid_n, cut in sends:
        conv, cid = convs[conv_n], f"cid-{cid_n}"
        known = model[conv]
        duplicate = cid in known
        if not duplicate:
            known[cid] = len(known) + 1
        batch.append(msg(conv, cid, f"{conv}/{cid}"))
        expected.append((known[cid], duplicate))
        if cut:
            flush()
    if batch:
        flush()
    for conv in convs:
        stored = transcript(sf, conv)
        assert [m.seq for m in stored] == list(range(1, len(model[conv]) + 1))
        assert {m.client_id: m.seq for m in stored} == model[conv]


# -- history: calls and chats of one customer --------------------------------------------------


def _contact(sf: SessionFactory, iid: str, channel: str, minute: int, phone: str) -> None:
    t = T0 + timedelta(minutes=minute)
    events = [
        RecordEvent(
            iid, t, "interaction_started", {"channel": channel, "identities": {"phone": phone}}
        ),
        RecordEvent(iid, t + timedelta(seconds=5), "queued", {"queue": "support"}),
        RecordEvent(iid, t + timedelta(seconds=20), "connected", {"agent": "1001"}),
        RecordEvent(iid, t + timedelta(seconds=200), "ended", {"by": "agent"}),
    ]
    with sf.begin() as s:
        for e in events:
            record(s, e)


def test_the_customer_history_shows_calls_and_chats_by_time(
    session_factory: SessionFactory,
) -> None:
    phone = "13800138000"
    _contact(session_factory, "call-1", "voice", 0, phone)
    open_conversation(session_factory, "chat-1", visitor="v-1", lang="zh", now=at(600))
    append_many(
        session_factory,
        [
            msg("chat-1", "1", "my parcel is late", seconds=601),
            msg("chat-1", "a1", "let me check", sender="agent", author="1001", seconds=630),
        ],
    )
    _contact(session_factory, "chat-1", "chat", 10, phone)
    _contact(session_factory, "call-2", "voice", 20, phone)
    with session_factory() as s:
        customer = find_customer(s, normalize("phone", phone))
        assert customer is not None
        history = customer_history(s, customer)
        chat_row = get_interaction(s, "chat-1")
    assert [(h.id, h.channel) for h in history] == [
        ("call-2", "voice"),
        ("chat-1", "chat"),
        ("call-1", "voice"),
    ]
    assert chat_row is not None and chat_row.outcome == "handled" and chat_row.agent == "1001"
    assert [(m.sender, m.body) for m in transcript(session_factory, "chat-1")] == [
        ("customer", "my parcel is late"),
        ("agent", "let me check"),
    ]


# -- the migration -----------------------------------------------------------------------------


def _downgrade(url: str, revision: str) -> None:
    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def test_upgrading_from_0002_adds_chat_and_agent_users(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0002")
    factory = make_session_factory(empty_db_url)
    try:
        with factory.begin() as s:  # the 0002 users table: no agent_id column yet
            s.execute(
                insert(User.__table__).values(
                    username="sue",
                    password_hash=DEFAULT_HASHER.hash("correct horse battery"),
                    role="supervisor",
                    created_at=at(0),
                )
            )
        _contact(factory, "call-1", "voice", 0, "139")
        upgrade(empty_db_url, "0003")
        assert current_revision(empty_db_url) == "0003"
        sue = authenticate(factory, "sue", "correct horse battery")
        assert sue is not None and sue.agent_id is None
        create_user(factory, "ann", "correct horse battery", role="agent")
        linked = link_agent(factory, "ann", "1001")
        assert linked is not None and linked.agent_id == "1001"
        upgrade(empty_db_url)  # the chat functions know the latest conversation columns
        opened(factory, "c1")
        assert seqs(append_many(factory, [msg("c1", "1")])) == [1]
        with factory() as s:
            assert get_interaction(s, "call-1") is not None
        # and back: chats dropped, agent users removed (the old schema has no such role)
        dispose(factory)
        _downgrade(empty_db_url, "0002")
        assert current_revision(empty_db_url) == "0002"
        engine = make_engine(empty_db_url)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                users = [tuple(r) for r in conn.execute(select(User.username, User.role))]
        finally:
            engine.dispose()
        assert not tables & {"chat_conversations", "chat_messages", "chat_files"}
        assert users == [("sue", "supervisor")]
        upgrade(empty_db_url, "0003")
        assert authenticate(factory, "sue", "correct horse battery") is not None
    finally:
        dispose(factory)


def test_upgrading_from_0003_gives_every_conversation_zero_receipt_marks(
    empty_db_url: str,
) -> None:
    upgrade(empty_db_url, "0003")
    conversations = sa.table(  # as 0003 knew them (the model has the later columns)
        "chat_conversations",
        *(sa.column(name) for name in ("id", "visitor", "state", "last_seq", "lang")),
        sa.column("created_at", UTCDateTime()),
    )
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(conversations).values(
                    id="c1", visitor="v-1", state="open", last_seq=3, lang="zh", created_at=at(0)
                )
            )
    finally:
        engine.dispose()
    upgrade(empty_db_url, "0004")
    assert current_revision(empty_db_url) == "0004"
    factory = make_session_factory(empty_db_url)
    try:
        info = chat.conversation(factory, "c1")
        assert info is not None and info.last_seq == 3
        assert info.receipts == dict.fromkeys(RECEIPT_MARKS, 0)
        mark_receipts(factory, {"c1": {"agent_read": 3}})
        assert receipts(factory, "c1")["agent_read"] == 3
        dispose(factory)
        _downgrade(empty_db_url, "0003")  # and back: the marks go, the conversation stays
        engine = make_engine(empty_db_url)
        try:
            with engine.connect() as conn:
                columns = {c["name"] for c in inspect(conn).get_columns("chat_conversations")}
                ids = [r[0] for r in conn.execute(sa.select(conversations.c.id))]
        finally:
            engine.dispose()
        assert not columns & set(RECEIPT_MARKS) and ids == ["c1"]
    finally:
        dispose(factory)
