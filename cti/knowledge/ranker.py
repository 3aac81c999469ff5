"""Rank knowledge-base articles for what a customer wrote: BM25 (bm25s) over two fields.

Pure: articles and a tokeniser in, suggestions out; no file, clock, database or socket.
The index lives in memory and is rebuilt whole when the knowledge base changes (it is
small: building 60 articles takes a few milliseconds).

- Each article is indexed as its question (weight 2: repeated), its keywords (2), its answer
  (1) and the words of its translations (the articles of the same key in the other
  language, weight 1: a customer mixing 中文 and English still finds the article).
- Two BM25 indexes (Lucene's variant, k1 1.2, b 0.75): one of **words**, one of character
  **grams** (see ``tokens.py``); an article's score is ``words + grams_weight × grams``.
- A query is the customer's last messages; the newest counts fully, the ones before it
  half and a quarter (``recency``), so an old "hello" or an answered question fades.
- Only articles in the customer's language are ranked when there are any; one article per
  key is returned (a topic is never proposed twice).
- ``confidence`` is the score normalised into [0, 1]: the share of the most an article
  could score for this query (every query term at its highest weight in the index; a term
  the knowledge base never uses counts as a median term it failed to match). A bot can
  answer on its own above a threshold measured in ``bench/kb_bench.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np

from cti.knowledge.tokens import Tokeniser, Tokens


@dataclass(frozen=True)
class Article:
    """What the ranker indexes of a stored article."""

    id: int
    key: str
    lang: str
    question: str
    answer: str
    keywords: str = ""


@dataclass(frozen=True)
class Suggestion:
    article_id: int
    key: str
    lang: str
    score: float  # raw BM25 (words + grams_weight x grams), summed over the messages
    confidence: float  # score / the highest score this query could reach, in [0, 1]


@dataclass(frozen=True)
class Settings:
    question: int = 2
    keywords: int = 2
    answer: int = 1
    translations: int = 1
    grams_weight: float = 0.5
    k1: float = 1.2
    b: float = 0.75
    recency: tuple[float, ...] = (1.0, 0.5, 0.25)  # the newest message first


DEFAULT_SETTINGS = Settings()


class _Field:
    """One BM25 index (bm25s) over one kind of token, with the highest weight each term
    reaches in any document (for ``bound``)."""

    def __init__(self, docs: list[list[str]], k1: float, b: float) -> None:
        self.n = len(docs)
        self.bm25: Any = None
        self.vocab: dict[str, int] = {}
        self.term_max = np.zeros(0, dtype=np.float32)
        self.unknown = 0.0
        if not any(docs):
            return
        self.bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.bm25.index(docs, show_progress=False)
        self.vocab = {t: i for t, i in self.bm25.vocab_dict.items() if t}
        data, indptr = self.bm25.scores["data"], self.bm25.scores["indptr"]
        sizes = np.diff(indptr)
        maxima = np.zeros(len(sizes), dtype=np.float32)
        nonempty = sizes > 0
        if len(data):
            maxima[nonempty] = np.maximum.reduceat(data, indptr[:-1][nonempty])
        self.term_max = maxima
        known = maxima[[self.vocab[t] for t in self.vocab]]
        self.unknown = float(np.median(known)) if len(known) else 0.0

    def scores(self, tokens: list[str]) -> np.ndarray:
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        if self.bm25 is None or not ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def bound(self, tokens: list[str]) -> float:
        """The most any one document could score for ``tokens``."""
        return float(
            sum(
                float(self.term_max[self.vocab[t]]) if t in self.vocab else self.unknown
                for t in tokens
            )
        )


class Ranker:
    """An index of ``articles``; ``rank_messages`` proposes the best ones for a chat."""

    def __init__(
        self,
        articles: Sequence[Article],
        tokeniser: Tokeniser,
        settings: Settings = DEFAULT_SETTINGS,
    ) -> None:
        self.articles = list(articles)
        self.tokeniser = tokeniser
        self.settings = settings
        own = [self._own_tokens(a) for a in self.articles]
        by_key: dict[str, list[int]] = {}
        for i, a in enumerate(self.articles):
            by_key.setdefault(a.key, []).append(i)
        words, grams = [], []
        for i, a in enumerate(self.articles):
            w, g = list(own[i].words), list(own[i].grams)
            for j in by_key[a.key]:
                if j != i and self.articles[j].lang != a.lang:
                    w += self._plain(self.articles[j]).words * settings.translations
            words.append(w)
            grams.append(g)
        self.words = _Field(words, settings.k1, settings.b)
        self.grams = _Field(grams, settings.k1, settings.b)
        self.langs = np.array([a.lang for a in self.articles], dtype=object)

    def _plain(self, a: Article) -> Tokens:
        """An article's own text, each field once (what its translations borrow)."""
        return self.tokeniser.tokens(f"{a.question}\n{a.keywords}\n{a.answer}")

    def _own_tokens(self, a: Article) -> Tokens:
        s = self.settings
        q, k, ans = (self.tokeniser.tokens(t) for t in (a.question, a.keywords, a.answer))
        return Tokens(
            q.words * s.question + k.words * s.keywords + ans.words * s.answer,
            q.grams * s.question + k.grams * s.keywords + ans.grams * s.answer,
        )

    def rank(self, text: str, k: int = 3, lang: str | None = None) -> list[Suggestion]:
        return self.rank_messages([text], k, lang)

    def rank_messages(
        self, messages: Sequence[str], k: int = 3, lang: str | None = None
    ) -> list[Suggestion]:
        """The ``k`` best articles (one per key) for ``messages`` (oldest first), in
        ``lang`` when the knowledge base has articles in it; none that match nothing."""
        if not self.articles or k <= 0:
            return []
        s = self.settings
        total = np.zeros(len(self.articles), dtype=np.float64)
        bound = 0.0
        recent = list(messages)[-len(s.recency) :][::-1]
        for weight, text in zip(s.recency, recent, strict=False):
            tokens = self.tokeniser.tokens(text)
            total += weight * (
                self.words.scores(tokens.words) + s.grams_weight * self.grams.scores(tokens.grams)
            )
            bound += weight * (
                self.words.bound(tokens.words) + s.grams_weight * self.grams.bound(tokens.grams)
            )
        if lang is not None and (self.langs == lang).any():
            total[self.langs != lang] = 0.0
        order = sorted(range(len(total)), key=lambda i: (-total[i], i))
        found: list[Suggestion] = []
        keys: set[str] = set()
        for i in order:
            if total[i] <= 0 or len(found) == k:
                break
            a = self.articles[i]
            if a.key in keys:
                continue
            keys.add(a.key)
            score = float(total[i])
            found.append(
                Suggestion(
                    a.id, a.key, a.lang, score, min(1.0, score / bound) if bound > 0 else 0.0
                )
            )
        return found
