"""The agent desktop's pages: sign in / out, the desktop itself, and its small JSON API
(screen pop, wrap-up codes, queues). A blueprint of the realtime site's WSGI app.

Sign-in takes a console user whose role is ``agent`` and who is linked to an agent id
(``hotline users link-agent``); the session lives on the server (``desk_sessions``), its
random token in an HttpOnly, SameSite=Strict cookie, so signing out really ends it. Every
API call checks that the contact is one the signed-in agent holds right now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from cti.agents.desktop.strings import STRINGS
from cti.records import desk_sessions, tags
from cti.records.users import MAX_PASSWORD, authenticate

log = logging.getLogger(__name__)
bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder="templates",
               static_folder="static", static_url_path="/static")
COOKIE = "hotline_desk"
NOT_READY_REASONS = ("break", "lunch", "training", "meeting", "after_call")


@dataclass
class DeskDeps:
    session_factory: Any
    # (agent id, contact id) -> the live context of a contact the agent holds, or None.
    # Runs on the reactor (through the gateway's from_thread).
    live_context: Callable[[str, str], Mapping[str, Any] | None]
    queues: Callable[[], list[str]]
    wrap_up_codes: tuple[tuple[str, str], ...]
    secure_cookie: bool = False
    history: Callable[[Any, Mapping[str, str], str], list[dict[str, Any]]] = (
        lambda sf, ids, current: [])
    context: Callable[[Any, str], dict[str, Any]] = lambda sf, contact: {}
    # (agent id, session token): the session ended; close its open desktop sockets
    signed_out: Callable[[str, str], None] = lambda agent, token: None
    agents: Callable[[], list[str]] = lambda: []  # agents signed in now (not logged out)


def deps() -> DeskDeps:
    return current_app.extensions["hotline_desk"]


class DeskLogin(FlaskForm):  # type: ignore[misc,unused-ignore]
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])


def _lang() -> str:
    lang = request.args.get("lang") or request.cookies.get("hotline_lang") or ""
    if lang not in STRINGS:
        lang = "zh" if "zh" in (request.accept_languages.best_match(["zh", "en"]) or "") \
            else "en"
    return lang


def current_agent() -> desk_sessions.DeskSessionInfo | None:
    if "desk_agent" not in g:
        token = request.cookies.get(COOKIE, "")
        g.desk_agent = desk_sessions.lookup(deps().session_factory, token) if token else None
    info: desk_sessions.DeskSessionInfo | None = g.desk_agent
    return info


def _api_error(status: int, code: str, message: str) -> ResponseReturnValue:
    return jsonify({"error": code, "message": message}), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    lang = _lang()
    form = DeskLogin()
    error = ""
    status = 200
    if form.validate_on_submit():
        sf = deps().session_factory
        info = authenticate(sf, form.username.data or "", form.password.data or "",
                            roles=("agent",))
        agent_id = desk_sessions.agent_of(sf, info.id) if info is not None else None
        if info is not None and info.role == "agent" and agent_id:
            token = desk_sessions.create(sf, info.id, agent_id, request.remote_addr or "")
            resp = redirect("/desk/")
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=deps().secure_cookie, max_age=12 * 3600)
            log.info("desk sign-in: user %s as agent %s", info.id, agent_id)
            return resp
        error = STRINGS[lang].get("login_failed", "Wrong username or password.")
        status = 401
    elif request.method == "POST":
        status = 400
        error = STRINGS[lang].get("login_failed", "Wrong username or password.")
    return render_template("desk_login.html", lang=lang, strings=STRINGS[lang], error=error,
                           csrf_token=form.csrf_token.current_token if hasattr(
                               form.csrf_token, "current_token") else "", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    token = request.cookies.get(COOKIE, "")
    if token:
        who = desk_sessions.lookup(deps().session_factory, token)
        desk_sessions.end(deps().session_factory, token)
        if who is not None:
            deps().signed_out(who.agent_id, token)
    resp = redirect("/desk/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@bp.route("/")
def index() -> ResponseReturnValue:
    who = current_agent()
    if who is None:
        return redirect("/desk/login")
    lang = _lang()
    from flask_wtf.csrf import generate_csrf

    strings = STRINGS[lang]
    reasons = [[r, strings.get(f"reason_{r}", r)] for r in NOT_READY_REASONS]
    return render_template("desk.html", agent_id=who.agent_id, agent_name=who.username,
                           lang=lang, strings=strings, ws_url="/ws",
                           csrf_token=generate_csrf(), logout_url="/desk/logout",
                           not_ready_reasons=reasons)


@bp.route("/api/wrapup-codes")
def wrapup_codes() -> ResponseReturnValue:
    if current_agent() is None:
        return _api_error(401, "not_signed_in", "sign in to the desktop")
    return jsonify({"codes": [list(c) for c in deps().wrap_up_codes]})


@bp.route("/api/queues")
def queues() -> ResponseReturnValue:
    """Where a chat can be transferred: the queues, then the other signed-in agents
    (``agent:<id>``, labelled with their id)."""
    who = current_agent()
    if who is None:
        return _api_error(401, "not_signed_in", "sign in to the desktop")
    lang = _lang()
    to_agent = STRINGS[lang].get("transfer_to_agent", "Agent {agent}")
    targets: list[list[str]] = [[q, q] for q in deps().queues()]
    targets += [[f"agent:{a}", to_agent.replace("{agent}", a)] for a in deps().agents()
                if a != who.agent_id]
    return jsonify({"queues": targets})


def _held(agent_id: str, contact_id: str) -> tuple[DeskDeps, Mapping[str, Any]] | None:
    """The desk's parts and the live context of a contact ``agent_id`` holds; None when it
    holds no such contact (an agent sees only their own)."""
    if len(contact_id) > 64:
        return None
    d = deps()
    live = d.live_context(agent_id, contact_id)
    return None if live is None else (d, live)


def _not_yours() -> ResponseReturnValue:
    return _api_error(404, "not_yours", "no such contact of yours")


@bp.route("/api/contacts/<contact_id>/pop")
def pop(contact_id: str) -> ResponseReturnValue:
    who = current_agent()
    if who is None:
        return _api_error(401, "not_signed_in", "sign in to the desktop")
    held = _held(who.agent_id, contact_id)
    if held is None:
        return _not_yours()
    d, live = held
    identities = dict(live.get("identities", {}))
    history = d.history(d.session_factory, identities, contact_id)
    context = {**d.context(d.session_factory, contact_id), **live.get("context", {})}
    customer = tags.customer_of(d.session_factory, identities)
    return jsonify({"customer": {"name": live.get("name", ""), "identities": identities},
                    "context": context, "history": history,
                    "tags": _tag_list(d, customer)})


def _tag_list(d: DeskDeps, customer: int | None) -> list[dict[str, str]]:
    if customer is None:
        return []
    return [{"tag": t.tag, "source": t.source, "added_at": t.added_at.isoformat()}
            for t in tags.tags_of(d.session_factory, customer)]


def _same_origin() -> bool:
    """A browser's ``Origin`` (sent with every fetch that changes something) must name this
    site's host (the scheme may differ behind a TLS proxy); a request without one (not a
    browser) relies on the cookie and the CSRF token."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


