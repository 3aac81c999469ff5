"""The console's application factory: every dependency comes in as an argument."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from cti.app.config import Config, ConfigError
from cti.records.db import SessionFactory
from web_admin import auth, flows, knowledge
from web_admin.catalog import FlowCatalog
from web_admin.deps import EXTENSION, ConsoleDeps

CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp


def _error_page(exc: HTTPException) -> ResponseReturnValue:
    return render_template("error.html", error=exc), exc.code or 500


def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return render_template("error.html", error=exc), 400


def create_console_app(
    cfg: Config, *, session_factory: SessionFactory, flows_dir: str | Path
) -> Flask:
    """The supervisor console. ``cfg.secret_key`` must be set (see ``ensure_secrets``)."""
    if not cfg.secret_key:
        raise ConfigError("secret_key is not set: the console cannot sign its sessions")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        SESSION_COOKIE_NAME="hotline_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions[EXTENSION] = ConsoleDeps(cfg, session_factory, FlowCatalog(flows_dir))
    CSRFProtect(app)
    auth.init_login(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(flows.bp)
    app.register_blueprint(knowledge.bp)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _error_page)
    app.after_request(_security_headers)
    app.jinja_env.globals["logout_form"] = auth.LogoutForm
    return app
