"""The ``hotline`` command: run the server, check and draw flows, build prompts, manage users.

Each sub-command is a thin shell over a function elsewhere; the wiring of the running system
lives in ``cti.app.server`` (the composition root).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import Any

from cti.app.config import ConfigError, ensure_secrets, load_config
from ivr_flows.core.errors import FlowInvalid
from ivr_flows.loading.loader import load_flow_file, load_flows_dir


def _flows_check(args: argparse.Namespace) -> int:
    bad = 0
    speech = _speech_models(args)
    for file in args.files:
        try:
            flow = load_flow_file(file)
        except FlowInvalid as exc:
            bad += 1
            for err in exc.errors:
                print(err, file=sys.stderr)
            continue
        problems = _speech_problems(flow, speech)
        if problems:
            bad += 1
            for problem in problems:
                print(problem, file=sys.stderr)
            continue
        print(f"{file}: ok (flow {flow.name!r}, {len(flow.nodes)} nodes, "
              f"languages {', '.join(flow.languages)})")
    return 1 if bad else 0


def _speech_models(args: argparse.Namespace) -> Any:
    """The configured speech models (``[speech] models``), or None: phrases are then not
    checked against a vocabulary."""
    cfg = load_config(args.config)
    if not cfg.speech.models:
        return None
    from ivr_flows.voice.speech import SpeechModels

    return SpeechModels(cfg.speech.models)


def _speech_problems(flow: Any, models: Any) -> list[str]:
    """Speech-menu phrases with words the configured model does not know."""
    if models is None:
        return []
    from ivr_flows.core.model import MenuNode
    from ivr_flows.voice.speech import check_flows

    models.load(lang for n in flow.nodes.values() if isinstance(n, MenuNode) and n.speech
                for lang in flow.languages)
    return check_flows([flow], models)


def _flows_graph(args: argparse.Namespace) -> int:
    from ivr_flows.edges.graph import write_graph

    try:
        flow = load_flow_file(args.file)
    except FlowInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    out = Path(args.output or Path(args.file).with_suffix(".svg").name)
    write_graph(flow, out)
    print(f"wrote {out}")
    return 0


def _prompts_build(args: argparse.Namespace) -> int:
    from ivr_flows.voice.prompts import PromptStore, build_prompts

    cfg = load_config(args.config)
    flows = load_flows_dir(cfg.flows_dir)
    store = PromptStore(cfg.prompt_cache_dir, cfg.prompts.format, cfg.prompts.voices)
    report = build_prompts(store, flows)
    return 1 if getattr(report, "failed", 0) else 0


def _asterisk_render(args: argparse.Namespace) -> int:
    """The Asterisk configuration of one instance (what ``hotline run`` starts the sandbox
    with); a value that cannot be rendered safely is a configuration error (exit 2)."""
    from cti.app.sandbox import render_instance

    cfg = ensure_secrets(load_config(args.config))
    out = render_instance(cfg, Path(args.out), instance=args.instance,
                          test_hooks=args.test_hooks)
    print(f"wrote Asterisk configuration to {out}")
    return 0


def _add_user(args: argparse.Namespace) -> int:
    from cti.records.db import make_session_factory
    from cti.records.migrate import upgrade
    from cti.records.users import UserError, create_user, link_agent

    cfg = load_config(args.config)
    password = args.password_stdin and sys.stdin.readline().rstrip("\n")
    if not password:
        password = getpass.getpass(f"password for {args.username}: ")
    if (args.role == "agent") != bool(args.agent):
        print("hotline admin add-user: an agent user needs --agent AGENT_ID (and only an agent"
              " user takes one)", file=sys.stderr)
        return 2
    upgrade(cfg.db_url)
    sf = make_session_factory(cfg.db_url)
    try:
        create_user(sf, args.username, password, role=args.role)
        if args.agent:
            link_agent(sf, args.username, args.agent)
    except UserError as exc:
        print(f"hotline admin add-user: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    linked = f", signs in to the agent desktop as {args.agent}" if args.agent else ""
    print(f"user {args.username!r} created{linked}")
    return 0


def _agent(args: argparse.Namespace) -> int:
    """The command-line agent client: one call to the agent API, its JSON answer printed."""
    import json

    import httpx

    cfg = ensure_secrets(load_config(args.config))
    base = f"http://{cfg.cti.api_host}:{cfg.cti.api_port}/api"
    headers = {"Authorization": f"Bearer {cfg.cti.api_token}"}
    if args.action in ("agents", "queues"):
        method, url, body = "GET", f"{base}/{args.action}", None
    else:
        if not args.agent:
            print(f"hotline agent {args.action}: name the agent", file=sys.stderr)
            return 2
        body = {}
        if args.action == "not-ready":
            body["reason"] = args.reason
        if args.action == "wrap-up":
            body.update(code=args.code, notes=args.notes)
        method, url = "POST", f"{base}/agents/{args.agent}/{args.action}"
    try:
        reply = httpx.request(method, url, headers=headers, json=body, timeout=10)
    except httpx.HTTPError as exc:
        print(f"hotline agent: cannot reach the agent API at {base}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply.json(), ensure_ascii=False, indent=1))
    return 0 if reply.is_success else 1


def _run(args: argparse.Namespace) -> int:
    from cti.app.server import serve

    cfg = load_config(args.config)
    return serve(cfg, with_asterisk=not args.no_asterisk)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description=__doc__)
    p.add_argument("--config", help="TOML configuration file (default: $HOTLINE_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run Hotline (and the sandbox Asterisk) in the foreground")
    run.add_argument("--no-asterisk", action="store_true",
                     help="do not build/start the sandbox Asterisk")
    run.set_defaults(func=_run)

    flows = sub.add_parser("flows", help="check or draw flow files").add_subparsers(
        dest="flows_command", required=True)
    check = flows.add_parser("check", help="validate flow files; non-zero exit on any error")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=_flows_check)
    graph = flows.add_parser("graph", help="draw a flow as SVG or PNG")
    graph.add_argument("file")
    graph.add_argument("-o", "--output", help="output file (.svg or .png)")
    graph.set_defaults(func=_flows_graph)

    prompts = sub.add_parser("prompts", help="prompt audio").add_subparsers(
        dest="prompts_command", required=True)
    prompts.add_parser("build", help="synthesise/convert every prompt of every flow").set_defaults(
        func=_prompts_build)

    ast = sub.add_parser("asterisk", help="Asterisk configuration").add_subparsers(
        dest="asterisk_command", required=True)
    render = ast.add_parser("render", help="write Asterisk config files from Hotline's config")
    render.add_argument("--out", required=True, help="output directory (created)")
    render.add_argument("--instance", default="main", help="sandbox instance name")
    render.add_argument("--test-hooks", action="store_true",
                        help="add the test-only numbers (echo, DTMF menu, dial an agent port)")
    render.set_defaults(func=_asterisk_render)

    agent = sub.add_parser("agent", help="agent API client: log in, ready, not ready, wrap up")
    agent.add_argument("action", choices=["login", "ready", "not-ready", "logout", "wrap-up",
                                          "agents", "queues"])
    agent.add_argument("agent", nargs="?", help="agent id (e.g. agent1001)")
    agent.add_argument("--reason", default="break", help="not-ready reason code")
    agent.add_argument("--code", default="resolved", help="wrap-up code")
    agent.add_argument("--notes", default="", help="wrap-up notes")
    agent.set_defaults(func=_agent)

    admin = sub.add_parser("admin", help="console users").add_subparsers(
        dest="admin_command", required=True)
    add = admin.add_parser("add-user", help="create a console user (or an agent's desktop user)")
    add.add_argument("username")
    add.add_argument("--role", default="supervisor", choices=["supervisor", "admin", "agent"])
    add.add_argument("--agent", default="", help="the agent id an agent user works as")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=_add_user)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return 2
    except FlowInvalid as exc:
        print(f"hotline: invalid flow(s), refusing to start:\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
