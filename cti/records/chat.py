"""The durable chat transcript: conversations, their messages, their files.

This is the only place chat messages live; the realtime layer acknowledges a message only
once ``append_many`` has committed it ("nothing lost, nothing twice", docs/REALTIME.md):

- every stored message gets the next ``seq`` of its conversation (1, 2, ...), allocated with
  the conversation row locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the batch
  takes the database write lock before it reads anything), so two writers never hand out the
  same seq or miss each other's client ids;
- ``(conversation_id, sender, client_id)`` is unique: a resend of a stored client message id
  comes back as a duplicate with the stored message (same seq) and writes nothing;
- a conversation keeps its receipt marks (``RECEIPT_MARKS``: the highest seq the customer
  and the agent side have confirmed delivered / read); ``mark_receipts`` only raises them.

Functions take a session factory, run one transaction each and return frozen dataclasses.
Time is a parameter. Refusals are ``ChatError`` with a stable ``code`` (or, for one item of
a batch, that code in ``Appended.error``).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from cti.records.customers import insert_ignoring, resolve
from cti.records.db import SessionFactory
from cti.records.errors import UseCaseError
from cti.records.models import (
    CHAT_KINDS,
    CHAT_SENDERS,
    ChatConversation,
    ChatFile,
    ChatMessage,
)

NO_CONVERSATION = "no_conversation"
CONVERSATION_ENDED = "conversation_ended"
NO_FILE = "no_file"  # a file message whose file is unknown or belongs to another conversation
# Who confirmed what: the highest seq the customer / the agent side has received or read.
RECEIPT_MARKS = ("customer_delivered", "customer_read", "agent_delivered", "agent_read")

_CONVERSATIONS = ChatConversation.metadata.tables[ChatConversation.__tablename__]
_MESSAGES = ChatMessage.metadata.tables[ChatMessage.__tablename__]
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates: not encodable as UTF-8
_ID_MAX, _NAME_MAX, _TYPE_MAX, _PATH_MAX = 64, 255, 100, 512


class ChatError(UseCaseError):
    """A chat use case refused its input; ``code`` is stable, ``details`` machine-readable."""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    visitor: str
    customer_id: int | None  # the surviving customer, merges followed
    state: str  # "open" | "ended"
    last_seq: int
    created_at: datetime
    ended_at: datetime | None
    lang: str
    customer_delivered: int = 0
    customer_read: int = 0
    agent_delivered: int = 0
    agent_read: int = 0

    @property
    def receipts(self) -> dict[str, int]:
        """The receipt marks, by ``RECEIPT_MARKS`` name."""
        return {name: getattr(self, name) for name in RECEIPT_MARKS}


@dataclass(frozen=True)
class FileRef:
    """What a message says about its attachment (the ``file`` of a ``msg`` frame)."""

    id: str
    name: str
    type: str
    size: int


@dataclass(frozen=True)
class FileInfo:
    id: str
    conversation_id: str
    name: str
    type: str
    size: int
    path: str  # relative to the data directory
    uploaded_by: str
    at: datetime

    @property
    def ref(self) -> FileRef:
        """What a message carries about this file."""
        return FileRef(self.id, self.name, self.type, self.size)


def _check_id(code: str, what: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > _ID_MAX or "\x00" in value:
        raise ChatError(code, f"{what} must be 1-{_ID_MAX} characters", field=what)


def clean_text(text: str) -> str:
    """Text as it is stored: no NUL (PostgreSQL refuses them), no lone surrogate."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


@dataclass(frozen=True)
class NewMessage:
    """A message to store. ``attachment`` (kind ``file`` only) names an uploaded file of the
    same conversation by its id; what is stored is that file's own name, type and size."""

    conversation_id: str
    sender: str  # "customer" | "agent" | "system"
    author: str  # the agent id or the visitor id
    client_id: str  # the sender's message id (``cid``)
    kind: str  # "text" | "file" | "system"
    body: str
    attachment: FileRef | None
    at: datetime

    def __post_init__(self) -> None:
        for what in ("conversation_id", "author", "client_id"):
            _check_id("bad_message", what, getattr(self, what))
        if self.sender not in CHAT_SENDERS:
            raise ChatError("bad_message", "unknown sender", sender=str(self.sender)[:16])
        if self.kind not in CHAT_KINDS:
            raise ChatError("bad_message", "unknown kind", kind=str(self.kind)[:16])
        if (self.kind == "file") != (self.attachment is not None):
            raise ChatError("bad_message", "a file message, and only one, has an attachment")
        if self.attachment is not None and not isinstance(self.attachment, FileRef):
            raise ChatError("bad_message", "an attachment is a FileRef")
        if not isinstance(self.body, str):
            raise ChatError("bad_message", "body must be text")
        if self.at.tzinfo is None:
            raise ChatError("bad_message", "naive message time")


