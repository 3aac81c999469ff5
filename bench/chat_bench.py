"""Chat under load: customer sockets and agent desktops against ``hotline run``, on SQLite and
on PostgreSQL, each also with acknowledgement before storage (what durability costs).

    .venv/bin/python -m bench.chat_bench            # 4 variants, 1000 customers, 200 agents x 5
                                                    # chats, 50 customer messages/s, 60 s each
    .venv/bin/python -m bench.chat_bench --quick    # smoke: 100 customers, 20 agents, 10 s
    .venv/bin/python -m bench.chat_bench --variants sqlite,postgresql --seconds 30

Per variant: a fresh database (a SQLite file in a temp data dir; PostgreSQL database
``hotline_chat_bench`` on 127.0.0.1, created and dropped), the agents' desktop users and
sessions made in it, then the server as its own process (``hotline run --no-asterisk``,
``HOTLINE_*`` variables, free ports on 127.0.0.1), then the load from this process
(``bench/chat/load.py``), then the server stopped by its pid. Full runs write the ``chat``
section of bench/RESULTS.md (``--quick`` only prints, unless ``--write``). The exit status
is 1 when a stored-first variant misses the floors (p99 < 100 ms, nothing lost or twice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.chat import journal_ops
from bench.chat.load import run_load
from bench.chat.peers import LoadPlan
from bench.chat.report import (
    Outcome,
    detail_table,
    findings,
    floors_line,
    main_table,
    ratios,
    section,
    setup_table,
)
from bench.chat.report import write_results as write_section
from bench.chat.server import (
    VARIANTS,
    Variant,
    agent_ids,
    create_pg_database,
    drop_pg_database,
    fresh_data_dir,
    pg_user,
    prepare_agents,
    start_server,
    stop_server,
)

FULL = {"customers": 1000, "agents": 200, "chats_per_agent": 5, "rate": 50.0, "seconds": 60.0}
QUICK = {"customers": 100, "agents": 20, "chats_per_agent": 5, "rate": 20.0, "seconds": 10.0}
MAX_FRAMES_PER_S = 5.0  # per socket: half the server's limit (10/s sustained)


def log(text: str) -> None:
    print(text, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chat_bench",
                                description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: " + ", ".join(
        f"{k} {v:g}" for k, v in QUICK.items()))
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, in this order (default {','.join(VARIANTS)})")
    p.add_argument("--seconds", type=float, help="measured window (full: 60)")
    p.add_argument("--customers", type=int, help="customer sockets (full: 1000)")
    p.add_argument("--agents", type=int, help="agent desktops (full: 200)")
    p.add_argument("--chats-per-agent", type=int, help="cti.max_chats (full: 5)")
    p.add_argument("--rate", type=float, help="customer messages/s, all together (full: 50)")
    p.add_argument("--ramp", type=float, default=100.0, help="customer connections/s")
    p.add_argument("--grace", type=float, default=5.0, help="s after the window for stragglers")
    p.add_argument("--write", action="store_true", help="write RESULTS.md after --quick too")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    p.add_argument("--dump", type=Path, metavar="DIR", help="write every measured message "
                   "(sent at, ack and delivery ms) to DIR/<variant>.jsonl")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the server during the "
                   "window into DIR/<variant>.txt (collapsed stacks; it costs CPU: figures of "
                   "a profiled run are not for RESULTS.md)")
    p.add_argument("--keep", action="store_true", help="keep every data dir (kept anyway "
                   "when a variant misses the floors)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        p.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    args.variant_list = [VARIANTS[n] for n in names]
    if min(args.customers, args.agents, args.chats_per_agent) < 1 or args.rate <= 0 or \
            args.seconds <= 0:
        p.error("customers, agents, chats per agent, rate and seconds must be positive")
    chats = min(args.customers, args.agents * args.chats_per_agent)
    per_customer = args.rate / chats
    per_agent = args.rate * 2 / args.agents  # replies sent + accepts are far fewer
    if max(per_customer, per_agent) > MAX_FRAMES_PER_S:
        p.error(f"{args.rate:g} messages/s is {per_customer:.1f} frames/s per customer and "
                f"{per_agent:.1f} per agent: keep both under {MAX_FRAMES_PER_S:g} (the server "
                "rate-limits each socket at 10/s)")
    return args


def run_variant(variant: Variant, args: argparse.Namespace) -> tuple[Outcome, Path]:
    data_dir = fresh_data_dir(variant)
    agents = agent_ids(args.agents)
    pg = pg_user() if variant.database == "postgresql" else None
    db_url = create_pg_database(pg) if pg else f"sqlite:///{data_dir / 'hotline.db'}"
    try:
        started = time.monotonic()
        tokens = prepare_agents(db_url, agents)
        log(f"  {len(tokens)} desktop users and sessions in {time.monotonic() - started:.1f} s")
        server = start_server(variant, db_url, data_dir, agents,
                              max_chats=args.chats_per_agent,
                              max_connections=args.customers + args.agents + 500,
                              max_waiting=args.customers + 100, pg=pg)
        log(f"  server pid {server.pid} on {server.origin} (data {data_dir})")
        plan = LoadPlan(server.ws_url, server.origin, tokens, args.customers,
                        args.chats_per_agent, args.rate, args.seconds,
                        ramp_per_s=args.ramp, grace_s=args.grace,
                        join_timeout_s=30 + args.customers / args.ramp)
        spy = Profiler(args.profile / f"{variant.name}.txt", args.seconds + args.grace) \
            if args.profile else None
        try:
            time.sleep(1.0)  # the idle server settles before its first RSS reading
            load = asyncio.run(run_load(plan, server, log, spy.start if spy else None))
        finally:
            if spy:
                spy.stop()
            code = stop_server(server)
        outcome = Outcome(variant, load, plan.expected_chats, len(agents),
                          server.log_problems(), code)
    finally:
        if pg:
            drop_pg_database(pg)
    return outcome, data_dir


class Profiler:
    """``py-spy record`` of the server's threads (a process this bench starts and stops)."""

    def __init__(self, out: Path, seconds: float) -> None:
        self.out, self.seconds = out, seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        self.proc = subprocess.Popen(
            [str(spy), "record", "-p", str(pid), "-d", str(int(self.seconds)), "-r", "50",
             "--threads", "--idle", "--native", "-f", "raw", "-o", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def dump(path: Path, outcome: Outcome) -> None:
    """One JSON line per measured message: direction, sent at (s into the window), ack and
    delivery latency in ms (null: never)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = outcome.load.window_started
    with path.open("w") as fh:
        for s in outcome.load.ledger.sent.values():
            if not s.measured:
                continue
            fh.write(json.dumps({
                "dir": s.direction, "conv": s.conv, "cid": s.cid, "at": round(s.at - t0, 4),
                "ack_ms": None if s.acked_at is None else round(1000 * (s.acked_at - s.at), 2),
                "ms": None if s.delivered_at is None else
                round(1000 * (s.delivered_at - s.at), 2)}) + "\n")


def load_text(args: argparse.Namespace) -> str:
    chats = min(args.customers, args.agents * args.chats_per_agent)
    return (f"Load (from the bench's own process, asyncio + `websockets`, all on 127.0.0.1): "
            f"{args.agents} agent desktops (desktop session cookie, then Ready; `cti.max_chats` "
            f"{args.chats_per_agent}; every offer accepted at once), {args.customers} customer "
            f"sockets opened at {args.ramp:g}/s, each opening a chat with a first message "
            f"({chats} chats joined before measuring); then {args.rate:g} customer messages/s "
            f"in total for {args.seconds:g} s, round-robin over the chats (one every "
            f"{chats / args.rate:.0f} s per customer), and one agent reply to each; "
            f"{args.grace:g} s of grace after. Variants run one after the other, each on a "
            f"fresh database and a fresh server process (`hotline run --no-asterisk`): "
            f"stored first (the product: the journal commits, then `ack` and `msg`) and ack "
            f"first (`HOTLINE_CHAT_ACK_BEFORE_STORE=true`, a benchmark-only switch: `ack` and "
            f"`msg` at once, the commit after).")


def code_version() -> str:
    """The checkout measured: HEAD, and whether the tree had uncommitted changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True, timeout=10, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
             if line.strip()]
    return f"{head}" + (f" with uncommitted changes in {len(dirty)} files" if dirty else "")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    load1 = os.getloadavg()[0]
    return (f"this machine ({os.cpu_count()} cores, {model}; load average {load1:.1f} at "
            f"start), code {code_version()}")


def notes(args: argparse.Namespace) -> list[str]:
    return [
        "Bench settings, not product changes: the desktop users are made with a cheap argon2 "
        "hasher (`time_cost=1, memory_cost=8 KiB`; 200 production hashes take ~25 s and these "
        "users never type a password); `HOTLINE_BACKEND_DEMO=false` (chat calls no flow "
        "action); `HOTLINE_CTI_MAX_WAITING` above the customer count and "
        "`HOTLINE_CHAT_MAX_CONNECTIONS` above the socket count; `HOTLINE_CHAT_IGNORE_HOURS`.",
        "",
        f"Both processes share the {os.cpu_count()} cores: the load generator's own CPU is in "
        "the second table (its event-loop lag is part of every latency measured).",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = ".venv/bin/python -m bench.chat_bench" + (
        " " + shlex.join(sys.argv[1:] if argv is None else argv)
        if (sys.argv[1:] if argv is None else argv) else "")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = machine()
    outcomes: list[Outcome] = []
    for variant in args.variant_list:
        log(f"== {variant.name}: {args.customers} customers, {args.agents} agents x "
            f"{args.chats_per_agent}, {args.rate:g} msg/s for {args.seconds:g} s")
        outcome, data_dir = run_variant(variant, args)
        outcomes.append(outcome)
        if args.dump:
            dump(args.dump / f"{variant.name}.jsonl", outcome)
        for line in outcome.log_problems[:10]:
            log(f"  server log: {line}")
        if outcome.failures() or args.keep:
            log(f"  kept {data_dir} (server.log, hotline.db)")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    costs = journal_ops.both(pg=any(v.database == "postgresql" for v in args.variant_list))
    ops = journal_ops.table(costs)
    open_ms = {db: journal_ops.open_chat_ms(c) for db, c in costs.items()}
    log("")
    for line in [*main_table(outcomes), "", *detail_table(outcomes), "",
                 *setup_table(outcomes), "", *ops, "", *ratios(outcomes),
                 "", floors_line(outcomes)]:
        log(line)
    if not args.no_write and (not args.quick or args.write):
        write_section(section(outcomes, command=command, when=when, machine=where,
                              load_text=load_text(args),
                              notes=[*findings(outcomes, args.customers / args.ramp,
                                                     args.ramp, open_ms), "",
                                     *notes(args)],
                              journal_ops=ops))
        log("\nwrote the chat section of bench/RESULTS.md")
    durable = [o for o in outcomes if not o.variant.ack_first]
    return 1 if any(o.failures() for o in durable) else 0


if __name__ == "__main__":
    sys.exit(main())
