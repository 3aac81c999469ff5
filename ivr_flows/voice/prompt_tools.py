"""The external tools behind prompt audio (espeak-ng, ffmpeg) and the errors of making it.

``run_tool`` runs one command without a shell, bounded in time; a ``Runner`` with its
signature is what ``PromptStore`` takes (tests pass a fake that writes what the tools would).
``clean_text`` is what any text goes through before it reaches a tool.
"""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Sequence
from typing import Protocol

TOOL_TIMEOUT_S = 60.0


class PromptError(Exception):
    """Prompt audio could not be made. ``code`` is stable; ``details`` names lang/text/tool."""

    def __init__(self, code: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class ToolError(Exception):
    """An external tool is missing, failed or timed out."""

    def __init__(self, tool: str, reason: str, missing: bool = False) -> None:
        super().__init__(f"{tool}: {reason}")
        self.tool = tool
        self.reason = reason
        self.missing = missing


class Runner(Protocol):
    """Runs one command (argv list, no shell), returns its stdout; raises ToolError."""

    def __call__(self, argv: Sequence[str], stdin: bytes | None = None) -> bytes: ...


def run_tool(argv: Sequence[str], stdin: bytes | None = None) -> bytes:
    """The real runner: subprocess without a shell, bounded in time, stderr kept for errors."""
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True,
                              timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ToolError(argv[0], "not installed (not found on PATH)", missing=True) from None
    except subprocess.TimeoutExpired:
        raise ToolError(argv[0], f"timed out after {TOOL_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-400:]
        raise ToolError(argv[0], f"exit status {proc.returncode}: {err}")
    return proc.stdout


def clean_text(text: str, limit: int) -> str:
    """NFC, control characters dropped, whitespace collapsed, cut to ``limit`` characters."""
    text = unicodedata.normalize("NFC", str(text))
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split())[:limit]


def is_pause(text: str) -> bool:
    """Only punctuation: nothing to say, play a short pause instead."""
    return all(unicodedata.category(ch)[0] in "PZ" for ch in text)
