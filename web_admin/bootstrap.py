"""First run: make sure someone can sign in to the console."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from cti.records.db import SessionFactory
from cti.records.users import UsernameTaken, count_users, create_user

log = logging.getLogger(__name__)
ADMIN = "admin"
PASSWORD_FILE = "admin-password.txt"  # noqa: S105 (a file name, not a password)


def ensure_admin(session_factory: SessionFactory, data_dir: str | Path) -> str | None:
    """With no user at all, create ``admin`` with a random password, write the password to
    ``<data_dir>/admin-password.txt`` (mode 0600) and return it; otherwise return None."""
    if count_users(session_factory) > 0:
        return None
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    final = data / PASSWORD_FILE
    tmp = data / f".{PASSWORD_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(password + "\n")
    created = False
    try:
        create_user(session_factory, ADMIN, password, role="admin")
        created = True
    except UsernameTaken:  # another process got there first: its file stands
        return None
    finally:
        if not created:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    os.replace(tmp, final)  # only once the user exists does the file show this password
    log.info("created console user %r; its password is in %s", ADMIN, final)
    return password


DEMO_AGENTS_FILE = "agent-passwords.txt"


def ensure_demo_agents(session_factory: SessionFactory, data_dir: str | Path,
                       agents: tuple[str, ...]) -> list[str]:
    """The demo: one desktop user per configured agent (username = agent id, role agent,
    linked), random passwords appended to ``<data_dir>/agent-passwords.txt`` (mode 0600).
    Agents that already have a user are left alone. Returns the usernames created."""
    from cti.records.users import UserError, link_agent, usernames

    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    made = []
    known = usernames(session_factory)  # no password hashing for users that exist
    for agent in agents:
        if agent.lower() in known:
            continue
        password = secrets.token_urlsafe(12)
        try:
            create_user(session_factory, agent, password, role="agent")
            link_agent(session_factory, agent, agent)
        except UserError:
            continue  # already there (or not a valid username): nothing to do
        fd = os.open(data / DEMO_AGENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{agent} {password}\n")
        made.append(agent)
    if made:
        log.info("created desktop users %s; their passwords are in %s", ", ".join(made),
                 data / DEMO_AGENTS_FILE)
    ensure_demo_knowledge(session_factory)  # the demo's other first-start content
    return made


def ensure_demo_knowledge(session_factory: SessionFactory) -> int:
    """The demo: with an empty knowledge base (the first start, or every article deleted),
    store the demo shop's questions and answers (``cti/knowledge/demo_kb.yaml``); one with
    any article is left as it is. Returns how many articles were stored."""
    from datetime import UTC, datetime

    from cti.knowledge.demo import load_drafts
    from cti.records.knowledge import count_articles, seed

    if count_articles(session_factory):
        return 0
    stored = seed(session_factory, load_drafts(), by="demo", now=datetime.now(UTC))
    if stored:
        log.info("stored the demo knowledge base: %d articles", stored)
    return stored