@dataclass(frozen=True)
class StoredMessage:
    conversation_id: str
    seq: int
    sender: str
    author: str
    client_id: str
    kind: str
    body: str
    attachment: FileRef | None
    at: datetime


@dataclass(frozen=True)
class Appended:
    """The outcome of one ``NewMessage``: stored now, already stored (``duplicate``: the
    stored message, same seq), or refused (``error`` set, ``message`` None)."""

    message: StoredMessage | None
    duplicate: bool = False
    error: str | None = None


# -- conversations -----------------------------------------------------------------------------


def _conversation_info(session: Session, row: ChatConversation) -> ConversationInfo:
    customer = None if row.customer_id is None else resolve(session, row.customer_id)
    return ConversationInfo(
        row.id,
        row.visitor,
        customer,
        row.state,
        row.last_seq,
        row.created_at,
        row.ended_at,
        row.lang,
        row.customer_delivered,
        row.customer_read,
        row.agent_delivered,
        row.agent_read,
    )


def open_conversation(
    sf: SessionFactory,
    conversation_id: str,
    *,
    visitor: str,
    lang: str,
    now: datetime,
    customer_id: int | None = None,
) -> ConversationInfo:
    """Create the conversation; if it exists already (a retried open), return it unchanged."""
    _check_id("bad_conversation", "conversation_id", conversation_id)
    _check_id("bad_conversation", "visitor", visitor)
    if not lang or len(lang) > 8:
        raise ChatError("bad_conversation", "lang must be 1-8 characters", field="lang")
    with sf.begin() as session:
        stmt = insert_ignoring(session, _CONVERSATIONS).values(
            id=conversation_id,
            visitor=visitor,
            customer_id=customer_id,
            state="open",
            last_seq=0,
            created_at=now,
            lang=lang,
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        row = session.get_one(ChatConversation, conversation_id)
        return _conversation_info(session, row)


def conversation(sf: SessionFactory, conversation_id: str) -> ConversationInfo | None:
    with sf() as session:
        row = session.get(ChatConversation, conversation_id)
        return None if row is None else _conversation_info(session, row)


def find_open_conversation(sf: SessionFactory, visitor: str) -> ConversationInfo | None:
    """The visitor's latest open conversation (what a returning visitor resumes)."""
    with sf() as session:
        row = session.scalars(
            select(ChatConversation)
            .where(ChatConversation.visitor == visitor, ChatConversation.state == "open")
            .order_by(ChatConversation.created_at.desc(), ChatConversation.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _conversation_info(session, row)


def open_conversations(sf: SessionFactory) -> list[ConversationInfo]:
    """Every open conversation, oldest first (what a restart puts back in the queue)."""
    with sf() as session:
        rows = session.scalars(
            select(ChatConversation)
            .where(ChatConversation.state == "open")
            .order_by(ChatConversation.created_at, ChatConversation.id)
        ).all()
        return [_conversation_info(session, row) for row in rows]


def end_conversation(sf: SessionFactory, conversation_id: str, now: datetime) -> bool:
    """End an open conversation; False if it is unknown or ended already."""
    with sf.begin() as session:
        result = session.execute(
            update(ChatConversation)
            .where(ChatConversation.id == conversation_id, ChatConversation.state == "open")
            .values(state="ended", ended_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def link_customer(sf: SessionFactory, conversation_id: str, customer_id: int) -> bool:
    """Record who the visitor turned out to be; False if there is no such conversation."""
    with sf.begin() as session:
        result = session.execute(
            update(ChatConversation)
            .where(ChatConversation.id == conversation_id)
            .values(customer_id=customer_id)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_receipts(sf: SessionFactory, marks: Mapping[str, Mapping[str, int]]) -> None:
    """Raise receipt marks, ``{conversation_id: {mark name: seq}}``, in ONE transaction.

    A mark only goes up: each is set with ``CASE WHEN mark < :seq THEN :seq ELSE mark END``,
    so concurrent writers (two processes, a retried flush) can never lower one. Unknown
    conversations are skipped; a bad name or seq is refused (``bad_receipt``) before any
    write. Rows are updated in id order, one lock order for every writer.
    """
    rows: list[dict[str, Any]] = []
    for conv in sorted(marks):
        given = marks[conv]
        unknown = set(given) - set(RECEIPT_MARKS)
        if unknown:
            raise ChatError("bad_receipt", "unknown receipt mark", mark=sorted(unknown)[0][:32])
        for name, seq in given.items():
            if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**31:
                raise ChatError("bad_receipt", "a receipt mark is a seq", mark=name)
        rows.append({"b_id": conv, **{f"b_{name}": given.get(name, 0) for name in RECEIPT_MARKS}})
    if not rows:
        return
    table = _CONVERSATIONS
    new = {name: bindparam(f"b_{name}", type_=Integer()) for name in RECEIPT_MARKS}
    raised = {
        name: case((table.c[name] < new[name], new[name]), else_=table.c[name])
        for name in RECEIPT_MARKS
    }
    with sf.begin() as session:
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(raised), rows)


# -- messages ----------------------------------------------------------------------------------


_MESSAGE_COLUMNS = (
    ChatMessage.conversation_id,
    ChatMessage.seq,
    ChatMessage.sender,
    ChatMessage.author,
    ChatMessage.client_id,
    ChatMessage.kind,
    ChatMessage.body,
    ChatMessage.attachment,
    ChatMessage.at,
)


def _ref(data: dict[str, Any] | None) -> FileRef | None:
    if data is None:
        return None
    return FileRef(str(data["id"]), str(data["name"]), str(data["type"]), int(data["size"]))


def _stored(row: Row[Any]) -> StoredMessage:
    conv, seq, sender, author, cid, kind, body, attachment, at = tuple(row)
    return StoredMessage(conv, seq, sender, author, cid, kind, body, _ref(attachment), at)


def _lock_conversations(session: Session, ids: list[str]) -> dict[str, tuple[str, int]]:
    """``{id: (state, last_seq)}`` of the existing ones, locked until the commit."""
    table = _CONVERSATIONS
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite begins the transaction at the first write: make that the first statement,
        # so that what is read next cannot change before the commit.
        session.execute(update(table).where(table.c.id.in_(ids)).values(last_seq=table.c.last_seq))
        query = select(table.c.id, table.c.state, table.c.last_seq).where(table.c.id.in_(ids))
    else:
        query = (
            select(table.c.id, table.c.state, table.c.last_seq)
            .where(table.c.id.in_(ids))
            .order_by(table.c.id)  # one lock order for every writer: no deadlock
            .with_for_update()
        )
    return {cid: (state, last) for cid, state, last in session.execute(query)}


def _stored_duplicates(
    session: Session, items: Sequence[NewMessage]
) -> dict[tuple[str, str, str], StoredMessage]:
    rows = session.execute(
        select(*_MESSAGE_COLUMNS).where(
            ChatMessage.conversation_id.in_({i.conversation_id for i in items}),
            ChatMessage.client_id.in_({i.client_id for i in items}),
        )
    )
    found = (_stored(row) for row in rows)
    return {(m.conversation_id, m.sender, m.client_id): m for m in found}


def _files(session: Session, items: Sequence[NewMessage]) -> dict[str, FileInfo]:
    wanted = {i.attachment.id for i in items if i.attachment is not None}
    if not wanted:
        return {}
    rows = session.scalars(select(ChatFile).where(ChatFile.id.in_(wanted)))
    return {row.id: _file_info(row) for row in rows}


def append_many(sf: SessionFactory, items: Sequence[NewMessage]) -> list[Appended]:
    """Store ``items`` in ONE transaction (group commit); the outcomes, in item order.

    Per item, in order: a client id already stored (or earlier in the batch) is a duplicate;
    an unknown or ended conversation is refused (``no_conversation``, ``conversation_ended``)
    as is a file message whose file is not one of that conversation's (``no_file``); the
    others get their conversation's next seqs in batch order. A refused item does not stop
    the others. A database error rolls the whole batch back (nothing was stored: retry it).
    """
    if not items:
        return []
    with sf.begin() as session:
        conversations = _lock_conversations(session, sorted({i.conversation_id for i in items}))
        seen = _stored_duplicates(session, items)
        files = _files(session, items)
        last = {conv: last_seq for conv, (_, last_seq) in conversations.items()}
        results: list[Appended] = []
        rows: list[dict[str, Any]] = []
        for item in items:
            key = (item.conversation_id, item.sender, item.client_id)
            if key in seen:
                results.append(Appended(seen[key], duplicate=True))
                continue
            error = _refusal(item, conversations, files)
            if error is not None:
                results.append(Appended(None, error=error))
                continue
            last[item.conversation_id] += 1
            attachment = None if item.attachment is None else files[item.attachment.id].ref
            message = StoredMessage(
                item.conversation_id,
                last[item.conversation_id],
                item.sender,
                item.author,
                item.client_id,
                item.kind,
                clean_text(item.body),
                attachment,
                item.at,
            )
            seen[key] = message
            results.append(Appended(message))
            rows.append(_row(message))
        if rows:
            session.execute(insert(_MESSAGES), rows)
            grown = [
                {"b_id": conv, "b_seq": seq}
                for conv, seq in last.items()
                if seq != conversations[conv][1]
            ]
            session.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == bindparam("b_id"))
                .values(last_seq=bindparam("b_seq")),
                grown,
            )
        return results


def _refusal(
    item: NewMessage,
    conversations: dict[str, tuple[str, int]],
    files: dict[str, FileInfo],
) -> str | None:
    state = conversations.get(item.conversation_id)
    if state is None:
        return NO_CONVERSATION
    if state[0] != "open":
        return CONVERSATION_ENDED
    if item.attachment is not None:
        file = files.get(item.attachment.id)
        if file is None or file.conversation_id != item.conversation_id:
            return NO_FILE
    return None


def _row(message: StoredMessage) -> dict[str, Any]:
    ref = message.attachment
    return {
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender,
        "author": message.author,
        "client_id": message.client_id,
        "kind": message.kind,
        "body": message.body,
        "attachment": None if ref is None else dataclasses.asdict(ref),
        "at": message.at,
    }


def messages_after(
    sf: SessionFactory, conversation_id: str, seq: int, limit: int | None = 1000
) -> list[StoredMessage]:
    """The messages with a seq above ``seq``, in seq order (a resume), at most ``limit``."""
    query = (
        select(*_MESSAGE_COLUMNS)
        .where(ChatMessage.conversation_id == conversation_id, ChatMessage.seq > seq)
        .order_by(ChatMessage.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    with sf() as session:
        return [_stored(row) for row in session.execute(query)]


def transcript(sf: SessionFactory, conversation_id: str) -> list[StoredMessage]:
    """Every message of the conversation, in seq order (the screen pop, the history)."""
    return messages_after(sf, conversation_id, 0, limit=None)


# -- files -------------------------------------------------------------------------------------


def _file_info(row: ChatFile) -> FileInfo:
    return FileInfo(
        row.id, row.conversation_id, row.name, row.type, row.size, row.path, row.uploaded_by, row.at
    )


def _check_file(name: str, content_type: str, size: int, path: str) -> None:
    if not name or len(name) > _NAME_MAX:
        raise ChatError("bad_file", f"a file name is 1-{_NAME_MAX} characters")
    if not content_type or len(content_type) > _TYPE_MAX or "\x00" in content_type:
        raise ChatError("bad_file", f"a content type is 1-{_TYPE_MAX} characters")
    if size < 0:
        raise ChatError("bad_file", "a file size is not negative", size=size)
    if (
        len(path) > _PATH_MAX
        or "\x00" in path
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))  # also "/abs", "a//b"
    ):
        raise ChatError("bad_file", "a file path is relative to the data directory")


def add_file(
    sf: SessionFactory,
    conversation_id: str,
    *,
    name: str,
    type: str,
    size: int,
    path: str,
    uploaded_by: str,
    at: datetime,
    file_id: str | None = None,
) -> FileInfo:
    """Record an uploaded file of an open conversation (the upload handler wrote it at
    ``path``, relative to the data directory); its id is random unless given."""
    name = clean_text(name).strip()
    _check_file(name, type, size, path)
    _check_id("bad_file", "uploaded_by", uploaded_by)
    fid = secrets.token_urlsafe(18) if file_id is None else file_id
    _check_id("bad_file", "file_id", fid)
    with sf.begin() as session:
        row = session.get(ChatConversation, conversation_id)
        if row is None:
            raise ChatError(NO_CONVERSATION, "no such conversation", conv=conversation_id[:64])
        if row.state != "open":
            raise ChatError(CONVERSATION_ENDED, "the conversation has ended", conv=row.id)
        stored = ChatFile(
            id=fid,
            conversation_id=conversation_id,
            name=name,
            type=type,
            size=size,
            path=path,
            uploaded_by=uploaded_by,
            at=at,
        )
        session.add(stored)
        session.flush()
        return _file_info(stored)


def file_info(sf: SessionFactory, file_id: str) -> FileInfo | None:
    with sf() as session:
        row = session.get(ChatFile, file_id)
        return None if row is None else _file_info(row)
