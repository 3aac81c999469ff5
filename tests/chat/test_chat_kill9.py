"""``kill -9`` of the real server mid-conversation (``hotline run --no-asterisk``, its own
process, SQLite): after the restart both sides reconnect and resume, and the transcript has
every acknowledged message exactly once, in order."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.client import connect
from websockets.typing import Origin

from cti.app.config import REPO_ROOT
from cti.records import chat as store
from cti.records import desk_sessions
from cti.records.db import dispose, make_session_factory
from cti.records.migrate import upgrade
from cti.records.users import create_user, link_agent
from tests.chat.harness import PASSWORD, Client, free_port

HOTLINE = REPO_ROOT / ".venv" / "bin" / "hotline"


def env_for(data: Path, chat_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_DATA_DIR": str(data), "HOTLINE_SECRET_KEY": "kill9-secret-" + "k" * 20,
        "HOTLINE_LOG_LEVEL": "INFO", "HOTLINE_ASTERISK_SANDBOX": "false",
        "HOTLINE_CHAT_PORT": str(chat_port), "HOTLINE_CHAT_IGNORE_HOURS": "true",
        "HOTLINE_CHAT_READY_ON_SIGN_IN": "true",
        # prompts are built at start: share them between tests (they depend only on the flows)
        "HOTLINE_PROMPTS_CACHE_DIR": str(Path.home() / ".cache" / "hotline" / "test-prompts"),
    })
    for name in ("FASTAGI", "ITR", "CONSOLE", "CTI_API", "BACKEND_DEMO"):
        env[f"HOTLINE_{name}_PORT"] = str(free_port())
    env["HOTLINE_ASTERISK_AMI_PORT"] = str(free_port())  # nobody there: AMI just retries
    return env


@contextmanager
def server(data: Path, chat_port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (data / "server.log").open("ab")
    proc = subprocess.Popen([str(HOTLINE), "run", "--no-asterisk"], env=env_for(data, chat_port),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hotline exited {proc.returncode}: "
                                   f"{(data / 'server.log').read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", chat_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("hotline did not listen in time")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def ws(port: int, cookie: str | None = None) -> Client:
    headers = {"Cookie": f"hotline_desk={cookie}"} if cookie else None
    return Client(connect(f"ws://127.0.0.1:{port}/ws", origin=Origin(f"http://127.0.0.1:{port}"),
                          additional_headers=headers, open_timeout=5))


def test_kill_9_mid_conversation_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    url = f"sqlite:///{data / 'hotline.db'}"
    upgrade(url)
    sf = make_session_factory(url)
    try:
        user = create_user(sf, "alice", PASSWORD, role="agent")
        link_agent(sf, "alice", "agent1001")
        token = desk_sessions.create(sf, user.id, "agent1001", "127.0.0.1")
        port = free_port()
        acked: list[tuple[str, int]] = []
        with server(data, port) as proc:
            agent = ws(port, token)
            agent.send(t="hello", role="agent", resume={})
            agent.wait("agent", timeout=10)
            customer = ws(port)
            customer.send(t="hello", role="customer", visitor=None, lang="en", resume={})
            visitor = customer.wait("welcome")["visitor"]
            customer.send(t="send", conv=None, cid="c0", text="first")
            conv = customer.wait("ack", cid="c0")["conv"]
            acked.append(("c0", 1))
            agent.wait("offer", contact=conv, timeout=10)
            agent.send(t="accept", contact=conv)
            agent.wait("msg", conv=conv, seq=1)
            for i in range(1, 6):
                sender = customer if i % 2 else agent
                sender.send(t="send", conv=conv, cid=f"c{i}", text=f"message {i}")
                acked.append((f"c{i}", sender.wait("ack", cid=f"c{i}")["seq"]))
            # one more, sent but maybe not acknowledged before the kill: resent afterwards
            customer.send(t="send", conv=conv, cid="c6", text="in flight")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with server(data, port):
            agent = ws(port, token)
            agent.send(t="hello", role="agent", resume={conv: 1})
            agent.wait("welcome", timeout=10)
            customer = ws(port)
            customer.send(t="hello", role="customer", visitor=visitor, lang="en",
                          resume={conv: 3})
            assert customer.wait("welcome")["conv"] == conv
            customer.send(t="send", conv=conv, cid="c6", text="in flight")  # the resend
            seq6 = customer.wait("ack", cid="c6", timeout=10)["seq"]
            replayed = [f["seq"] for f in customer.quiet(1.0) + customer.seen
                        if f.get("t") == "msg" and f.get("conv") == conv]
            assert sorted(set(replayed)) == list(range(4, seq6 + 1))
            agent.send(t="accept", contact=agent.wait("offer", contact=conv, timeout=15)[
                "contact"])
            got = [f["seq"] for f in agent.quiet(1.0) + agent.seen
                   if f.get("t") == "msg" and f.get("conv") == conv]
            assert sorted(set(got)) == list(range(2, seq6 + 1))
        transcript = store.transcript(sf, conv)
        assert [m.seq for m in transcript] == list(range(1, len(transcript) + 1))
        cids = [m.client_id for m in transcript]
        assert len(cids) == len(set(cids)) == 7
        assert all((cid, seq) in [(m.client_id, m.seq) for m in transcript] for cid, seq in acked)
    finally:
        dispose(sf)
