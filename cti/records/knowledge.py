"""The knowledge base: questions and their answers, in Chinese and English.

Edited in the console (``web_admin/knowledge.py``), ranked by ``cti/knowledge`` for the agent
desktop's recommended answers. An article is one question and answer in one language; the
articles sharing a ``key`` are translations of one topic (``(key, lang)`` is unique).

Functions take a session factory, run one transaction each and return frozen dataclasses.
Time and the editor's name are parameters. Every field is checked here, the one place where
text becomes a row: refusals are ``KnowledgeError`` with a stable ``code`` and the field.
An edit names the ``version`` it was made from; an edit of an older version (someone else
saved in between) is refused, so nobody overwrites a change they never saw.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from cti.records.db import SessionFactory
from cti.records.errors import UseCaseError
from cti.records.models import KNOWLEDGE_LANGS, ChatMessage, KnowledgeArticle

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
QUESTION_MAX, ANSWER_MAX, KEYWORDS_MAX, EDITOR_MAX = 300, 4000, 500, 64  # answer: a chat text
LIST_MAX = 200
SEARCH_MAX = 100

BAD_FIELD = "bad_field"
KEY_TAKEN = "key_taken"
STALE = "stale_version"
_SURROGATE = re.compile("[\ud800-\udfff]")


class KnowledgeError(UseCaseError):
    """A knowledge-base use case refused its input; ``code`` is stable, ``field`` names the
    form field it is about (or "")."""

    def __init__(self, code: str, message: str, field: str = "", **details: Any) -> None:
        super().__init__(code, message, **details)
        self.field = field


@dataclass(frozen=True)
class ArticleDraft:
    """What an editor submits; ``check_draft`` gives back the cleaned one that is stored."""

    key: str
    lang: str
    question: str
    answer: str
    keywords: str = ""


@dataclass(frozen=True)
class ArticleInfo:
    id: int
    key: str
    lang: str
    question: str
    answer: str
    keywords: str
    updated_at: datetime
    updated_by: str
    version: int


def _clean(text: str, *, multiline: bool) -> str:
    """NFC, no NUL or control characters (a newline kept where lines make sense), no lone
    surrogates, no blanks at either end."""
    if not isinstance(text, str):
        return ""
    text = _SURROGATE.sub("\ufffd", unicodedata.normalize("NFC", text.replace("\r\n", "\n")))
    keep = "\n\t" if multiline else ""
    return "".join(c if c in keep or unicodedata.category(c) != "Cc" else " " for c in text).strip()


def _bounded(field: str, value: str, limit: int, *, required: bool = True) -> str:
    if required and not value:
        raise KnowledgeError(BAD_FIELD, f"{field} is required", field)
    if len(value) > limit:
        raise KnowledgeError(
            BAD_FIELD, f"{field} has at most {limit} characters", field, max_length=limit
        )
    return value


def check_draft(draft: ArticleDraft) -> ArticleDraft:
    """The draft as it is stored (cleaned), or ``KnowledgeError`` naming the first bad field."""
    key = _clean(draft.key, multiline=False).lower()
    if not KEY.match(key):
        raise KnowledgeError(
            BAD_FIELD,
            "key is 1-64 characters: lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit",
            "key",
        )
    if draft.lang not in KNOWLEDGE_LANGS:
        raise KnowledgeError(BAD_FIELD, f"lang must be one of {', '.join(KNOWLEDGE_LANGS)}", "lang")
    question = _bounded("question", _clean(draft.question, multiline=False), QUESTION_MAX)
    answer = _bounded("answer", _clean(draft.answer, multiline=True), ANSWER_MAX)
    keywords = _bounded(
        "keywords",
        " ".join(_clean(draft.keywords, multiline=False).split()),
        KEYWORDS_MAX,
        required=False,
    )
    return ArticleDraft(key, draft.lang, question, answer, keywords)


def _editor(by: str) -> str:
    name = _clean(by, multiline=False)
    if not name or len(name) > EDITOR_MAX:
        raise KnowledgeError(BAD_FIELD, f"the editor is 1-{EDITOR_MAX} characters", "updated_by")
    return name


def _info(row: KnowledgeArticle) -> ArticleInfo:
    return ArticleInfo(
        row.id,
        row.key,
        row.lang,
        row.question,
        row.answer,
        row.keywords,
        row.updated_at,
        row.updated_by,
        row.version,
    )


def _taken(draft: ArticleDraft) -> KnowledgeError:
    return KnowledgeError(
        KEY_TAKEN,
        f"there is already a {draft.lang} article with key {draft.key!r}",
        "key",
        key=draft.key,
        lang=draft.lang,
    )


def create_article(
    sf: SessionFactory, draft: ArticleDraft, *, by: str, now: datetime
) -> ArticleInfo:
    """Check the draft, then store it as version 1."""
    clean, editor = check_draft(draft), _editor(by)
    try:
        with sf.begin() as session:
            row = KnowledgeArticle(
                key=clean.key,
                lang=clean.lang,
                question=clean.question,
                answer=clean.answer,
                keywords=clean.keywords,
                updated_at=now,
                updated_by=editor,
                version=1,
            )
            session.add(row)
            session.flush()
            return _info(row)
    except IntegrityError:
        raise _taken(clean) from None


def update_article(
    sf: SessionFactory,
    article_id: int,
    draft: ArticleDraft,
    *,
    by: str,
    now: datetime,
    version: int,
) -> ArticleInfo | None:
    """Replace the article's fields if it is still at ``version`` (else ``STALE``); None if
    there is no such article."""
    clean, editor = check_draft(draft), _editor(by)
    try:
        with sf.begin() as session:
            row = session.get(KnowledgeArticle, article_id, with_for_update=True)
            if row is None:
                return None
            if row.version != version:
                raise KnowledgeError(
                    STALE,
                    "this article was changed by someone else meanwhile: reload it and edit again",
                    "version",
                    current=row.version,
                )
            row.key, row.lang, row.question = clean.key, clean.lang, clean.question
            row.answer, row.keywords = clean.answer, clean.keywords
            row.updated_at, row.updated_by, row.version = now, editor, row.version + 1
            session.flush()
            return _info(row)
    except IntegrityError:
        raise _taken(clean) from None


def delete_article(sf: SessionFactory, article_id: int) -> bool:
    with sf.begin() as session:
        gone = session.execute(delete(KnowledgeArticle).where(KnowledgeArticle.id == article_id))
        return bool(getattr(gone, "rowcount", 0))


def get_article(sf: SessionFactory, article_id: int) -> ArticleInfo | None:
    with sf() as session:
        row = session.get(KnowledgeArticle, article_id)
        return None if row is None else _info(row)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_articles(
    sf: SessionFactory,
    *,
    search: str = "",
    lang: str | None = None,
    limit: int = LIST_MAX,
    offset: int = 0,
) -> tuple[list[ArticleInfo], int]:
    """Articles by key then language, optionally only those whose key, question, answer or
    keywords contain ``search`` (case-insensitive), or of one language; and how many match."""
    query = select(KnowledgeArticle)
    term = " ".join(_clean(search, multiline=False).split())[:SEARCH_MAX]
    if term:
        pattern = _like(term)
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        KnowledgeArticle.key,
                        KnowledgeArticle.question,
                        KnowledgeArticle.answer,
                        KnowledgeArticle.keywords,
                    )
                )
            )
        )
    if lang is not None:
        query = query.where(KnowledgeArticle.lang == lang)
    with sf() as session:
        total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = session.scalars(
            query.order_by(KnowledgeArticle.key, KnowledgeArticle.lang)
            .limit(max(0, min(limit, LIST_MAX)))
            .offset(max(0, offset))
        )
        return [_info(r) for r in rows], total


def all_articles(sf: SessionFactory) -> list[ArticleInfo]:
    """Every article (the recommender's index is built from them)."""
    with sf() as session:
        return [
            _info(r)
            for r in session.scalars(select(KnowledgeArticle).order_by(KnowledgeArticle.id))
        ]


def revision(sf: SessionFactory) -> tuple[int, int, int]:
    """A value that changes whenever an article is created, edited or deleted (one cheap
    aggregate: an in-memory index compares it before each use, whoever made the change).

    (count, sum of ids, sum of versions): an edit raises a version; ids are never reused
    (a sequence; AUTOINCREMENT on SQLite), so deleting n articles and creating n others
    raises the sum of ids, and any other mix of deletes and creates changes the count."""
    with sf() as session:
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(KnowledgeArticle.id), 0),
                func.coalesce(func.sum(KnowledgeArticle.version), 0),
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])


