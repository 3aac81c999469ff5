"""The knowledge base in the console: list and search, create, edit, delete articles.

Admins and supervisors only (an agent never signs in here; a session whose user is no
longer one of them gets 403). Every form is CSRF-protected (Flask-WTF); every field is
bounded twice, by the form and by ``cti.records.knowledge.check_draft``, and a refusal is a
400 (409 for a key already used or an edit of an older version) with the form again and
the reason beside the field, never a 500. Every value is rendered by Jinja's autoescape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from cti.records import knowledge as kb
from cti.records.models import CONSOLE_ROLES, KNOWLEDGE_LANGS
from web_admin.auth import login_required
from web_admin.deps import deps

log = logging.getLogger(__name__)
bp = Blueprint("knowledge", __name__, url_prefix="/knowledge")
View = TypeVar("View", bound=Callable[..., Any])
LANG_LABELS = {"zh": "中文 (zh)", "en": "English (en)"}
PAGE = 50


def editors_only(view: View) -> View:
    """Signed in, and an admin or a supervisor (403 otherwise)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if current_user.info.role not in CONSOLE_ROLES:
            abort(403)
        return view(*args, **kwargs)

    return cast(View, login_required(checked))


class ArticleForm(FlaskForm):  # type: ignore[misc,unused-ignore]
    key = StringField(
        "Key",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(kb.KEY.pattern, message="lower-case letters, digits, '-' or '_'"),
        ],
        render_kw={"maxlength": 64, "size": 40},
        description="One topic, one key: the articles of the same key are its translations.",
    )
    lang = SelectField(
        "Language (zh: 中文, en: English)",
        choices=list(KNOWLEDGE_LANGS),
        validators=[DataRequired()],
    )
    question = StringField(
        "Question",
        validators=[DataRequired(), Length(max=kb.QUESTION_MAX)],
        render_kw={"maxlength": kb.QUESTION_MAX, "size": 90},
    )
    answer = TextAreaField(
        "Answer",
        validators=[DataRequired(), Length(max=kb.ANSWER_MAX)],
        description="Sent to the customer as it is, as plain text.",
        render_kw={"maxlength": kb.ANSWER_MAX, "rows": 8, "cols": 90},
    )
    keywords = StringField(
        "Tags and keywords",
        validators=[Optional(), Length(max=kb.KEYWORDS_MAX)],
        description="Other words customers use for this, separated by spaces.",
        render_kw={"maxlength": kb.KEYWORDS_MAX, "size": 90},
    )
    version = HiddenField()
    submit = SubmitField("Save")


class DeleteForm(FlaskForm):  # type: ignore[misc,unused-ignore]
    submit = SubmitField("Delete")


def _editor() -> str:
    return str(current_user.info.username)


def _draft(form: ArticleForm) -> kb.ArticleDraft:
    return kb.ArticleDraft(
        form.key.data or "",
        form.lang.data or "",
        form.question.data or "",
        form.answer.data or "",
        form.keywords.data or "",
    )


def _refused(form: ArticleForm, err: kb.KnowledgeError) -> int:
    """Put the refusal beside its field (or above the form); the status to answer with."""
    field = getattr(form, err.field, None) if err.field else None
    if field is not None and err.field != "version":
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)
    return 409 if err.code in (kb.KEY_TAKEN, kb.STALE) else 400


def _form_page(
    form: ArticleForm, article: kb.ArticleInfo | None, status: int
) -> ResponseReturnValue:
    return render_template("knowledge_form.html", form=form, article=article), status


@bp.route("")
@editors_only
def index() -> ResponseReturnValue:
    search = request.args.get("q", "")[: kb.SEARCH_MAX]
    lang = request.args.get("lang", "")
    if lang and lang not in KNOWLEDGE_LANGS:
        abort(400, description=f"lang must be one of {', '.join(KNOWLEDGE_LANGS)}")
    page_arg = request.args.get("page", "1")
    if not page_arg.isdigit() or not 1 <= int(page_arg) <= 10_000:
        abort(400, description="page is a number from 1")
    page = int(page_arg)
    articles, total = kb.list_articles(
        deps().session_factory,
        search=search,
        lang=lang or None,
        limit=PAGE,
        offset=(page - 1) * PAGE,
    )
    return render_template(
        "knowledge.html",
        articles=articles,
        total=total,
        search=search,
        lang=lang,
        langs=LANG_LABELS,
        page=page,
        pages=max(1, -(-total // PAGE)),
    )


@bp.route("/new", methods=["GET", "POST"])
@editors_only
def create() -> ResponseReturnValue:
    form = ArticleForm()
    if request.method == "GET":
        return _form_page(form, None, 200)
    if not form.validate_on_submit():
        return _form_page(form, None, 400)
    try:
        made = kb.create_article(
            deps().session_factory, _draft(form), by=_editor(), now=datetime.now(UTC)
        )
    except kb.KnowledgeError as err:
        return _form_page(form, None, _refused(form, err))
    log.info("knowledge article %s created by user id %s", made.id, current_user.info.id)
    flash(f"Saved article {made.key} ({made.lang}).")
    return redirect(url_for("knowledge.index"))


def _article_or_404(article_id: int) -> kb.ArticleInfo:
    article = kb.get_article(deps().session_factory, article_id)
    if article is None:
        abort(404)
    return article


@bp.route("/<int:article_id>", methods=["GET", "POST"])
@editors_only
def edit(article_id: int) -> ResponseReturnValue:
    article = _article_or_404(article_id)
    if request.method == "GET":
        form = ArticleForm(
            data={
                "key": article.key,
                "lang": article.lang,
                "question": article.question,
                "answer": article.answer,
                "keywords": article.keywords,
                "version": article.version,
            }
        )
        return _form_page(form, article, 200)
    form = ArticleForm()
    if not form.validate_on_submit():
        return _form_page(form, article, 400)
    version = form.version.data or ""
    if not version.isdigit() or len(version) > 9:
        form.form_errors.append("The form has no valid version: reload the article.")
        return _form_page(form, article, 400)
    try:
        saved = kb.update_article(
            deps().session_factory,
            article_id,
            _draft(form),
            by=_editor(),
            now=datetime.now(UTC),
            version=int(version),
        )
    except kb.KnowledgeError as err:
        return _form_page(form, article, _refused(form, err))
    if saved is None:
        abort(404)
    log.info("knowledge article %s edited by user id %s", saved.id, current_user.info.id)
    flash(f"Saved article {saved.key} ({saved.lang}).")
    return redirect(url_for("knowledge.index"))


@bp.route("/<int:article_id>/delete", methods=["GET", "POST"])
@editors_only
def remove(article_id: int) -> ResponseReturnValue:
    article = _article_or_404(article_id)
    form = DeleteForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("knowledge_delete.html", article=article, form=form), 400
        kb.delete_article(deps().session_factory, article_id)
        log.info("knowledge article %s deleted by user id %s", article_id, current_user.info.id)
        flash(f"Deleted article {article.key} ({article.lang}).")
        return redirect(url_for("knowledge.index"))
    return render_template("knowledge_delete.html", article=article, form=form)
