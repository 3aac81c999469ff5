"""The touch renderer (ITR): the flow as a mobile web page. A Flask application factory.

Stateless: the interpreter state travels signed in each page's forms (``session.StateCodec``)
and expires ``state_max_age_s`` after the session started; a page from before the flow was
edited gets a "start again" page (``state_stale``), never an error. Every dependency is passed
in (flows, the action runner, the link signer, the clock, the optional SMS sender and exit
hand-off); nothing is global but the one-time keys of side effects (``once.OnceKeys``, kept in
this process: an action whose method is not GET, a texted link, a finished session handed to
``on_exit`` run once per session step, however often the same page is posted).

With a chat panel (``chat_url``), a queue exit's final page opens the chat with a signed
hand-off token (``handoff.HandoffCodec``): the conversation waits in the exit's queue and the
agent's screen pop shows the path, the entered values and the self-service results.

A request body over ``max_body_bytes`` (``MAX_BODY_BYTES``: a page posts a signed state and
one input, a few kilobytes) is answered 413 before anything reads it: a short problem page, or
``{"error": "too_large", ...}`` when the request is JSON.

Routes:
  GET  /                    the flows (or a redirect when there is one)
  GET  /f/<flow>?lang=en    start a session
  GET  /l/<token>           open at the node, language and entered values of a texted link
  POST /f/<flow>/step       signed state + one input: key (tap), digits, back, lang
  POST /f/<flow>/callback   signed final state + the number to call back (when unknown)

``send_link`` on the touch page: when an SMS sender is configured and the session knows the
caller's number, the page really texts the link (from a desktop to a phone, say; the same
``edges.links.make_link_sender`` as the voice menu). Otherwise the option is hidden and a
forged tap is answered with ``Result("error")``: the flow then says honestly that no text
was sent.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ivr_flows.core.effects import (
    Back,
    Digits,
    Effect,
    Exit,
    Input,
    SetLanguage,
    State,
    Tap,
    Timeout,
)
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.messages import message
from ivr_flows.core.model import Flow, MenuNode
from ivr_flows.edges.links import LinkExpired, LinkSigner, LinkTampered, make_link_sender
from ivr_flows.edges.sms import SmsError, SmsSender, check_number
from ivr_flows.touch.handoff import HANDOFF_TTL_S, HandoffCodec
from ivr_flows.touch.once import IssuedBeforeStart, OnceKeys, StillRunning
from ivr_flows.touch.session import (
    MAX_AGE_S,
    Clock,
    Journey,
    Runner,
    StateCodec,
    StateRefused,
    advance_session,
    describe,
)
from ivr_flows.touch.view import build_page, problem_page, ui_text

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
OnExit = Callable[[Flow, State], None]
OnDone = Callable[[Flow, State, str], None]
# "type your question" (a menu with ``question``): (text, lang) -> (answer key, answer) | None
# (None: nothing confident enough); the knowledge base answers, wired by the composition root
Answers = Callable[[str, str], tuple[str, str] | None]
OnContained = Callable[[Flow, State, str, str], None]  # (flow, state, session key, answer key)
MAX_QUESTION = 300  # (flow, final state, session key)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
MAX_BODY_BYTES = 64 * 1024
HAND_OFFS = frozenset({"callback", "queue"})  # exits handed to someone: once per session
PROBLEM_STATUS = {"state_tampered": 400, "state_expired": 410, "state_stale": 409, "busy": 409}


def create_itr_app(flows: Mapping[str, Flow], runner: Runner, links: LinkSigner, clock: Clock,
                   *, secret_key: str, sms_sender: SmsSender | None = None,
                   on_exit: OnExit | None = None, max_body_bytes: int = MAX_BODY_BYTES,
                   on_done: OnDone | None = None, chat_url: str = "",
                   state_max_age_s: int = MAX_AGE_S, handoff_ttl_s: int = HANDOFF_TTL_S,
                   wall: Callable[[], float] = time.time, answers: Answers | None = None,
                   on_contained: OnContained | None = None) -> Flask:
    """The ITR app. ``clock(flow)`` is the flow's local now; ``on_exit`` hands a finished
    session (queue, callback, transfer, hangup) to the CTI once it is wired (once per
    session: a page posted again does not hand it over again); ``on_done`` sees every
    session that finishes, with a key that is the same if the same last step is posted
    again (for the records); ``chat_url``: the chat panel, linked from every page and opened
    with a hand-off token (valid ``handoff_ttl_s``) by a queue exit's final page;
    ``state_max_age_s``: how long a session's pages work; ``wall``: epoch seconds; a
    request body over ``max_body_bytes`` is answered 413."""
    app = Flask(__name__, template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/static")
    # werkzeug refuses a longer body when a form is parsed, and stops reading one sent
    # without a length at the limit
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    codec = StateCodec(secret_key, state_max_age_s, wall)
    once = OnceKeys(state_max_age_s + 60, wall=wall)
    handoffs = HandoffCodec(secret_key, handoff_ttl_s, wall) if chat_url else None

    def flow_or_404(name: str) -> Flow:
        flow = flows.get(name)
        if flow is None:
            abort(404)
        return flow

    send_link = make_link_sender(links, sms_sender)

    def finished(flow: Flow, state: State, journey: Journey) -> State:
        """Hand a finished session to ``on_exit``; a callback or queue hand-off once per
        session (returns the state it was handed over with: a page posted again shows it)."""
        ex = state.exit
        if on_exit is None or ex is None:
            return state
        if ex.kind == "callback" and not ex.attributes.get("number"):
            return state  # handed over once the caller has told us their number
        if ex.kind not in HAND_OFFS:
            on_exit(flow, state)
            return state

        def hand_over() -> State:
            on_exit(flow, state)
            return state

        return once.run(journey.key("exit"), journey.issued, hand_over)

    def show(flow: Flow, state: State, effects: Sequence[Effect], journey: Journey, *,
             number_error: bool = False, status: int = 200) -> tuple[str, int]:
        can_text = sms_sender is not None and bool(state.vars.get("caller"))
        page = build_page(flow, state, effects, can_send_link=can_text,
                          can_chat=handoffs is not None)
        journey = journey.saw(c.text for c in page.cards if c.kind == "result")
        handoff_url = ""
        if handoffs is not None and page.outcome is not None and page.outcome.offers_chat:
            token = handoffs.make(flow, state, journey)
            handoff_url = f"{chat_url}?lang={state.lang}#handoff={token}" if token else ""
        node = flow.nodes.get(state.node)
        asks = answers is not None and state.waiting != "done" and page.choices and \
            isinstance(node, MenuNode) and bool(node.question)
        html = render_template("page.html", page=page, token=codec.dump(state, journey),
                               number_error=number_error, chat_url=chat_url,
                               chat_label=message("touch.chat", state.lang),
                               handoff_url=handoff_url, asks_question=asks)
        return html, status

    def run(flow: Flow, state: State, effects: tuple[Effect, ...], journey: Journey,
            key: str = "") -> tuple[str, int]:
        # Every request that reaches here started from a session not yet done (a posted done
        # state is only re-shown, in step_flow): done now means it finished in this request.
        state, shown, journey = advance_session(flow, state, effects, runner, clock,
                                                send_link, journey, once)
        if state.waiting == "done":
            state = finished(flow, state, journey)
            if on_done is not None:
                on_done(flow, state, key or secrets.token_hex(12))
        return show(flow, state, shown, journey)

    def problem(code: str, status: int, flow: str | None = None) -> tuple[str, int]:
        home = url_for("start_flow", flow=flow) if flow in flows else url_for("index")
        return render_template("problem.html", problem=problem_page(code), home=home), status

    def refused(code: str, flow: str) -> tuple[str, int]:
        """A page that cannot go on (tampered, expired, from before the flow was edited, a
        step still running): a clear page that offers to start again."""
        return problem(code, PROBLEM_STATUS.get(code, 400), flow)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"  # pages carry session state
        return response

    @app.before_request
    def body_within_limit() -> None:
        """A body announced longer than the limit is refused before anyone reads it, on
        every route (one that reads no form would not notice). One streamed without a length
        (chunked) is read up to the limit and no further: werkzeug would silently cut it
        there, so reaching the limit is refusal (the form is then parsed from what was read).
        """
        length = request.content_length
        if length is not None:
            if length > max_body_bytes:
                raise RequestEntityTooLarge()
        elif request.environ.get("wsgi.input_terminated"):
            if len(request.get_data(cache=True)) >= max_body_bytes:
                raise RequestEntityTooLarge()

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: Exception) -> Any:
        log.warning("itr: refused a request body over %d bytes (%s %s)", max_body_bytes,
                    request.method, request.path)
        if request.is_json:
            return {"error": "too_large", "message": f"request body over {max_body_bytes} bytes",
                    "details": {"limit_bytes": max_body_bytes}}, 413
        return problem("bad_input", 413, (request.view_args or {}).get("flow"))

    @app.errorhandler(404)
    def not_found(_: Exception) -> tuple[str, int]:
        return problem("not_found", 404)

    @app.errorhandler(IssuedBeforeStart)
    @app.errorhandler(StillRunning)
    def once_refused(exc: IssuedBeforeStart | StillRunning) -> tuple[str, int]:
        log.info("itr: a side effect refused (%s)", exc.code)
        return refused(exc.code, (request.view_args or {}).get("flow", ""))

    @app.get("/")
    def index() -> Any:
        if len(flows) == 1:
            return redirect(url_for("start_flow", flow=next(iter(flows))))
        return render_template("index.html", flows=sorted(flows.values(), key=lambda f: f.name))

    @app.get("/f/<flow>")
    def start_flow(flow: str) -> Any:
        f = flow_or_404(flow)
        state, effects = start(f, clock(f), lang=request.args.get("lang"))
        return run(f, state, effects, Journey.new(wall(), f.start))

    @app.get("/l/<token>")
    def open_link(token: str) -> Any:
        try:
            payload = links.read_link(token)
        except LinkExpired:
            return problem("link_expired", 410)
        except LinkTampered:
            return problem("link_tampered", 400)
        f = flows.get(payload.flow)
        if f is None:
            return problem("link_tampered", 400)
        state, effects = start(f, clock(f), lang=payload.lang, vars=payload.vars,
                               at=payload.node)
        return run(f, state, effects, Journey.new(wall(), payload.node, "link"))

    @app.post("/f/<flow>/step")
    def step_flow(flow: str) -> Any:
        f = flow_or_404(flow)
        try:
            state, journey = codec.open(request.form.get("state", ""), f)
        except StateRefused as exc:
            return refused(exc.code, flow)
        inp = form_input(request.form)
        if inp is None:
            return problem("bad_input", 400, flow)
        if state.waiting == "done":
            if isinstance(inp, SetLanguage) and inp.lang in f.languages:
                state = replace(state, lang=inp.lang)
            return show(f, state, (), journey)
        if state.waiting == "input":
            journey = journey.did(state.node, describe(f, state, inp))
        state, effects = step(f, state, inp, clock(f))
        # the same old state posted again with the same input is the same session ending
        key = hashlib.sha256((request.form.get("state", "") + repr(inp)).encode()).hexdigest()
        return run(f, state, effects, journey, key[:24])

    @app.post("/f/<flow>/callback")
    def callback_number(flow: str) -> Any:
        f = flow_or_404(flow)
        try:
            state, journey = codec.open(request.form.get("state", ""), f)
        except StateRefused as exc:
            return refused(exc.code, flow)
        ex = state.exit
        if ex is None or ex.kind != "callback" or ex.attributes.get("number"):
            return problem("bad_input", 400, flow)
        try:
            number = check_number(request.form.get("number", ""))
        except SmsError:
            return show(f, state, (), journey, number_error=True, status=422)
        # the same page posted again (another number, even) shows what was handed over
        done = finished(f, with_callback_number(state, ex, number), journey)
        return show(f, done, (), journey)

    @app.post("/f/<flow>/ask")
    def ask_question(flow: str) -> Any:
        """A question typed at a menu: the knowledge base's answer when it is confident, with
        "that helped" (the session ends, contained), "talk to a person" (the menu's option
        for a person) and "back to the menu"; else the offer of a person at once."""
        f = flow_or_404(flow)
        try:
            state, journey = codec.open(request.form.get("state", ""), f)
        except StateRefused as exc:
            return refused(exc.code, flow)
        node = f.nodes.get(state.node)
        if answers is None or state.waiting == "done" or not isinstance(node, MenuNode) or \
                not node.question:
            return problem("bad_input", 400, flow)
        text = " ".join(request.form.get("question", "").split())[:MAX_QUESTION]
        if not text:
            return show(f, *step(f, state, SetLanguage(state.lang), clock(f)), journey)
        found = answers(text, state.lang)
        return render_template("answer.html", flow=f.name, lang=state.lang, ui=ui_text(state.lang),
                               title=f.title.get(state.lang) or f.name, question=text,
                               answer=found[1] if found else "", key=found[0] if found else "",
                               token=codec.dump(state, journey), person_key=node.question)

    @app.post("/f/<flow>/helped")
    def answer_helped(flow: str) -> Any:
        f = flow_or_404(flow)
        try:
            state, _ = codec.open(request.form.get("state", ""), f)
        except StateRefused as exc:
            return refused(exc.code, flow)
        key = request.form.get("key", "")[:64]
        if answers is None or not key:
            return problem("bad_input", 400, flow)
        session = hashlib.sha256((request.form.get("state", "") + key).encode()).hexdigest()
        if on_contained is not None:  # the same page posted twice is one session
            on_contained(f, state, session[:24], key)
        return render_template("answer.html", flow=f.name, lang=state.lang, ui=ui_text(state.lang),
                               title=f.title.get(state.lang) or f.name, contained=True)

    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    return app


def with_callback_number(state: State, ex: Exit, number: str) -> State:
    attrs = {**ex.attributes, "number": number}
    return replace(state, exit=replace(ex, attributes=attrs),
                   vars={**state.vars, "callback_number": number})


def form_input(form: Mapping[str, str]) -> Input | None:
    """One input from a posted form: back, a language, a tapped key, or typed digits."""
    if "back" in form:
        return Back()
    if "lang" in form:
        return SetLanguage(form["lang"])
    if "key" in form:
        return Tap(form["key"])
    if "digits" in form:
        digits = form["digits"].strip()
        return Digits(digits) if digits else Timeout()
    return None
