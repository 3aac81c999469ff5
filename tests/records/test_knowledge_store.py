"""The knowledge base store (cti/records/knowledge.py) on SQLite and PostgreSQL, the demo
seed, and the live index that follows every change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from cti.knowledge.demo import load_drafts
from cti.knowledge.live import LiveKnowledge
from cti.records import knowledge as kb
from cti.records.chat import NewMessage, append_many, open_conversation
from cti.records.db import SessionFactory
from web_admin.bootstrap import ensure_demo_knowledge

NOW = datetime(2026, 3, 12, 10, 0, tzinfo=UTC)
REFUND = kb.ArticleDraft(
    "refund-time",
    "en",
    "How long does a refund take?",
    "Usually 1-3 working days.",
    "refund money back",
)


def test_an_article_is_stored_cleaned_and_read_back(session_factory: SessionFactory) -> None:
    draft = kb.ArticleDraft(
        " Refund-Time ",
        "zh",
        "  退款多久\x00到账？ ",
        "原路返回。\r\n\x07一般1-3个工作日。",
        "  退款   到账  ",
    )
    made = kb.create_article(session_factory, draft, by="sup", now=NOW)
    assert (made.key, made.lang, made.question) == ("refund-time", "zh", "退款多久 到账？")
    assert made.answer == "原路返回。\n 一般1-3个工作日。" and made.keywords == "退款 到账"
    assert (made.updated_at, made.updated_by, made.version) == (NOW, "sup", 1)
    assert kb.get_article(session_factory, made.id) == made
    assert kb.get_article(session_factory, made.id + 1) is None


@pytest.mark.parametrize(
    ("field", "draft"),
    [
        ("key", kb.ArticleDraft("", "en", "q", "a")),
        ("key", kb.ArticleDraft("has space", "en", "q", "a")),
        ("key", kb.ArticleDraft("x" * 65, "en", "q", "a")),
        ("lang", kb.ArticleDraft("k", "fr", "q", "a")),
        ("question", kb.ArticleDraft("k", "en", "   ", "a")),
        ("question", kb.ArticleDraft("k", "en", "q" * 301, "a")),
        ("answer", kb.ArticleDraft("k", "en", "q", "")),
        ("answer", kb.ArticleDraft("k", "en", "q", "a" * 4001)),
        ("keywords", kb.ArticleDraft("k", "en", "q", "a", "w" * 501)),
    ],
)
def test_a_bad_field_is_refused_by_name(
    session_factory: SessionFactory, field: str, draft: kb.ArticleDraft
) -> None:
    with pytest.raises(kb.KnowledgeError) as refused:
        kb.create_article(session_factory, draft, by="sup", now=NOW)
    assert (refused.value.code, refused.value.field) == (kb.BAD_FIELD, field)
    assert kb.count_articles(session_factory) == 0


def test_the_longest_allowed_answer_fits_on_every_backend(session_factory: SessionFactory) -> None:
    draft = kb.ArticleDraft("k" * 64, "zh", "问" * 300, "答" * 4000, "词" * 500)
    made = kb.create_article(session_factory, draft, by="u" * 64, now=NOW)
    assert len(kb.get_article(session_factory, made.id).answer) == 4000  # type: ignore[union-attr]


def test_one_key_has_one_article_per_language(session_factory: SessionFactory) -> None:
    kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    kb.create_article(
        session_factory,
        kb.ArticleDraft("refund-time", "zh", "退款多久", "1-3天"),
        by="sup",
        now=NOW,
    )
    with pytest.raises(kb.KnowledgeError) as taken:
        kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    assert (taken.value.code, taken.value.field) == (kb.KEY_TAKEN, "key")


def test_an_edit_bumps_the_version_and_a_stale_edit_is_refused(
    session_factory: SessionFactory,
) -> None:
    made = kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    later = NOW + timedelta(minutes=5)
    edited = kb.update_article(
        session_factory,
        made.id,
        kb.ArticleDraft("refund-time", "en", "When is my refund back?", "1-3 working days."),
        by="admin",
        now=later,
        version=1,
    )
    assert edited is not None
    assert (edited.question, edited.version, edited.updated_by, edited.updated_at) == (
        "When is my refund back?",
        2,
        "admin",
        later,
    )
    with pytest.raises(kb.KnowledgeError) as stale:  # someone saved version 2 meanwhile
        kb.update_article(session_factory, made.id, REFUND, by="sup", now=later, version=1)
    assert stale.value.code == kb.STALE
    assert kb.get_article(session_factory, made.id) == edited
    assert (
        kb.update_article(session_factory, made.id + 99, REFUND, by="sup", now=NOW, version=1)
        is None
    )


def test_an_edit_onto_a_used_key_is_refused(session_factory: SessionFactory) -> None:
    kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    other = kb.create_article(
        session_factory, kb.ArticleDraft("invoice", "en", "Invoice?", "Yes."), by="sup", now=NOW
    )
    with pytest.raises(kb.KnowledgeError) as taken:
        kb.update_article(session_factory, other.id, REFUND, by="sup", now=NOW, version=1)
    assert taken.value.code == kb.KEY_TAKEN


def test_delete_removes_the_article_once(session_factory: SessionFactory) -> None:
    made = kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    assert kb.delete_article(session_factory, made.id)
    assert not kb.delete_article(session_factory, made.id)
    assert kb.get_article(session_factory, made.id) is None


def test_search_matches_any_field_case_insensitively_and_takes_wildcards_literally(
    session_factory: SessionFactory,
) -> None:
    kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    kb.create_article(
        session_factory,
        kb.ArticleDraft("fees", "en", "Is it 100% free?", "Over 99_yuan."),
        by="sup",
        now=NOW,
    )
    kb.create_article(
        session_factory, kb.ArticleDraft("fees", "zh", "运费多少", "满99元包邮"), by="sup", now=NOW
    )
    found = lambda **kw: [(a.key, a.lang) for a in kb.list_articles(session_factory, **kw)[0]]  # noqa: E731
    assert found(search="REFUND") == [("refund-time", "en")]
    assert found(search="money back") == [("refund-time", "en")]
    assert found(search="100%") == [("fees", "en")]
    assert found(search="%") == [("fees", "en")]
    assert found(search="_") == [("fees", "en")]
    assert found(search="包邮") == [("fees", "zh")]
    assert found(lang="zh") == [("fees", "zh")]
    assert found() == [("fees", "en"), ("fees", "zh"), ("refund-time", "en")]
    assert kb.list_articles(session_factory, limit=1, offset=1) == (
        kb.list_articles(session_factory)[0][1:2],
        3,
    )


def test_the_revision_changes_with_every_write(session_factory: SessionFactory) -> None:
    seen = {kb.revision(session_factory)}
    made = kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    seen.add(kb.revision(session_factory))
    kb.update_article(session_factory, made.id, REFUND, by="sup", now=NOW, version=1)
    seen.add(kb.revision(session_factory))  # same time, same text: the version still moves
    kb.delete_article(session_factory, made.id)
    kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    seen.add(kb.revision(session_factory))
    assert len(seen) == 4
    assert kb.revision(session_factory) == kb.revision(session_factory)


def test_the_demo_is_seeded_once_and_never_over_edits(session_factory: SessionFactory) -> None:
    stored = ensure_demo_knowledge(session_factory)
    assert stored == len(load_drafts()) >= 40
    assert {a.lang for a in kb.all_articles(session_factory)} == {"zh", "en"}
    assert ensure_demo_knowledge(session_factory) == 0
    assert kb.seed(session_factory, [REFUND], by="demo", now=NOW) == 0
    assert kb.count_articles(session_factory) == stored


def test_the_recommender_reads_the_customers_last_text_messages(
    session_factory: SessionFactory,
) -> None:
    open_conversation(session_factory, "c1", visitor="v1", lang="zh", now=NOW)
    texts = [
        ("customer", "你好"),
        ("agent", "您好"),
        ("customer", "发票怎么开"),
        ("system", "agent joined"),
        ("customer", "抬头写错了"),
        ("customer", "在吗"),
    ]
    append_many(
        session_factory,
        [
            NewMessage(
                "c1",
                sender,
                "v1" if sender == "customer" else "a1",
                f"m{i}",
                "system" if sender == "system" else "text",
                body,
                None,
                NOW,
            )
            for i, (sender, body) in enumerate(texts)
        ],
    )
    assert kb.recent_customer_texts(session_factory, "c1", 3) == [
        "发票怎么开",
        "抬头写错了",
        "在吗",
    ]
    assert kb.recent_customer_texts(session_factory, "c1", 1) == ["在吗"]
    assert kb.recent_customer_texts(session_factory, "nobody") == []


def test_the_live_index_follows_every_change(session_factory: SessionFactory) -> None:
    live = LiveKnowledge(session_factory)
    assert live.suggest(["refund"]) == []
    made = kb.create_article(session_factory, REFUND, by="sup", now=NOW)
    assert [s.key for s in live.suggest(["when is my refund coming"])] == ["refund-time"]
    kb.update_article(
        session_factory,
        made.id,
        kb.ArticleDraft("refund-time", "en", "Refunds", "Back within 2 days."),
        by="sup",
        now=NOW,
        version=1,
    )
    assert live.suggest(["refund?"])[0].answer == "Back within 2 days."
    kb.delete_article(session_factory, made.id)
    assert live.suggest(["refund?"]) == []


def test_the_live_index_answers_in_the_language_of_the_newest_message(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:  # a bulk insert, as another process could
        from cti.records.models import KnowledgeArticle

        s.execute(
            insert(KnowledgeArticle),
            [
                {
                    "key": "refund",
                    "lang": lang,
                    "question": q,
                    "answer": a,
                    "keywords": "",
                    "updated_at": NOW,
                    "updated_by": "x",
                    "version": 1,
                }
                for lang, q, a in (("en", "Refund time", "3 days"), ("zh", "退款时间", "3天"))
            ],
        )
    live = LiveKnowledge(session_factory)
    assert [s.lang for s in live.suggest(["退款", "refund"])] == ["en"]
    assert [s.lang for s in live.suggest(["refund", "退款"])] == ["zh"]
    assert [s.lang for s in live.suggest(["12345678"], default_lang="zh")] == []
    assert live.suggest(["  ", ""]) == []
