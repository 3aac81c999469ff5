"""Customer text into search tokens: Chinese words, English words, and character n-grams.

Pure: the Chinese word segmenter is handed in (``segment.py`` makes the jieba one), so this
module reads no file, clock or environment and is tested with any segmenter.

- Text is normalised first: NFKC (full-width letters and digits become ASCII, full-width
  punctuation its ASCII form) and case-folded.
- **Words**: each run of Chinese characters is segmented (jieba's search mode also yields the
  parts of long words: 收货地址 → 收货, 地址, 收货地址); each run of Latin letters and digits
  is split into words, with no stemming. Stop words (particles, pronouns, greetings, filler)
  and numbers (order or phone numbers say nothing about the topic) are dropped.
- **Grams**: character bigrams of each Chinese run (but those made of stop words: 好的,
  一下), and ``#``-padded character trigrams of each English word. A typo (``pasword``,
  ``refnud``) or a variant wording (改地址 for 修改收货地址) still shares most of its
  grams with the right article.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Segmenter = Callable[[str], Iterable[str]]

CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
TEXT_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+")
MAX_CHARS = 2000  # a query longer than this is cut (a pasted novel is not a question)

STOP_ZH = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嗯 哈 啦 么 嘛 呗 哎 喂 诶 噢 的话 一下 一个 这个 那个 "
    "这 那 就 都 也 还 又 再 才 很 太 挺 好 我 我的 我们 你 你们 您 您好 你好 他 她 "
    "它 他们 是 在 有 和 与 跟 及 或 请问 请 问 问下 问一下 麻烦 谢谢 谢 感谢 客服 亲 "
    "在吗 在不在 想 想要 要 能 能不能 可以 可不可以 会 得 着 过 把 被 给 让 对 从 到 "
    "上 下 里 中 吧 么 什么 怎么 怎么办 怎么样 怎样 如何 为什么 为啥 啥 哪 哪里 哪儿 "
    "没 没有 不 已经 现在 刚才 刚刚 今天 昨天 一直 还是 但是 可是 所以 因为 然后 就是 "
    "其实 真的 一样 之前 之后 时候 一些 有点 有没有 是不是 行不行 ".split()
)
STOP_EN = frozenset(
    "a an the and or but if of to in on at by for from with about into as is am are was were "
    "be been being do does did doing have has had having i me my mine we us our you your he "
    "she it its they them their this that these those there here what which who whom how why "
    "when where can could would should will shall may might must please pls plz hi hello hey "
    "thanks thank thx ok okay yes yeah so just also still not no any some get got "
    "want wanna need im i'm dont don't its it's u ur r".split()
)


def normalise(text: str) -> str:
    """NFKC, case-folded, cut to ``MAX_CHARS``."""
    return unicodedata.normalize("NFKC", text[: MAX_CHARS * 2]).casefold()[:MAX_CHARS]


def has_chinese(text: str) -> bool:
    return CJK_RUN.search(text) is not None


def language_of(text: str, default: str | None = None) -> str | None:
    """``zh`` when the text has any Chinese character, ``en`` when it has Latin letters,
    else ``default`` (digits and emoji say nothing)."""
    folded = normalise(text)
    if has_chinese(folded):
        return "zh"
    if re.search(r"[a-z]", folded):
        return "en"
    return default


def _trigrams(word: str) -> list[str]:
    padded = f"#{word}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


@dataclass(frozen=True)
class Tokens:
    words: list[str] = field(default_factory=list)
    grams: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tokeniser:
    """``tokens(text)`` gives the words and the grams of a text (see the module doc)."""

    segment: Segmenter
    stop_zh: frozenset[str] = STOP_ZH
    stop_en: frozenset[str] = STOP_EN

    def _keep(self, word: str) -> bool:
        return (
            bool(word.strip())
            and not word.isdigit()
            and word not in self.stop_zh
            and word not in self.stop_en
        )

    def _content_gram(self, gram: str) -> bool:
        return gram not in self.stop_zh and not all(c in self.stop_zh for c in gram)

    def tokens(self, text: str) -> Tokens:
        """A text with no word but stop words (好的, ok thanks) has no grams either."""
        words: list[str] = []
        grams: list[str] = []
        for run in TEXT_RUN.findall(normalise(text)):
            if CJK_RUN.fullmatch(run):
                words += [w for w in (s.strip() for s in self.segment(run)) if self._keep(w)]
                grams += [g for g in _bigrams(run) if self._content_gram(g)]
            elif self._keep(run):
                words.append(run)
                grams += _trigrams(run)
        return Tokens(words, grams) if words else Tokens()

    def words(self, text: str) -> list[str]:
        return self.tokens(text).words
