"""The realtime site's WSGI app: the customer chat pages and the agent desktop, one Flask
app beside the WebSocket (``/ws``, mounted by ``cti.realtime.server.realtime_site``).

Every page has a strict Content-Security-Policy (scripts and styles only from this site,
no inline code); the chat panel may be framed by merchant pages (``frame-ancestors`` from
``[chat] allowed_origins``), the desktop by nobody.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from cti.agents.desktop import pages as desk_pages
from cti.channels.chat import pages as chat_pages


def create_realtime_web_app(secret_key: str, chat: chat_pages.ChatPageDeps,
                            desk: desk_pages.DeskDeps, frame_origins: tuple[str, ...],
                            max_body: int) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key, SESSION_COOKIE_NAME="hotline_desk_form",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      MAX_CONTENT_LENGTH=max_body, WTF_CSRF_TIME_LIMIT=12 * 3600,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=12))
    app.extensions["hotline_chat"] = chat
    app.extensions["hotline_desk"] = desk
    csrf = CSRFProtect(app)
    csrf.exempt(chat_pages.bp)  # bearer-token uploads, no cookies involved
    app.register_blueprint(chat_pages.bp)
    app.register_blueprint(desk_pages.bp)
    ancestors = " ".join(frame_origins) or "'none'"

    @app.after_request
    def headers(resp: Response) -> Response:
        framed = request.path.startswith("/chat/") and not request.path.startswith(
            "/chat/files")
        framing = ancestors if framed else "'none'"
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {framing}")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith(("/desk/api", "/chat/files")):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return jsonify({"error": "csrf", "message": "reload the page and try again"}), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        return jsonify({"error": (exc.name or "error").lower().replace(" ", "_"),
                        "message": exc.description or ""}), code

    return app
