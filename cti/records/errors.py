"""The one shape of a refusal by a records use case (chat, knowledge base, tags): a stable
``code``, a human ``message`` and machine-readable ``details``."""

from __future__ import annotations

from typing import Any


class UseCaseError(ValueError):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