def seed(sf: SessionFactory, drafts: Iterable[ArticleDraft], *, by: str, now: datetime) -> int:
    """Store ``drafts`` if the knowledge base is empty (the demo's first start); how many."""
    cleaned = [check_draft(d) for d in drafts]
    editor = _editor(by)
    try:
        with sf.begin() as session:
            if session.scalar(select(func.count()).select_from(KnowledgeArticle)):
                return 0
            session.add_all(
                KnowledgeArticle(
                    key=d.key,
                    lang=d.lang,
                    question=d.question,
                    answer=d.answer,
                    keywords=d.keywords,
                    updated_at=now,
                    updated_by=editor,
                    version=1,
                )
                for d in cleaned
            )
            return len(cleaned)
    except IntegrityError:  # another process seeded it first (or the file repeats a key)
        return 0


def recent_customer_texts(sf: SessionFactory, conversation_id: str, limit: int = 3) -> list[str]:
    """The customer's last ``limit`` text messages of a conversation, oldest first: what
    the recommender reads to propose answers."""
    query = (
        select(ChatMessage.body)
        .where(
            ChatMessage.conversation_id == conversation_id,
            ChatMessage.sender == "customer",
            ChatMessage.kind == "text",
        )
        .order_by(ChatMessage.seq.desc())
        .limit(max(1, min(limit, 10)))
    )
    with sf() as session:
        bodies: Sequence[str] = list(session.scalars(query))
    return list(reversed(bodies))


def count_articles(sf: SessionFactory) -> int:
    with sf() as session:
        return int(session.scalar(select(func.count()).select_from(KnowledgeArticle)) or 0)
