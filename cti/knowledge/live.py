"""The knowledge base as the desktop reads it: the stored articles, ranked in memory.

``LiveKnowledge.suggest`` runs in a WSGI thread: it compares the knowledge base's revision
(one aggregate query) with the one its index was built from, rebuilds the ranker when an
article was created, edited or deleted (by this process's console or any other), then ranks.
The segmenter is made once, on first use; the lock keeps two threads from building at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cti.knowledge.ranker import DEFAULT_SETTINGS, Article, Ranker, Settings
from cti.knowledge.tokens import Segmenter, Tokeniser, language_of
from cti.records import knowledge as store
from cti.records.db import SessionFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposed:
    """A suggestion with the text an agent sends."""

    id: int
    key: str
    lang: str
    question: str
    answer: str
    score: float
    confidence: float


class LiveKnowledge:
    def __init__(
        self,
        session_factory: SessionFactory,
        segmenter: Callable[[], Segmenter] | None = None,
        settings: Settings = DEFAULT_SETTINGS,
    ) -> None:
        self.sf = session_factory
        self.settings = settings
        self._make_segmenter = segmenter
        self._tokeniser: Tokeniser | None = None
        self._lock = threading.Lock()
        self._revision: tuple[int, int, int] | None = None
        self._ranker: Ranker | None = None
        self._articles: dict[int, store.ArticleInfo] = {}

    def _ensure(self) -> tuple[Ranker, dict[int, store.ArticleInfo]]:
        revision = store.revision(self.sf)
        with self._lock:
            if self._ranker is None or revision != self._revision:
                if self._tokeniser is None:
                    if self._make_segmenter is None:
                        from cti.knowledge.segment import jieba_segmenter

                        self._make_segmenter = jieba_segmenter
                    self._tokeniser = Tokeniser(self._make_segmenter())
                infos = store.all_articles(self.sf)
                self._articles = {a.id: a for a in infos}
                self._ranker = Ranker(
                    [Article(a.id, a.key, a.lang, a.question, a.answer, a.keywords) for a in infos],
                    self._tokeniser,
                    self.settings,
                )
                self._revision = revision
                log.info("knowledge index built: %d articles", len(infos))
            return self._ranker, self._articles

    def suggest(
        self, messages: Sequence[str], k: int = 3, default_lang: str | None = None
    ) -> list[Proposed]:
        """The best ``k`` answers for a customer's last ``messages`` (oldest first), in the
        language of the newest message that has letters (else ``default_lang``)."""
        texts = [m for m in messages if m.strip()]
        if not texts:
            return []
        lang = next(
            (found for m in reversed(texts) if (found := language_of(m)) is not None), default_lang
        )
        ranker, articles = self._ensure()
        return [
            Proposed(
                s.article_id,
                s.key,
                s.lang,
                articles[s.article_id].question,
                articles[s.article_id].answer,
                round(s.score, 3),
                round(s.confidence, 3),
            )
            for s in ranker.rank_messages(texts, k, lang)
            if s.article_id in articles
        ]
