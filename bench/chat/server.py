"""The chat bench's server under test: its database (a fresh SQLite file or a fresh
PostgreSQL database), the agents' desktop users and session tokens made before it starts,
``hotline run --no-asterisk`` as its own process configured by ``HOTLINE_*`` variables, its
CPU time and memory read from ``/proc``, and its stop by pid (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
from argon2 import PasswordHasher
from psycopg import sql

from cti.app.config import REPO_ROOT

LOOPBACK = "127.0.0.1"
PG_HOST, PG_PORT, PG_MAINTENANCE_DB = LOOPBACK, 5432, "test"
PG_DATABASE = "hotline_chat_bench"
PROMPTS_CACHE = Path.home() / ".cache" / "hotline" / "bench" / "chat-prompts"
# 200 desktop users with the production argon2 settings take ~25 s here (0.12 s a hash);
# the bench's users never sign in with their password, so a cheap hash is enough.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Variant:
    name: str
    database: str  # sqlite | postgresql
    ack_first: bool  # [chat] ack_before_store: acknowledge and deliver before the commit

    @property
    def label(self) -> str:
        db = "SQLite" if self.database == "sqlite" else "PostgreSQL"
        return f"{db}, {'ack first' if self.ack_first else 'stored first'}"


VARIANTS = {v.name: v for v in (
    Variant("sqlite", "sqlite", False),
    Variant("postgresql", "postgresql", False),
    Variant("sqlite-ack-first", "sqlite", True),
    Variant("postgresql-ack-first", "postgresql", True),
)}


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (held open together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


# -- the database -----------------------------------------------------------------------
def _pg_admin(user: str) -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_MAINTENANCE_DB, user=user,
                           connect_timeout=5, autocommit=True)


def pg_user() -> str:
    """The first of postgres / root that the local server (trust auth) lets in."""
    wanted = os.environ.get("HOTLINE_TEST_PG_USER")
    for user in [wanted] if wanted else ["postgres", "root"]:
        try:
            _pg_admin(user).close()
        except psycopg.OperationalError:
            continue
        return user
    raise SystemExit(f"no PostgreSQL on {PG_HOST}:{PG_PORT} for users postgres/root")


def create_pg_database(user: str, name: str = PG_DATABASE) -> str:
    """A fresh, empty database ``name`` (dropped first if a previous run left it)."""
    with _pg_admin(user) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"


def drop_pg_database(user: str, name: str = PG_DATABASE) -> None:
    with _pg_admin(user) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


def agent_ids(n: int) -> list[str]:
    return [f"b{i:04d}" for i in range(1, n + 1)]


def prepare_agents(db_url: str, agents: list[str]) -> dict[str, str]:
    """Migrate ``db_url``; one desktop user per agent (role agent, linked, username = agent
    id) and a desktop session each. Returns agent id -> session token (the cookie)."""
    from cti.records import desk_sessions
    from cti.records.db import dispose, make_session_factory
    from cti.records.migrate import upgrade
    from cti.records.users import create_user, link_agent

    upgrade(db_url)
    sf = make_session_factory(db_url)
    tokens = {}
    try:
        password = secrets.token_urlsafe(16)
        for agent in agents:
            user = create_user(sf, agent, password, role="agent", hasher=CHEAP_HASHER)
            link_agent(sf, agent, agent)
            tokens[agent] = desk_sessions.create(sf, user.id, agent, LOOPBACK)
    finally:
        dispose(sf)
    return tokens


# -- the process ------------------------------------------------------------------------
def _cpu_of(stat_file: Path) -> float:
    fields = stat_file.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
@dataclass
class Server:
    variant: Variant
    data_dir: Path
    chat_port: int
    proc: subprocess.Popen[bytes]
    pg_user: str | None = None  # PostgreSQL: its transactions are counted (pg_stat_database)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.chat_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.chat_port}/ws"

    def cpu_s(self) -> float:
        """User + system CPU of the server process (all its threads) so far."""
        return _cpu_of(Path(f"/proc/{self.pid}/stat"))

    def thread_cpu(self) -> dict[int, float]:
        """CPU so far of each live thread (by tid; the reactor's thread is the pid's)."""
        out = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                out[int(task.name)] = _cpu_of(task / "stat")
            except (FileNotFoundError, ProcessLookupError):
                continue  # the thread ended meanwhile
        return out

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def commits(self) -> int | None:
        """Transactions committed in the bench database so far (PostgreSQL only; the
        statistics reach ``pg_stat_database`` within about a second)."""
        if self.pg_user is None:
            return None
        with _pg_admin(self.pg_user) as admin:
            row = admin.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                                (PG_DATABASE,)).fetchone()
        return int(row[0]) if row else None

    def log_problems(self) -> list[str]:
        """Error and traceback lines of the server's log (it runs at WARNING)."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [line for line in text.splitlines()
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