@bp.route("/api/contacts/<contact_id>/tags", methods=["POST", "DELETE"])
def contact_tags(contact_id: str) -> ResponseReturnValue:
    """Tag or untag the customer of a contact the agent holds: ``{"tag": "..."}`` (POST adds,
    DELETE removes); answers the customer's tags. The CSRF token of the page comes in the
    ``X-CSRFToken`` header (the site's CSRFProtect checks it), with the SameSite=Strict desk
    cookie and, from a browser, this site's ``Origin``."""
    who = current_agent()
    if who is None:
        return _api_error(401, "not_signed_in", "sign in to the desktop")
    if not _same_origin():
        return _api_error(403, "bad_origin", "this request comes from another site")
    if len(contact_id) > 64:
        return _not_yours()
    if not request.is_json:
        return _api_error(415, "json_expected", "send application/json")
    body = request.get_json(silent=True)
    raw = body.get("tag") if isinstance(body, dict) else None
    if not isinstance(raw, str):
        return _api_error(400, "invalid_tag", 'send {"tag": "..."}')
    held = _held(who.agent_id, contact_id)
    if held is None:
        return _not_yours()
    d, live = held
    identities = dict(live.get("identities", {}))
    try:
        tag = tags.normalize_tag(raw)
        customer = tags.customer_of(d.session_factory, identities,
                                    create=request.method == "POST", now=datetime.now(UTC))
        if customer is None:
            return _api_error(409, "no_customer", "this contact has no known customer")
        if request.method == "POST":
            _, changed = tags.add(d.session_factory, customer, tag, f"agent:{who.agent_id}",
                                  datetime.now(UTC))
        else:
            changed = tags.remove(d.session_factory, customer, tag)
    except tags.TagError as exc:
        return _api_error(409 if exc.code == "too_many" else 400, exc.code, exc.message)
    if changed:
        log.info("desk: agent %s %s tag on customer %s", who.agent_id,
                 "added a" if request.method == "POST" else "removed a", customer)
    return no_store(jsonify({"tags": _tag_list(d, customer), "changed": changed}))


@bp.route("/api/contacts/<contact_id>/suggestions")
def suggestions(contact_id: str) -> ResponseReturnValue:
    """Recommended answers for a chat the agent holds: the knowledge base ranked for the
    customer's last three text messages (``cti/knowledge``); the index, built on first use,
    lives on this app and follows every change to the knowledge base."""
    from cti.knowledge.live import LiveKnowledge
    from cti.records.knowledge import recent_customer_texts

    who = current_agent()
    if who is None:
        return _api_error(401, "not_signed_in", "sign in to the desktop")
    held = _held(who.agent_id, contact_id)
    if held is None:
        return _not_yours()
    d, live = held
    context = live.get("context", {})
    if context.get("channel") != "chat":
        return jsonify({"suggestions": []})
    kb = current_app.extensions.get("hotline_kb")
    if not isinstance(kb, LiveKnowledge):
        kb = current_app.extensions.setdefault("hotline_kb", LiveKnowledge(d.session_factory))
    texts = recent_customer_texts(d.session_factory, contact_id, 3)
    found = kb.suggest(texts, 3, context.get("language"))
    return no_store(jsonify({"suggestions": [
        {"id": s.id, "key": s.key, "lang": s.lang, "question": s.question, "answer": s.answer,
         "score": s.score, "confidence": s.confidence} for s in found]}))


def no_store(resp: Response) -> Response:
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp
