"""A fresh console per test: a temporary SQLite database, one user, a temporary flows folder."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cti.app.config import Config
from cti.records.db import SessionFactory, dispose, make_session_factory
from cti.records.migrate import upgrade
from cti.records.users import create_user
from web_admin.app import create_console_app

REPO = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "sup", "a long test password"
BROKEN_FLOW = """\
flow: broken
languages: [en]
start: main
defaults: {fallback: bye, invalid: Sorry., no_input: Sorry.}
nodes:
  main:
    kind: menu
    prompt: Press 1.
    options:
      - {key: "1", label: One, goto: nowhere}
  bye:
    kind: hangup
"""
XSS_FLOW = """\
flow: xss
languages: [en]
start: main
nodes:
  main:
    kind: say
    prompt: "<script>alert('pwned')</script> & more"
    next: bye
  bye:
    kind: hangup
"""


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    d = tmp_path / "flows"
    d.mkdir()
    shutil.copy(REPO / "ivr_flows" / "flows" / "demo_400.yaml", d / "demo_400.yaml")
    (d / "broken.yaml").write_text(BROKEN_FLOW, encoding="utf-8")
    (d / "xss.yaml").write_text(XSS_FLOW, encoding="utf-8")
    return d


@pytest.fixture
def session_factory(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    factory = make_session_factory(url)
    create_user(factory, USERNAME, PASSWORD)
    yield factory
    dispose(factory)


@pytest.fixture
def app(tmp_path: Path, session_factory: SessionFactory, flows_dir: Path) -> Flask:
    cfg = Config(data_dir=str(tmp_path), secret_key=secrets.token_urlsafe(32))
    return create_console_app(cfg, session_factory=session_factory, flows_dir=flows_dir)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(
    client: FlaskClient, username: str = USERNAME, password: str = PASSWORD, next_url: str = ""
) -> tuple[int, str, str]:
    """Log in through the real form; returns (status, Location header, body)."""
    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    resp = client.post(
        f"/login{next_url}", data={"csrf_token": token, "username": username, "password": password}
    )
    return resp.status_code, resp.headers.get("Location", ""), resp.get_data(as_text=True)


@pytest.fixture
def logged_in(client: FlaskClient) -> FlaskClient:
    status, location, _ = log_in(client)
    assert status == 302 and location.endswith("/flows")
    return client
