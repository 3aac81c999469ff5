"""A running chat site for protocol tests: the composition root's own wiring (``build_cti``,
``build_chat``, ``listen_chat``) on SQLite in a temp dir, the global reactor in a thread,
real WebSocket clients (``websockets``' sync client) in the test thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from cti.app import callback_wiring
from cti.app.chat_wiring import ChatParts, build_chat, listen_chat, restore_open_chats
from cti.app.config import ChatConfig, Config, CtiConfig
from cti.app.wiring import Cti, build_cti
from cti.records import desk_sessions
from cti.records.db import make_session_factory
from cti.records.migrate import upgrade
from cti.records.users import create_user, link_agent
from cti.records.writer import RecordWriter
from ivr_flows.loading.loader import load_flows_dir

reactor: Any = global_reactor
PASSWORD = "correct horse battery"


def ensure_reactor() -> None:
    if not reactor.running:
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not reactor.running and time.monotonic() < deadline:
            time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    cfg: Config
    cti: Cti
    chat: ChatParts
    writer: RecordWriter
    sf: Any
    port: Any
    callbacks: Any = None  # the callback channel (cti/app/callback_wiring.py)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.chat.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.cfg.chat.port}/ws"

    def agent_cookie(self, username: str, agent_id: str) -> str:
        try:
            create_user(self.sf, username, PASSWORD, role="agent")
        except ValueError:
            pass
        link_agent(self.sf, username, agent_id)
        user = next(u for u in _users(self.sf) if u.username == username)
        return desk_sessions.create(self.sf, user.id, agent_id, "127.0.0.1")

    def customer(self) -> Client:
        return Client(connect(self.ws, origin=Origin(self.url), open_timeout=5))

    def agent(self, token: str) -> Client:
        return Client(connect(self.ws, origin=Origin(self.url), open_timeout=5,
                              additional_headers={"Cookie": f"hotline_desk={token}"}))

    def on_reactor(self, fn: Any, *args: Any) -> Any:
        return blockingCallFromThread(reactor, fn, *args)


def _users(sf: Any) -> list[Any]:
    from sqlalchemy import select

    from cti.records.models import User

    with sf() as s:
        return list(s.scalars(select(User)))


class Client:
    """A WebSocket client that reads frames with a deadline and keeps what it skipped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    def send(self, **frame: Any) -> None:
        self.ws.send(json.dumps(frame))

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        self.seen.append(frame)
        return frame

    def wait(self, t: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next frame of type ``t`` (with ``match``-ing fields); others are kept."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {t} {match} frame; saw {self.seen[-10:]}")
            frame = self.next(left)
            if frame.get("t") == t and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives within ``seconds`` (to check that nothing more comes)."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.next(left))
            except TimeoutError:
                break
        return got

    def close(self) -> None:
        self.ws.close()


@contextmanager
def chat_site(tmp: Path, db_url: str = "", **chat: Any) -> Iterator[Site]:
    """A chat site on a free port; a second ``chat_site`` on the same ``tmp`` is a restart
    (same database, same secret). ``db_url``: an empty database (default SQLite in ``tmp``)."""
    ensure_reactor()
    port = free_port()
    secret_file = tmp / "secret"
    if not secret_file.exists():
        secret_file.write_text("test-secret-" + "x" * 20)
    cfg = Config(data_dir=str(tmp), secret_key=secret_file.read_text(), database_url=db_url,
                 cti=CtiConfig(api_token="test-token", wrap_up_s=chat.pop("wrap_up_s", 60),
                               ring_timeout_s=chat.pop("ring_timeout_s", 20),
                               max_chats=chat.pop("max_chats", 3)),
                 chat=replace(ChatConfig(port=port, ignore_hours=True, ready_on_sign_in=True),
                              **chat))
    upgrade(cfg.db_url)
    sf = make_session_factory(cfg.db_url)
    flows = load_flows_dir(cfg.flows_dir)
    writer = RecordWriter(sf, spill_dir=tmp / "spill", batch_ms=10)

    def start() -> tuple[Cti, ChatParts, Any, Any]:
        cti = build_cti(cfg, flows, reactor, writer, lambda lang, text: "", "")
        parts = build_chat(cfg, flows, reactor, cti, sf, _web_pool())
        listening = listen_chat(cfg, parts, reactor, _web_pool())
        restore_open_chats(parts, sf)
        callbacks = callback_wiring.build_callbacks(cfg, flows, reactor, cti, sf, _web_pool())
        callback_wiring.attach_chat(callbacks, parts, cfg.callback.queue)
        return cti, parts, listening, callbacks

    cti, parts, listening, callbacks = blockingCallFromThread(reactor, start)
    site = Site(cfg, cti, parts, writer, sf, listening, callbacks)
    try:
        yield site
    finally:
        blockingCallFromThread(reactor, listening.stopListening)
        blockingCallFromThread(reactor, parts.app.agents.stop)
        blockingCallFromThread(reactor, cti.service.stop)
        parts.journal.close(timeout=5)
        writer.close(timeout=5)


_POOL: Any = None


def _web_pool() -> Any:
    global _POOL
    if _POOL is None:
        from twisted.python.threadpool import ThreadPool

        _POOL = ThreadPool(minthreads=1, maxthreads=8, name="test-chat-web")
        _POOL.start()
    return _POOL
