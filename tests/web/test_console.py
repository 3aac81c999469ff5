"""The supervisor console through Flask's test client: sign-in, CSRF, flows, pictures."""

from __future__ import annotations

import secrets

import pytest
from flask.testing import FlaskClient

from cti.app.config import Config, ConfigError
from cti.records.db import SessionFactory
from tests.web.conftest import PASSWORD, USERNAME, csrf_token, log_in
from web_admin.app import create_console_app


@pytest.mark.parametrize("path", ["/", "/flows", "/flows/demo_400", "/flows/demo_400/picture.svg"])
def test_every_page_but_login_needs_a_login(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_login_page_sets_a_csrf_token_and_safe_cookie(client: FlaskClient) -> None:
    resp = client.get("/login")
    assert resp.status_code == 200
    assert csrf_token(resp.get_data(as_text=True))
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "script-src 'none'" in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("username", "password"), [(USERNAME, "wrong password"), ("nobody", PASSWORD)]
)
def test_a_failed_login_gives_one_generic_error(
    client: FlaskClient, username: str, password: str
) -> None:
    status, _, body = log_in(client, username, password)
    assert status == 401
    assert "Wrong username or password." in body
    assert client.get("/flows").status_code == 302


def test_a_post_without_csrf_token_is_rejected(client: FlaskClient) -> None:
    client.get("/login")
    resp = client.post("/login", data={"username": USERNAME, "password": PASSWORD})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert client.get("/flows").status_code == 302


def test_login_works_and_follows_only_local_next(client: FlaskClient) -> None:
    status, location, _ = log_in(client, next_url="?next=/flows/demo_400")
    assert (status, location) == (302, "/flows/demo_400")
    assert client.get("/flows/demo_400").status_code == 200


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_ignores_an_offsite_next(client: FlaskClient, evil: str) -> None:
    _, location, _ = log_in(client, next_url=f"?next={evil}")
    assert location == "/flows"


def test_logout_needs_post_with_csrf(logged_in: FlaskClient) -> None:
    page = logged_in.get("/flows").get_data(as_text=True)
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.post("/logout").status_code == 400
    resp = logged_in.post("/logout", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 302
    assert logged_in.get("/flows").status_code == 302


def test_flows_page_lists_valid_and_broken_flows(logged_in: FlaskClient) -> None:
    body = logged_in.get("/flows").get_data(as_text=True)
    assert 'id="flow-demo_400"' in body
    demo = body.split('id="flow-demo_400"', 1)[1].split("</li>", 1)[0]
    assert '<p class="status ok">valid · ' in demo
    assert 'src="/flows/demo_400/picture.svg"' in demo
    broken = body.split('id="flow-broken"', 1)[1].split("</li>", 1)[0]
    assert "invalid" in broken
    assert "broken.yaml:7: node &#39;main&#39;: goes to &#39;nowhere&#39;" in broken
    assert "/tmp" not in body  # file names, never the server's paths


def test_flow_detail_page_shows_nodes(logged_in: FlaskClient) -> None:
    body = logged_in.get("/flows/demo_400").get_data(as_text=True)
    assert "优选商城客服热线" in body and 'id="node-order_branch"' in body
    assert logged_in.get("/flows/nope").status_code == 404
    assert logged_in.get("/flows/..%2f..%2fetc").status_code == 404


def test_svg_route_returns_the_picture(logged_in: FlaskClient) -> None:
    resp = logged_in.get("/flows/demo_400/picture.svg")
    assert resp.status_code == 200
    assert resp.mimetype == "image/svg+xml"
    svg = resp.get_data(as_text=True)
    assert "<svg" in svg and "order_branch" in svg and "优选商城客服热线" in svg
    assert logged_in.get("/flows/broken/picture.svg").status_code == 404


def test_prompt_markup_is_escaped_everywhere(logged_in: FlaskClient) -> None:
    body = logged_in.get("/flows/xss").get_data(as_text=True)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; more" in body
    svg = logged_in.get("/flows/xss/picture.svg").get_data(as_text=True)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_the_app_refuses_to_start_without_a_secret_key(session_factory: SessionFactory) -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        create_console_app(Config(secret_key=""), session_factory=session_factory, flows_dir=".")
    assert create_console_app(
        Config(secret_key=secrets.token_urlsafe(32)), session_factory=session_factory, flows_dir="."
    )
