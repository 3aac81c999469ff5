"""Flows: every flow file with its validation status and its picture."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask.typing import ResponseReturnValue

from ivr_flows.core.model import successors
from ivr_flows.edges.graph import GraphError
from web_admin.auth import login_required
from web_admin.deps import deps

bp = Blueprint("flows", __name__)


@bp.route("/")
@bp.route("/flows")
@login_required
def index() -> ResponseReturnValue:
    catalog = deps().catalog
    return render_template("flows.html", entries=catalog.entries())


@bp.route("/flows/<slug>")
@login_required
def detail(slug: str) -> ResponseReturnValue:
    entry = deps().catalog.entry(slug)
    if entry is None:
        abort(404)
    return render_template("flow.html", entry=entry, successors=successors)


@bp.route("/flows/<slug>/picture.svg")
@login_required
def picture(slug: str) -> ResponseReturnValue:
    catalog = deps().catalog
    entry = catalog.entry(slug)
    if entry is None or entry.flow is None:
        abort(404)
    try:
        svg = catalog.svg(entry)
    except GraphError:
        abort(503)
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp
