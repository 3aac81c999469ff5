"""SMS senders: a local outbox file and an HTTP gateway webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from ivr_flows.edges.sms import OutboxSender, SmsError, WebhookSender, check_number


class Gateway:
    """A tiny SMS gateway on 127.0.0.1 that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str]] = []
        self.status = 200
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                gateway.received.append((json.loads(body), self.headers.get("Authorization", "")))
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture()
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    gw.thread.start()
    yield gw
    gw.server.shutdown()
    gw.server.server_close()


@pytest.mark.parametrize("number", ["13800138000", "+8613800138000", "12345", " 13800138000 "])
def test_phone_numbers_are_accepted(number: str) -> None:
    assert check_number(number) == number.strip()


@pytest.mark.parametrize("number", ["", "1234", "1" * 21, "+", "++12345", "138-0013-8000",
                                    "13800138000x", "١٢٣٤٥٦", "<script>"])
def test_bad_phone_numbers_are_refused(number: str) -> None:
    with pytest.raises(SmsError) as err:
        check_number(number)
    assert err.value.code == "bad_number"


def test_outbox_appends_one_json_line_per_message(tmp_path: Path) -> None:
    outbox = OutboxSender(tmp_path / "sms" / "outbox.jsonl")
    outbox.send("13800138000", "菜单链接: https://itr.example/l/abc")
    outbox.send("+8613900139000", "second")
    lines = (tmp_path / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"to": "13800138000", "text": "菜单链接: https://itr.example/l/abc"},
        {"to": "+8613900139000", "text": "second"},
    ]


def test_outbox_refuses_a_bad_number_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(SmsError):
        OutboxSender(tmp_path / "outbox.jsonl").send("12", "hi")
    assert not (tmp_path / "outbox.jsonl").exists()


def test_outbox_that_cannot_be_written_is_an_sms_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    with pytest.raises(SmsError) as err:
        OutboxSender(tmp_path / "blocker" / "outbox.jsonl").send("13800138000", "hi")
    assert err.value.code == "outbox_unwritable"


def test_webhook_posts_json_with_the_token(gateway: Gateway) -> None:
    WebhookSender(gateway.url, "tok-123", timeout=2).send("13800138000", "hello")
    assert gateway.received == [({"to": "13800138000", "text": "hello"}, "Bearer tok-123")]


def test_webhook_refused_by_the_gateway_is_an_sms_error(gateway: Gateway) -> None:
    gateway.status = 503
    with pytest.raises(SmsError) as err:
        WebhookSender(gateway.url, "tok", timeout=2).send("13800138000", "hello")
    assert err.value.code == "gateway_refused"


def test_webhook_unreachable_is_an_sms_error(gateway: Gateway) -> None:
    url = gateway.url
    gateway.server.shutdown()
    gateway.server.server_close()
    with pytest.raises(SmsError) as err:
        WebhookSender(url, "tok", timeout=1).send("13800138000", "hello")
    assert err.value.code in {"gateway_unreachable", "gateway_timeout"}


def test_webhook_checks_the_number_before_calling(gateway: Gateway) -> None:
    with pytest.raises(SmsError):
        WebhookSender(gateway.url, "tok").send("not a number", "hello")
    assert gateway.received == []
