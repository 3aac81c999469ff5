"""The demo knowledge base and one jieba tokeniser, shared by the ranker tests (loading
jieba's dictionary costs ~0.1 s: once per session)."""

from __future__ import annotations

import pytest

from cti.knowledge.demo import load_drafts
from cti.knowledge.ranker import Article, Ranker
from cti.knowledge.segment import jieba_segmenter
from cti.knowledge.tokens import Tokeniser


@pytest.fixture(scope="session")
def tokeniser() -> Tokeniser:
    return Tokeniser(jieba_segmenter())


@pytest.fixture(scope="session")
def demo_articles() -> list[Article]:
    return [
        Article(i, d.key, d.lang, d.question, d.answer, d.keywords)
        for i, d in enumerate(load_drafts(), 1)
    ]


@pytest.fixture(scope="session")
def demo_ranker(demo_articles: list[Article], tokeniser: Tokeniser) -> Ranker:
    return Ranker(demo_articles, tokeniser)
