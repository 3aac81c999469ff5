"""Speech recognition for menus (Vosk): models, grammars, and what a result means.

- A ``SpeechModels`` registry loads each configured model **once per process** (by path, from
  ``[speech] models``) and shares it; every call gets its own recogniser (``Recogniser``).
- A menu's grammar is built from its options' phrases in the caller's language plus the
  model's unknown-word token, so a small model decides among the real options and can still
  spot a phrase inside free speech ("I want to change my delivery address" -> "delivery
  address"). A grammar Vosk cannot take (empty, not JSON, a word not in the vocabulary) kills
  the process, so **every grammar is validated in Python against the model's vocabulary**
  before it is ever given to Vosk; ``check_flows`` reports the unknown words when a flow is
  checked (``hotline flows check`` with a model configured), never during a call.
- ``interpret`` turns Vosk's JSON into a ``Heard``: an option key only when the words heard,
  unknown-word tokens removed, are exactly one phrase. The raw text never leaves this module.

Blocking (model load, decoding): call from a thread, not the reactor. Vosk is imported lazily.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ivr_flows.core.model import Flow, MenuNode

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000  # AudioSocket delivers 8 kHz 16-bit mono signed linear
UNK_TOKENS = ("<UNK>", "[unk]")  # this model family's unknown-word token, then Vosk's generic one
MAX_PHRASE_WORDS = 12
MAX_GRAMMAR_PHRASES = 200

# Yes/no words of the confirmation step, per language (validated like any grammar).
YES_NO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ko": (("네", "예"), ("아니요", "아니오")),
    "en": (("yes", "yeah", "correct"), ("no", "wrong")),
    "zh": (("是", "对", "是的"), ("不是", "不对")),
}
CONFIRM_KEYS = ("1", "2")  # yes, no


def normalise(text: str) -> str:
    """How phrases and results are compared (the interpreter's rule: NFKC, casefold, words)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s\W_]+", " ", text).strip()


class Vocabulary(Protocol):
    unk: str

    def knows(self, word: str) -> bool: ...


@dataclass(frozen=True)
class Problem:
    """A phrase that cannot go into a grammar: ``word`` is not in the model's vocabulary."""

    lang: str
    phrase: str
    word: str
    node: str = ""

    def __str__(self) -> str:
        where = f"node '{self.node}': " if self.node else ""
        return (f"{where}phrase {self.phrase!r} ({self.lang}): word {self.word!r} is not in "
                f"the speech model's vocabulary")


@dataclass(frozen=True)
class Grammar:
    """A validated grammar: the JSON handed to Vosk and normalised phrase -> option key."""

    lang: str
    phrases: Mapping[str, str]
    json: str
    unk: str


def build_grammar(lang: str, phrases: Mapping[str, Iterable[str]],
                  vocab: Vocabulary) -> tuple[Grammar | None, list[Problem]]:
    """The grammar of option key -> phrases, or None when no phrase is usable.

    A phrase with a word the model does not know is left out (and reported); the first
    option to claim a phrase keeps it. Only words ``vocab.knows`` reach the JSON."""
    table: dict[str, str] = {}
    problems: list[Problem] = []
    for key, options in phrases.items():
        for phrase in options:
            norm = normalise(phrase)
            words = norm.split()
            if not words or len(words) > MAX_PHRASE_WORDS:
                continue
            unknown = [w for w in words if not vocab.knows(w)]
            if unknown:
                problems += [Problem(lang, phrase, w) for w in unknown]
                continue
            table.setdefault(norm, key)
    if not table:
        return None, problems
    entries = list(table)[:MAX_GRAMMAR_PHRASES]
    if vocab.knows(vocab.unk):
        entries.append(vocab.unk)
    text = json.dumps(entries, ensure_ascii=False)
    return Grammar(lang, {p: table[p] for p in entries if p in table}, text, vocab.unk), problems


def check_grammar_json(text: str, vocab: Vocabulary) -> None:
    """Last line of defence before Vosk sees a grammar: raises ValueError unless it is a
    non-empty JSON list of strings whose every word is known."""
    data = json.loads(text)
    if not isinstance(data, list) or not data or not all(isinstance(p, str) for p in data):
        raise ValueError("a grammar is a non-empty JSON list of phrases")
    for phrase in data:
        words = phrase.split()
        if not words or not all(vocab.knows(w) for w in words):
            raise ValueError("grammar phrase with a word outside the vocabulary")


HeardKind = Literal["speech", "unknown", "key", "silence", "gone", "error"]


@dataclass(frozen=True)
class Heard:
    """What the caller did while we listened. ``key``: the option key (speech) or the DTMF
    key (key). ``phrase``: the grammar phrase matched (flow text, never the raw result)."""

    kind: HeardKind
    key: str = ""
    phrase: str = ""
    confidence: float = 0.0
    words: int = 0  # how many words the recogniser returned (unknown ones included)
    eos_to_decision_ms: float | None = None  # end of speech -> decision (speech only)
    speech_ms: float = 0.0


def interpret(result_json: str, grammar: Grammar) -> Heard:
    """Vosk's final result (``SetWords(True)``) -> a ``Heard`` of kind speech or unknown."""
    try:
        data: Any = json.loads(result_json)
    except ValueError:
        return Heard("unknown")
    items = data.get("result") if isinstance(data, dict) else None
    if not isinstance(items, list):
        items = []
    words = [(str(i.get("word", "")), float(i.get("conf", 0.0))) for i in items
             if isinstance(i, dict)]
    if not words:
        text = str(data.get("text", "")) if isinstance(data, dict) else ""
        words = [(w, 1.0) for w in text.split()]
    if not words:
        return Heard("unknown")
    known = [(w, c) for w, c in words if w not in UNK_TOKENS and w != grammar.unk]
    phrase = normalise(" ".join(w for w, _ in known))
    key = grammar.phrases.get(phrase)
    if key is None:
        conf = min((c for _, c in words), default=0.0)
        return Heard("unknown", confidence=round(conf, 3), words=len(words))
    conf = sum(c for _, c in known) / len(known)  # the phrase's mean word confidence
    return Heard("speech", key, phrase, round(conf, 3), len(words))


# ---------------------------------------------------------------- models and recognisers


class Recogniser:
    """One call's recogniser (not thread-safe: one decode at a time, from a pool thread)."""

    def __init__(self, model: Any, grammar: Grammar, vosk: Any) -> None:
        self._rec = vosk.KaldiRecognizer(model, float(SAMPLE_RATE), grammar.json)
        self._rec.SetWords(True)
        self.grammar = grammar

    def accept(self, pcm: bytes) -> None:
        if pcm:
            self._rec.AcceptWaveform(pcm)

    def finish(self) -> Heard:
        return interpret(self._rec.FinalResult(), self.grammar)


@dataclass
class LoadedModel:
    lang: str
    path: str
    model: Any
    unk: str
    _known: dict[str, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def knows(self, word: str) -> bool:
        with self._lock:
            hit = self._known.get(word)
            if hit is None:
                hit = bool(word) and int(self.model.vosk_model_find_word(word)) >= 0
                self._known[word] = hit
            return hit


def _vosk() -> Any:
    import vosk

    vosk.SetLogLevel(-1)
    return vosk


def load_model(lang: str, path: str) -> LoadedModel:
    """Load one model (1.5-2.5 s, hundreds of MB): once per process. Raises OSError."""
    vosk = _vosk()
    try:
        model = vosk.Model(str(path))
    except Exception as exc:  # vosk raises a bare Exception when the folder is not a model
        raise OSError(f"cannot load the speech model for {lang!r} from {path}: {exc}") from exc
    unk = next((t for t in UNK_TOKENS if int(model.vosk_model_find_word(t)) >= 0), "")
    return LoadedModel(lang, str(path), model, unk)


class SpeechModels:
    """The process-wide speech models and the validated grammars of every menu.

    ``load(languages)`` loads each configured model once; a language without one is logged
    once and has speech off. ``grammar(flow, node, lang)`` is cached per (flow, node, lang)."""

    def __init__(self, paths: Mapping[str, str],
                 loader: Any = load_model) -> None:
        self.paths = dict(paths)
        self._loader = loader
        self.models: dict[str, LoadedModel] = {}
        self._grammars: dict[tuple[str, str, str], Grammar | None] = {}
        self._yes_no: dict[str, Grammar | None] = {}
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def load(self, languages: Iterable[str]) -> None:
        for lang in sorted(set(languages)):
            if lang in self.models:
                continue
            path = self.paths.get(lang)
            if not path:
                self._tell(lang, "speech: no model configured for language %r: speech is off "
                                 "for it (callers press keys)")
                continue
            try:
                self.models[lang] = self._loader(lang, path)
            except OSError as exc:
                log.error("speech: %s; speech is off for %r", exc, lang)
                self._told.add(lang)
                continue
            log.info("speech: model for %r loaded from %s (unknown-word token %r)", lang, path,
                     self.models[lang].unk or "none")

    def _tell(self, lang: str, message: str) -> None:
        if lang not in self._told:
            self._told.add(lang)
            log.warning(message, lang)

    def available(self, lang: str) -> bool:
        return lang in self.models

    def grammar(self, flow: Flow, node_id: str, lang: str) -> Grammar | None:
        key = (flow.name, node_id, lang)
        with self._lock:
            if key in self._grammars:
                return self._grammars[key]
        node = flow.nodes.get(node_id)
        model = self.models.get(lang)
        grammar: Grammar | None = None
        if isinstance(node, MenuNode) and node.speech and model is not None:
            grammar, problems = build_grammar(lang, _phrases(node, lang), model)
            for p in problems:
                log.warning("speech: flow %s node %s: %s (left out)", flow.name, node_id, p)
        with self._lock:
            self._grammars[key] = grammar
        return grammar

    def yes_no(self, lang: str) -> Grammar | None:
        with self._lock:
            if lang in self._yes_no:
                return self._yes_no[lang]
        model = self.models.get(lang)
        grammar = None
        if model is not None and lang in YES_NO:
            yes, no = YES_NO[lang]
            grammar, _ = build_grammar(lang, {CONFIRM_KEYS[0]: yes, CONFIRM_KEYS[1]: no}, model)
        with self._lock:
            self._yes_no[lang] = grammar
        return grammar

    def recogniser(self, grammar: Grammar) -> Recogniser:
        model = self.models[grammar.lang]
        check_grammar_json(grammar.json, model)
        return Recogniser(model.model, grammar, _vosk())

    def prepare(self, flows: Mapping[str, Flow]) -> None:
        """Load the models the flows' speech menus need and build every grammar up front."""
        wanted = {lang for f in flows.values() for n in f.nodes.values()
                  if isinstance(n, MenuNode) and n.speech for lang in f.languages}
        self.load(wanted)
        for flow in flows.values():
            for node in flow.nodes.values():
                if isinstance(node, MenuNode) and node.speech:
                    for lang in flow.languages:
                        if self.grammar(flow, node.id, lang) is None and lang in self.models:
                            log.warning("speech: flow %s node %s has no usable phrase in %r; "
                                        "keys only there", flow.name, node.id, lang)
                        self.yes_no(lang)


def _phrases(node: MenuNode, lang: str) -> dict[str, tuple[str, ...]]:
    return {o.key: o.phrases.get(lang, ()) for o in node.options}


def check_flows(flows: Iterable[Flow], models: SpeechModels) -> list[str]:
    """Unknown words in the speech menus of ``flows`` (for ``hotline flows check``)."""
    out: list[str] = []
    for flow in flows:
        for node in flow.nodes.values():
            if not (isinstance(node, MenuNode) and node.speech):
                continue
            for lang in flow.languages:
                model = models.models.get(lang)
                if model is None:
                    continue
                grammar, problems = build_grammar(lang, _phrases(node, lang), model)
                for p in problems:
                    out.append(f"{flow.source}:{node.line}: node '{node.id}': {p}")
                if grammar is None:
                    out.append(f"{flow.source}:{node.line}: node '{node.id}': no phrase in "
                               f"{lang!r} the speech model knows: speech is off there")
    return out
