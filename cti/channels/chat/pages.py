"""The customer's pages: the widget loader (``/widget.js``), the chat panel (``/chat/``) and
attachments (``/chat/files``). A blueprint of the realtime site's WSGI app.

Attachments are checked on the server: at most ``max_file_bytes``, a type from ``ACCEPT``
confirmed by the file's first bytes (a renamed executable is not an image), stored under
the data dir with a random name, and served only to the conversation's customer (their
visitor token as a bearer token) and to the agent holding the conversation.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, send_file
from flask.typing import ResponseReturnValue

from cti.channels.chat.web.strings import STRINGS
from cti.records import chat as store

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
bp = Blueprint("chat", __name__, template_folder=str(WEB / "templates"),
               static_folder=str(WEB / "static"), static_url_path="/chat/static")
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
    "text/plain": (),
}
ACCEPT = tuple(MAGIC)


@dataclass
class ChatPageDeps:
    session_factory: Any
    files_dir: Path
    max_file_bytes: int
    visitor_of: Callable[[str], str | None]  # visitor token -> visitor id
    agent_of_request: Callable[[], str | None]  # the signed-in desk agent, if any
    agent_holds: Callable[[str, str], bool]  # (agent, conv) -> held right now


def deps() -> ChatPageDeps:
    return current_app.extensions["hotline_chat"]


def _error(status: int, code: str, message: str) -> ResponseReturnValue:
    return jsonify({"error": code, "message": message}), status


def _lang() -> str:
    lang = request.args.get("lang", "")
    return lang if lang in STRINGS else "zh"


@bp.route("/chat/")
def chat_page() -> ResponseReturnValue:
    lang = _lang()
    return render_template("chat.html", lang=lang, strings=STRINGS[lang], ws_url="/ws",
                           max_file_bytes=deps().max_file_bytes, accept=",".join(ACCEPT))


@bp.route("/widget.js")
def widget() -> ResponseReturnValue:
    resp = send_file(WEB / "static" / "widget.js", mimetype="text/javascript", max_age=300)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # a merchant page loads it
    return resp


def _visitor() -> str | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return deps().visitor_of(auth[7:].strip())


def sniff_ok(kind: str, head: bytes) -> bool:
    if kind == "text/plain":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start > len(head) - 4  # a character cut at the sniff boundary
        return b"\x00" not in head
    if kind == "image/webp":
        return head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    return any(head.startswith(m) for m in MAGIC.get(kind, ()))


@bp.route("/chat/files", methods=["POST"])
def upload() -> ResponseReturnValue:
    d = deps()
    visitor = _visitor()
    if visitor is None:
        return _error(401, "no_visitor", "send your visitor token")
    if (request.content_length or 0) > d.max_file_bytes + 64 * 1024:
        return _error(413, "too_big", f"files are at most {d.max_file_bytes} bytes")
    conv = request.form.get("conv", "")
    info = store.conversation(d.session_factory, conv) if 0 < len(conv) <= 64 else None
    if info is None or info.visitor != visitor or info.state != "open":
        return _error(403, "not_yours", "no such open conversation of yours")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _error(400, "no_file", "send the file in the 'file' field")
    kind = (upload.mimetype or "").split(";")[0].strip().lower()
    if kind not in MAGIC:
        return _error(415, "bad_type", "allowed: " + ", ".join(ACCEPT))
    data = upload.stream.read(d.max_file_bytes + 1)
    if len(data) > d.max_file_bytes:
        return _error(413, "too_big", f"files are at most {d.max_file_bytes} bytes")
    if not data or not sniff_ok(kind, data[:512]):
        return _error(415, "bad_content", f"the file is not a {kind} file")
    file_id = "f-" + secrets.token_hex(12)
    rel = Path(conv) / file_id
    path = d.files_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    name = "".join(ch for ch in Path(upload.filename).name if ch.isprintable())[:120] or "file"
    saved = store.add_file(d.session_factory, file_id=file_id, conversation_id=conv,
                           name=name, type=kind, size=len(data), path=str(rel),
                           uploaded_by=visitor, at=datetime.now(UTC))
    return jsonify(file_json(saved)), 201


def file_json(info: Any) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "type": info.type, "size": info.size}


@bp.route("/chat/files/<file_id>")
def download(file_id: str) -> ResponseReturnValue:
    d = deps()
    info = store.file_info(d.session_factory, file_id) if len(file_id) <= 64 else None
    if info is None:
        return _error(404, "no_file", "no such file")
    conv = store.conversation(d.session_factory, info.conversation_id)
    visitor = _visitor()
    agent = d.agent_of_request()
    allowed = (conv is not None and visitor is not None and conv.visitor == visitor) or (
        agent is not None and d.agent_holds(agent, info.conversation_id))
    if not allowed:
        return _error(404, "no_file", "no such file")
    resp = send_file(d.files_dir / info.path, mimetype=info.type, download_name=info.name,
                     as_attachment=not info.type.startswith("image/"))
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


def attachment_of(sf: Any, conv: str, file_id: str) -> Mapping[str, Any] | None:
    """The stored file ``file_id`` if it belongs to ``conv`` (for a ``send`` frame)."""
    info = store.file_info(sf, file_id)
    if info is None or info.conversation_id != conv:
        return None
    return file_json(info)
