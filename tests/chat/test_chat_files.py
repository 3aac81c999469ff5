"""Attachments and the chat's opening hours, on the wired chat site."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from cti.app.chat_wiring import chat_is_open
from cti.app.config import ChatConfig, Config
from ivr_flows.loading.loader import load_flows_dir
from tests.chat.harness import chat_site
from tests.chat.test_chat_protocol import desk, open_chat

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(site: Any, token: str, conv: str, name: str, kind: str, data: bytes
           ) -> httpx.Response:
    return httpx.post(f"{site.url}/chat/files", data={"conv": conv},
                      files={"file": (name, data, kind)},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_picture_is_stored_sent_and_served_only_to_its_conversation(tmp_path: Path) -> None:
    with chat_site(tmp_path) as site:
        agent = desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, welcome = open_chat(site, customer)
        token = welcome["visitor"]
        r = upload(site, token, conv, "box.png", "image/png", PNG)
        assert r.status_code == 201, r.text
        file = r.json()
        assert (file["name"], file["type"], file["size"]) == ("box.png", "image/png", len(PNG))
        customer.send(t="send", conv=conv, cid="f1", file=file["id"])
        assert customer.wait("ack", cid="f1")["seq"] == 2
        agent.wait("offer", contact=conv)
        agent.send(t="accept", contact=conv)
        msg = agent.wait("msg", conv=conv, seq=2)
        assert msg["file"]["id"] == file["id"] and msg["text"] == ""
        mine = httpx.get(f"{site.url}/chat/files/{file['id']}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert mine.status_code == 200 and mine.content == PNG
        other = site.customer()
        other.send(t="hello", role="customer", visitor=None, lang="en", resume={})
        stranger = other.wait("welcome")["visitor"]
        theirs = httpx.get(f"{site.url}/chat/files/{file['id']}",
                           headers={"Authorization": f"Bearer {stranger}"}, timeout=10)
        assert theirs.status_code == 404
        anonymous = httpx.get(f"{site.url}/chat/files/{file['id']}", timeout=10)
        assert anonymous.status_code == 404


def test_uploads_are_checked_by_size_type_and_content(tmp_path: Path) -> None:
    with chat_site(tmp_path, max_file_bytes=1024) as site:
        desk(site, "agent1001", "alice")
        customer = site.customer()
        conv, welcome = open_chat(site, customer)
        token = welcome["visitor"]
        assert upload(site, token, conv, "big.png", "image/png", PNG + b"x" * 2000
                      ).status_code == 413
        assert upload(site, token, conv, "run.exe", "application/x-msdownload", b"MZ"
                      ).status_code == 415
        fake = upload(site, token, conv, "fake.png", "image/png", b"MZ\x90\x00 not a png")
        assert fake.status_code == 415 and fake.json()["error"] == "bad_content"
        assert upload(site, "forged", conv, "box.png", "image/png", PNG).status_code == 401
        assert upload(site, token, "chat-unknown", "box.png", "image/png", PNG
                      ).status_code == 403
        customer.send(t="send", conv=conv, cid="f9", file="f-doesnotexist")
        assert customer.wait("error")["code"] == "no_file"


def gateway(ready: int) -> Any:
    return SimpleNamespace(queues=lambda: [SimpleNamespace(name="service",
                                                           agents_ready=ready)])


def test_chat_is_closed_after_hours_and_with_nobody_ready(monkeypatch: Any) -> None:
    cfg = Config()
    flows = load_flows_dir(cfg.flows_dir)
    import cti.app.chat_wiring as wiring

    monkeypatch.setattr(wiring, "local_now", lambda flow: datetime(2026, 12, 2, 10, 0))  # Wed
    assert chat_is_open(cfg, flows, gateway(1)) is None
    assert chat_is_open(cfg, flows, gateway(0)) == "no_agents"
    monkeypatch.setattr(wiring, "local_now", lambda flow: datetime(2026, 12, 2, 23, 30))
    assert chat_is_open(cfg, flows, gateway(1)) == "after_hours"
    demo = Config(chat=ChatConfig(ignore_hours=True))
    assert chat_is_open(demo, flows, gateway(1)) is None
