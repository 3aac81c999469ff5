"""Reading one located YAML document into model values, collecting every error on the way.

``Reader`` holds the document, the file name for messages and the flow's languages; its typed
getters (``text``, ``number``, ``mapping``, ``prompt``) return a usable value even when the
input is wrong, and record a ``FlowError`` naming the file, the line and the node instead of
stopping at the first problem.
"""

from __future__ import annotations

import re
from typing import Any

from ivr_flows.core import model as m
from ivr_flows.core.errors import FlowError
from ivr_flows.core.located import Located

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class Reader:
    """Collects errors while turning a located document into model objects."""

    def __init__(self, doc: Located, source: str) -> None:
        self.doc = doc
        self.source = source
        self.errors: list[FlowError] = []
        self.languages: tuple[str, ...] = ()

    def err(self, path: tuple[Any, ...], message: str, code: str = "invalid") -> None:
        node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
        self.errors.append(FlowError(self.source, self.doc.line(*path), node, message, code))

    # -- typed getters -------------------------------------------------------------------
    def text(self, d: dict[str, Any], key: str, path: tuple[Any, ...], default: str | None = None,
             pattern: re.Pattern[str] | None = None) -> str:
        if key not in d:
            if default is None:
                self.err(path, f"missing '{key}'", "missing")
                return ""
            return default
        v = d[key]
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v.strip():
            self.err((*path, key), f"'{key}' must be non-empty text", "type")
            return ""
        if pattern is not None and not pattern.match(v):
            self.err((*path, key), f"'{key}' has an invalid value {v!r}", "value")
        return v

    def number(self, d: dict[str, Any], key: str, path: tuple[Any, ...], default: int,
               bounds: tuple[int, int]) -> int:
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            self.err((*path, key), f"'{key}' must be a whole number", "type")
            return default
        lo, hi = bounds
        if not lo <= v <= hi:
            self.err((*path, key), f"'{key}' is {v}, out of range {lo}..{hi}", "range")
        return v

    def mapping(self, v: Any, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.err(path, f"{what} must be a mapping", "type")
            return {}
        return v

    def unknown_keys(self, d: dict[str, Any], allowed: set[str], path: tuple[Any, ...],
                     what: str) -> None:
        for k in d:
            if k not in allowed:
                self.err((*path, k), f"unknown key '{k}' in {what} (allowed: "
                         f"{', '.join(sorted(allowed))})", "unknown_key")

    def prompt(self, v: Any, path: tuple[Any, ...], what: str = "prompt") -> m.Prompt:
        if isinstance(v, str):
            if len(self.languages) == 1:
                return m.Prompt({self.languages[0]: v})
            self.err(path, f"{what} must give text per language ({', '.join(self.languages)})",
                     "language")
            return m.Prompt({})
        d = self.mapping(v, path, what)
        texts: dict[str, str] = {}
        audio: dict[str, str] = {}
        for lang, text in d.items():
            if lang == "audio":
                for a_lang, a_file in self.mapping(text, (*path, "audio"), "audio").items():
                    audio[str(a_lang)] = str(a_file)
                continue
            if lang not in self.languages:
                self.err((*path, lang), f"{what} has text in undeclared language '{lang}'",
                         "language")
                continue
            if not isinstance(text, str) or not text.strip():
                self.err((*path, lang), f"{what} text for '{lang}' must be non-empty", "language")
                continue
            texts[lang] = text.strip()
        for lang in self.languages:
            if lang not in texts and d:
                self.err(path, f"{what} has no text in declared language '{lang}'", "language")
        return m.Prompt(texts, audio)

    def opt_prompt(self, d: dict[str, Any], key: str, path: tuple[Any, ...]) -> m.Prompt | None:
        return self.prompt(d[key], (*path, key), key) if key in d else None
