"""The demo shop's knowledge base, read from ``demo_kb.yaml`` beside this module.

Each topic of the file (``key`` plus one block per language) becomes one ``ArticleDraft``
per language, checked like a console edit; a malformed file raises ``ValueError`` naming
the topic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cti.records.knowledge import ArticleDraft, check_draft
from cti.records.models import KNOWLEDGE_LANGS

DEMO_KB = Path(__file__).resolve().parent / "demo_kb.yaml"


def load_drafts(path: str | Path = DEMO_KB) -> list[ArticleDraft]:
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    topics = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(topics, list):
        raise ValueError(f"{path}: expected a list under 'articles'")
    drafts: list[ArticleDraft] = []
    for n, topic in enumerate(topics, 1):
        if not isinstance(topic, dict) or not isinstance(topic.get("key"), str):
            raise ValueError(f"{path}: topic {n} has no key")
        for lang in KNOWLEDGE_LANGS:
            block = topic.get(lang)
            if block is None:
                continue
            if not isinstance(block, dict):
                raise ValueError(f"{path}: topic {topic['key']!r}: {lang} is not a mapping")
            drafts.append(
                check_draft(
                    ArticleDraft(
                        topic["key"],
                        lang,
                        str(block.get("question", "")),
                        str(block.get("answer", "")),
                        str(block.get("keywords", "")),
                    )
                )
            )
    return drafts
