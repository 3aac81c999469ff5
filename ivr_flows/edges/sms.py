"""Pluggable SMS senders: ``send(to, text) -> None``, raising ``SmsError`` on failure.

``OutboxSender`` appends one JSON line per message to a local file (the demo and tests read
it); ``WebhookSender`` POSTs ``{"to", "text"}`` as JSON to an SMS gateway. Which one runs is
decided once, in the composition root, from ``config.sms``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Protocol

import httpx

log = logging.getLogger(__name__)
PHONE = re.compile(r"\+?[0-9]{5,20}")
MAX_TEXT = 1000


class SmsError(RuntimeError):
    """The message was not sent; ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None: ...


def check_number(to: str) -> str:
    """A phone number: digits with an optional leading +, 5 to 20 digits. Returns it stripped."""
    number = to.strip()
    if not PHONE.fullmatch(number) or not number.isascii():
        raise SmsError("bad_number", "not a phone number (5 to 20 digits, optional leading +)")
    return number


def _check_text(text: str) -> str:
    if not text or len(text) > MAX_TEXT:
        raise SmsError("bad_text", f"message text must be 1 to {MAX_TEXT} characters")
    return text


def _masked(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:]


class OutboxSender:
    """Writes messages to a local JSON-lines file instead of sending them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, to: str, text: str) -> None:
        line = json.dumps({"to": check_number(to), "text": _check_text(text)},
                          ensure_ascii=False)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
        except OSError as exc:
            raise SmsError("outbox_unwritable", f"cannot write {self.path}: {exc}") from exc
        log.info("sms to %s written to outbox", _masked(to))


class WebhookSender:
    """POSTs ``{"to": ..., "text": ...}`` to an SMS gateway with a bearer token."""

    def __init__(self, url: str, token: str, timeout: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("sms webhook url must be http(s)")
        self.url = url
        self.token = token
        self.timeout = timeout
        self.client = client or httpx.Client(follow_redirects=False)

    def send(self, to: str, text: str) -> None:
        body = {"to": check_number(to), "text": _check_text(text)}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            reply = self.client.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise SmsError("gateway_timeout", "sms gateway timed out") from exc
        except httpx.HTTPError as exc:
            raise SmsError("gateway_unreachable",
                           f"sms gateway unreachable: {type(exc).__name__}") from exc
        if not 200 <= reply.status_code < 300:
            raise SmsError("gateway_refused", f"sms gateway answered HTTP {reply.status_code}")
        log.info("sms to %s accepted by gateway", _masked(to))