def server_env(data_dir: Path, db_url: str, ports: dict[str, int], agents: list[str],
               max_chats: int, max_connections: int, max_waiting: int,
               ack_first: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_SECRET_KEY": secrets.token_urlsafe(32),
        "HOTLINE_LOG_LEVEL": "WARNING",
        "HOTLINE_PROMPTS_CACHE_DIR": str(PROMPTS_CACHE),  # built once, reused by every run
        "HOTLINE_ASTERISK_SANDBOX": "false",
        "HOTLINE_ASTERISK_AGENTS": ",".join(agents),
        # No Asterisk: the AMI client retries against a port nobody listens on.
        "HOTLINE_ASTERISK_AMI_PORT": str(ports["ami"]),
        "HOTLINE_FASTAGI_PORT": str(ports["fastagi"]),
        "HOTLINE_ITR_PORT": str(ports["itr"]),
        "HOTLINE_ITR_PUBLIC_URL": f"http://{LOOPBACK}:{ports['itr']}",
        "HOTLINE_CONSOLE_PORT": str(ports["console"]),
        "HOTLINE_CTI_API_PORT": str(ports["cti_api"]),
        "HOTLINE_CHAT_PORT": str(ports["chat"]),
        # No demo back-end: chat calls no flow action (its port is free all the same).
        "HOTLINE_BACKEND_DEMO": "false",
        "HOTLINE_BACKEND_DEMO_PORT": str(ports["backend"]),
        "HOTLINE_CTI_MAX_CHATS": str(max_chats),
        "HOTLINE_CTI_MAX_WAITING": str(max_waiting),
        "HOTLINE_CHAT_IGNORE_HOURS": "true",
        "HOTLINE_CHAT_READY_ON_SIGN_IN": "true",  # every desktop takes chats at once
        "HOTLINE_CHAT_MAX_CONNECTIONS": str(max_connections),
        "HOTLINE_CHAT_ACK_BEFORE_STORE": "true" if ack_first else "false",
    })
    return env


def start_server(variant: Variant, db_url: str, data_dir: Path, agents: list[str], *,
                 max_chats: int, max_connections: int, max_waiting: int,
                 pg: str | None = None, limit_s: float = 120.0) -> Server:
    """``hotline run --no-asterisk``; returns once the chat site answers HTTP."""
    names = ("ami", "fastagi", "itr", "console", "cti_api", "chat", "backend")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = server_env(data_dir, db_url, ports, agents, max_chats, max_connections, max_waiting,
                     variant.ack_first)
    PROMPTS_CACHE.mkdir(parents=True, exist_ok=True)
    hotline = REPO_ROOT / ".venv" / "bin" / "hotline"
    with (data_dir / "server.log").open("wb") as fh:
        proc = subprocess.Popen([str(hotline), "run", "--no-asterisk"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                start_new_session=True)
    server = Server(variant, data_dir, ports["chat"], proc, pg)
    try:
        wait_serving(server, limit_s)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_serving(server: Server, limit_s: float) -> None:
    """Until ``GET /widget.js`` on the chat site answers 200 (the reactor runs by then)."""
    deadline = time.monotonic() + limit_s
    url = f"{server.origin}/widget.js"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError("hotline exited:\n" +
                               server.log_file.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # 127.0.0.1 only
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"hotline did not serve {url} within {limit_s:.0f} s")


def stop_server(server: Server, grace_s: float = 15.0) -> int | None:
    """SIGTERM the server this bench started (by its pid), SIGKILL if it lingers."""
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def fresh_data_dir(variant: Variant) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"hotline-chat-bench-{variant.name}-"))
