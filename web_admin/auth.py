"""Signing in and out of the console (Flask-Login sessions, Flask-WTF forms with CSRF)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import flask_login
from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from cti.records.users import MAX_PASSWORD, UserInfo, authenticate, get_user
from web_admin.deps import deps

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
LOGIN_FAILED = "Wrong username or password."
View = TypeVar("View", bound=Callable[..., Any])


def login_required(view: View) -> View:
    """Flask-Login's ``login_required``, typed."""
    return cast(View, flask_login.login_required(view))


class ConsoleUser:
    """The signed-in user as Flask-Login sees it (a thin wrapper of a plain UserInfo)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, info: UserInfo) -> None:
        self.info = info

    def get_id(self) -> str:
        return str(self.info.id)

    @property
    def is_active(self) -> bool:
        return self.info.active


class LoginForm(FlaskForm):  # type: ignore[misc,unused-ignore]
    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=MAX_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):  # type: ignore[misc,unused-ignore]
    submit = SubmitField("Sign out")


def _load_user(user_id: str) -> ConsoleUser | None:
    if not user_id.isdigit():
        return None
    info = get_user(deps().session_factory, int(user_id))
    return ConsoleUser(info) if info is not None and info.active else None


def init_login(app: Flask) -> LoginManager:
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in to use the console."
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.init_app(app)
    return manager


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no '//' or backslash tricks)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("flows.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("flows.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        info = authenticate(
            deps().session_factory, form.username.data or "", form.password.data or ""
        )
        if info is not None:
            login_user(ConsoleUser(info))
            log.info("console sign-in: user id %s", info.id)
            return redirect(_safe_next(request.args.get("next")))
        log.info("console sign-in refused")
        form.form_errors.append(LOGIN_FAILED)
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    form = LogoutForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.")
    return redirect(url_for("auth.login"))
