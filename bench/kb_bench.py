"""Recommended answers, measured: the knowledge-base ranker against a substring baseline.

    .venv/bin/python -m bench.kb_bench               # prints, writes the kb section of RESULTS.md
    .venv/bin/python -m bench.kb_bench --no-write    # prints only
    .venv/bin/python -m bench.kb_bench --split tune --grams-weight 0.3   # while tuning

The knowledge base is the demo shop's (``cti/knowledge/demo_kb.yaml``), the messages are
``bench/kb/labelled.yaml``: customer messages with the key of the topic that answers them.
Every third message is held out (never looked at while tuning); figures are given for the
tuning part, the held-out part and all. A message counts as found at rank r when the r-th
proposed article has its key; hit@1 and hit@3 are the shares found at rank 1 and within 3,
MRR the mean of 1/r over the first 10 (0 when not found).

The **baseline** is plain substring matching, as keyword rules of quick-reply tools do: an
article scores the total length of its keywords and its question that occur verbatim in
the (normalised) message; the same language choice as the ranker. The exit status is 1 when
the ranker's hit@3 on all messages is under the floor (0.8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cti.knowledge.demo import DEMO_KB, load_drafts
from cti.knowledge.ranker import Article, Ranker, Settings
from cti.knowledge.segment import jieba_segmenter
from cti.knowledge.tokens import Tokeniser, has_chinese, language_of, normalise

HERE = Path(__file__).resolve().parent
LABELLED = HERE / "kb" / "labelled.yaml"
RESULTS = HERE / "RESULTS.md"
START, END = "<!-- kb:start -->", "<!-- kb:end -->"
FLOOR_HIT3 = 0.8
DEPTH = 10
THRESHOLDS = (0.3, 0.5, 0.7)

Rank = Callable[[str], list[str]]  # message -> article keys, best first


@dataclass(frozen=True)
class Case:
    text: str
    key: str
    held: bool

    @property
    def group(self) -> str:
        latin = any("a" <= c <= "z" for c in normalise(self.text))
        if has_chinese(self.text):
            return "mixed" if latin else "zh"
        return "en"


def load_cases(path: Path = LABELLED) -> tuple[list[Case], list[str]]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [
        Case(str(m["text"]), str(m["key"]), i % 3 == 2) for i, m in enumerate(data["messages"])
    ]
    return cases, [str(t) for t in data.get("no_answer", [])]


def substring_baseline(articles: Sequence[Article]) -> Rank:
    phrases = [
        (
            a,
            [
                p
                for p in {normalise(w) for w in a.keywords.split()}
                | {normalise(a.question).rstrip("?？。.")}
                if p
            ],
        )
        for a in articles
    ]

    def rank(text: str) -> list[str]:
        message, lang = normalise(text), language_of(text)
        scored = []
        for i, (a, found) in enumerate(phrases):
            if lang is not None and a.lang != lang:
                continue
            score = sum(len(p) for p in found if p in message)
            if score:
                scored.append((-score, i, a.key))
        return [key for _, _, key in sorted(scored)]

    return rank


def ranker_rank(ranker: Ranker) -> Rank:
    def rank(text: str) -> list[str]:
        return [s.key for s in ranker.rank(text, DEPTH, language_of(text))]

    return rank


@dataclass(frozen=True)
class Scores:
    n: int
    hit1: float
    hit3: float
    mrr: float


def score(rank: Rank, cases: Sequence[Case]) -> Scores:
    if not cases:
        return Scores(0, 0.0, 0.0, 0.0)
    ranks = []
    for case in cases:
        keys = rank(case.text)[:DEPTH]
        ranks.append(keys.index(case.key) + 1 if case.key in keys else 0)
    n = len(cases)
    return Scores(
        n,
        sum(r == 1 for r in ranks) / n,
        sum(0 < r <= 3 for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def misses(rank: Rank, cases: Sequence[Case]) -> list[str]:
    out = []
    for case in cases:
        keys = rank(case.text)[:3]
        if case.key not in keys:
            out.append(f"{case.text!r}: want {case.key}, got {keys}")
    return out


def calibration(
    ranker: Ranker, cases: Sequence[Case], no_answer: Sequence[str]
) -> list[tuple[float, float, float, float]]:
    """Per threshold: share of labelled messages whose top confidence reaches it, top-1
    precision among those, and share of no-answer messages that reach it."""
    tops = []
    for case in cases:
        found = ranker.rank(case.text, 1, language_of(case.text))
        tops.append((found[0].confidence, found[0].key == case.key) if found else (0.0, False))
    empty = [ranker.rank(t, 1, language_of(t)) for t in no_answer]
    empty_conf = [f[0].confidence if f else 0.0 for f in empty]
    rows = []
    for t in THRESHOLDS:
        above = [ok for conf, ok in tops if conf >= t]
        rows.append(
            (
                t,
                len(above) / len(tops),
                sum(above) / len(above) if above else 0.0,
                sum(c >= t for c in empty_conf) / len(empty_conf) if empty_conf else 0.0,
            )
        )
    return rows


def timings(
    articles: Sequence[Article], tokeniser: Tokeniser, settings: Settings, texts: Sequence[str]
) -> tuple[float, float, float]:
    builds = []
    for _ in range(5):
        started = time.perf_counter()
        ranker = Ranker(articles, tokeniser, settings)
        builds.append(time.perf_counter() - started)
    each = []
    for text in list(texts) * 5:
        started = time.perf_counter()
        ranker.rank_messages([text], 3, language_of(text))
        each.append(time.perf_counter() - started)
    each.sort()
    return (
        statistics.median(builds) * 1000,
        each[len(each) // 2] * 1000,
        each[int(len(each) * 0.99)] * 1000,
    )


def _row(name: str, s: Scores) -> str:
    return f"| {name} | {s.n} | {s.hit1:.3f} | {s.hit3:.3f} | {s.mrr:.3f} |"


def report(settings: Settings, split: str, show_misses: bool) -> tuple[str, float]:
    drafts = load_drafts(DEMO_KB)
    articles = [
        Article(i, d.key, d.lang, d.question, d.answer, d.keywords) for i, d in enumerate(drafts, 1)
    ]
    tokeniser = Tokeniser(jieba_segmenter())
    ranker = Ranker(articles, tokeniser, settings)
    cases, no_answer = load_cases()
    parts = {
        "tuning": [c for c in cases if not c.held],
        "held-out": [c for c in cases if c.held],
        "all": cases,
    }
    if split == "tune":
        parts = {"tuning": parts["tuning"]}
    ours, base = ranker_rank(ranker), substring_baseline(articles)
    lines = [
        f"{len(articles)} articles ({len({a.key for a in articles})} topics, zh and en), "
        f"{len(cases)} labelled messages ({sum(c.held for c in cases)} held out), "
        f"{len(no_answer)} messages no article answers.",
        "",
        "| ranker / messages | n | hit@1 | hit@3 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for name, part in parts.items():
        lines.append(_row(f"BM25 (bm25s) + jieba, {name}", score(ours, part)))
        lines.append(_row(f"substring baseline, {name}", score(base, part)))
    if split != "tune":
        lines += [
            "",
            "By kind of message (all):",
            "",
            "| kind | n | ranker hit@1 | ranker hit@3 | ranker MRR | baseline hit@3 |",
            "|---|---|---|---|---|---|",
        ]
        for group in ("zh", "en", "mixed"):
            part = [c for c in cases if c.group == group]
            s, b = score(ours, part), score(base, part)
            lines.append(
                f"| {group} | {s.n} | {s.hit1:.3f} | {s.hit3:.3f} | {s.mrr:.3f} | {b.hit3:.3f} |"
            )
        lines += [
            "",
            "Confidence of the top suggestion (for a bot's threshold):",
            "",
            "| confidence ≥ | labelled messages above | top-1 right among them | "
            "no-answer messages above |",
            "|---|---|---|---|",
        ]
        for t, share, precision, false in calibration(ranker, cases, no_answer):
            lines.append(f"| {t:.1f} | {share:.2f} | {precision:.2f} | {false:.2f} |")
        build_ms, p50, p99 = timings(articles, tokeniser, settings, [c.text for c in cases])
        lines += [
            "",
            f"Index build {build_ms:.1f} ms (60 articles, tokenising included); one "
            f"ranking p50 {p50:.2f} ms, p99 {p99:.2f} ms (one core).",
        ]
    if show_misses:
        lines += ["", "Misses at 3 (ranker):", ""] + [
            f"- {m}" for m in misses(ours, parts["tuning"] if split == "tune" else cases)
        ]
    return "\n".join(lines), score(ours, cases).hit3


NOTES = """\
What the figures show: the substring baseline does well on English because the articles'
keywords and the messages were written by the same person (the keywords first), so English
keywords often occur verbatim; on Chinese, where there is no space to split on and
customers rarely repeat a keyword exactly, it finds the right topic in the first three for
two messages in three, and on mixed messages almost never. The ranker's misses are
colloquial messages that share no word with the right article (收到货再给钱 for cash on
delivery, 晚上9点以后还有人吗 for the opening hours): adding such words to the article's
keywords in the console is the fix, and the index follows at once. Settings were chosen on
the tuning part only: field weights and the gram weight were tried there (`--split tune
--grams-weight …`; a message or two either way) and the defaults kept; bigrams made only
of stop words (好的, 一下) were dropped after a unit test showed "好的" proposing an answer
with full confidence. The held-out figures were printed by each full run but never used to
choose anything."""


def write_results(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"{START}\n{text.rstrip()}\n{END}"
    if START in current and END in current:
        head, _, tail = current.partition(START)
        _, _, tail = tail.partition(END)
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    p.add_argument(
        "--split",
        choices=("all", "tune"),
        default="all",
        help="tune: only the tuning part (implies --no-write)",
    )
    p.add_argument("--misses", action="store_true", help="list the messages missed at 3")
    defaults = Settings()
    p.add_argument("--grams-weight", type=float, default=defaults.grams_weight)
    p.add_argument("--question", type=int, default=defaults.question)
    p.add_argument("--keywords", type=int, default=defaults.keywords)
    p.add_argument("--answer", type=int, default=defaults.answer)
    p.add_argument("--translations", type=int, default=defaults.translations)
    args = p.parse_args(argv)
    settings = replace(
        defaults,
        grams_weight=args.grams_weight,
        question=args.question,
        keywords=args.keywords,
        answer=args.answer,
        translations=args.translations,
    )
    body, hit3 = report(settings, args.split, args.misses)
    print(body)
    if args.split == "all" and not args.no_write and settings == defaults:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_results(
            "## Knowledge base ranking (bench/kb_bench.py)\n\n"
            f"Run {when} on this machine. Command:\n\n"
            "    .venv/bin/python -m bench.kb_bench\n\n" + body + "\n\n" + NOTES + "\n"
        )
        print("\nwrote the kb section of bench/RESULTS.md")
    return 0 if hit3 >= FLOOR_HIT3 else 1


if __name__ == "__main__":
    sys.exit(main())
