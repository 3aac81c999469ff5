"""The chat bench's figures: one outcome per variant, the floors, the table printed and the
section of bench/RESULTS.md (between the ``chat`` markers; other sections are kept)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.chat.ledger import A2C, C2A, Spread
from bench.chat.peers import LoadResult
from bench.chat.server import Variant

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"
START, END = "<!-- chat:start -->", "<!-- chat:end -->"
P99_FLOOR_MS = 100.0


@dataclass
class Outcome:
    variant: Variant
    load: LoadResult
    expected_chats: int
    agents: int = 0
    log_problems: list[str] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def messages(self) -> int:
        return self.load.sent(C2A) + self.load.sent(A2C)

    @property
    def cpu_ms_per_message(self) -> float:
        return 1000 * self.load.server_cpu_s / self.messages if self.messages else math.nan

    @property
    def loadgen_ms_per_message(self) -> float:
        return 1000 * self.load.loadgen_cpu_s / self.messages if self.messages else math.nan

    @property
    def kb_per_connection(self) -> float:
        n = self.load.connections
        return (self.load.rss_after_kb - self.load.rss_before_kb) / n if n else math.nan

    def latency(self, direction: str) -> Spread:
        return self.load.ledger.latency(direction)

    def failures(self) -> list[str]:
        """Why this variant misses the floors (empty: it meets them)."""
        ledger, load = self.load.ledger, self.load
        out = []
        for direction, name in ((C2A, "customer->agent"), (A2C, "agent->customer")):
            p99 = self.latency(direction).p99
            if not p99 < P99_FLOOR_MS:
                out.append(f"{name} p99 {p99:.1f} ms")
        for what, n in (("lost", ledger.lost()), ("duplicated", ledger.duplicates),
                        ("out of order", ledger.out_of_order), ("unacknowledged",
                                                               ledger.unacked()),
                        ("refused", ledger.refused()), ("dropped sockets", load.dropped)):
            if n:
                out.append(f"{n} {what}")
        if load.agents_ready < self.agents:
            out.append(f"{load.agents_ready}/{self.agents} agents ready")
        if load.connect_failures:
            out.append("connections failed: " + ", ".join(
                f"{k} {v}" for k, v in sorted(load.connect_failures.items())))
        if load.chats_joined < self.expected_chats:
            out.append(f"{load.chats_joined}/{self.expected_chats} chats joined")
        if self.log_problems:
            out.append(f"{len(self.log_problems)} error lines in the server log")
        return out


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.1f}"


def _spread(s: Spread) -> str:
    return " / ".join(_ms(v) for v in (s.p50, s.p95, s.p99, s.max))


def _pauses(o: Outcome) -> str:
    found = o.load.ledger.pauses()
    if not found:
        return "none"
    t0 = o.load.window_started
    return f"{len(found)}: " + ", ".join(
        f"{1000 * p.worst_s:.0f} ms at {p.at - t0:.0f} s ({p.messages} "
        f"message{'s' if p.messages != 1 else ''})"
        for p in found[:4]) + (" …" if len(found) > 4 else "")


def _per(count: int | None, n: int) -> str:
    return "-" if count is None or not n else f"{count / n:.2f}"


def _ratio(a: float, b: float) -> str:
    return "-" if not (a > 0 and b > 0) else f"{a / b:.2f}x"


def main_table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| variant | connections | chats | messages c→a / a→c | c→a p50 / p95 / p99 / max "
            "ms | a→c p50 / p95 / p99 / max ms | lost | duplicated | out of order | server CPU "
            "ms/message | memory KB/connection | floors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        ld, led = o.load, o.load.ledger
        verdict = "met" if not o.failures() else "**not met**: " + "; ".join(o.failures())
        rows.append(
            f"| {o.variant.label} | {ld.connections} | {ld.chats_joined}/{o.expected_chats} "
            f"| {ld.sent(C2A)} / {ld.sent(A2C)} | {_spread(o.latency(C2A))} "
            f"| {_spread(o.latency(A2C))} | {led.lost()} | {led.duplicates} "
            f"| {led.out_of_order} | {o.cpu_ms_per_message:.2f} | {o.kb_per_connection:.1f} "
            f"| {verdict} |")
    return rows


def detail_table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| variant | ack c→a p50 / p99 ms | ack a→c p50 / p99 ms | open→joined p50 / p99 "
            "ms | unacked | error frames | server CPU busy / idle | of it reactor thread / "
            "busiest other | RSS before → after MB | load generator CPU ms/message | its loop "
            "lag p99 / max ms | drained in | database transactions per message (PostgreSQL) "
            "| stalls (messages > 25 ms sent within 0.3 s of each other) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        ld, led = o.load, o.load.ledger
        ac, aa = led.ack_latency(C2A), led.ack_latency(A2C)
        errors = ", ".join(f"{k} {v}" for k, v in sorted(led.errors.items())) or "0"
        busy = 100 * ld.server_cpu_s / ld.window_s if ld.window_s else math.nan
        idle = 100 * ld.idle_cpu_s / ld.idle_s if ld.idle_s else math.nan
        drain = ld.window_s - ld.send_window_s
        span = ld.window_s or math.nan
        threads = (f"{100 * ld.reactor_cpu_s / span:.0f}% / "
                   f"{100 * ld.busiest_thread_cpu_s / span:.0f}%")
        rows.append(
            f"| {o.variant.label} | {_ms(ac.p50)} / {_ms(ac.p99)} | {_ms(aa.p50)} / "
            f"{_ms(aa.p99)} | {_ms(ld.open_to_joined.p50)} / {_ms(ld.open_to_joined.p99)} "
            f"| {led.unacked()} | {errors} | {busy:.0f}% / {idle:.0f}% | {threads} "
            f"| {ld.rss_before_kb / 1024:.0f} → {ld.rss_after_kb / 1024:.0f} "
            f"| {o.loadgen_ms_per_message:.2f} | {_ms(ld.loop_lag.p99)} / "
            f"{_ms(ld.loop_lag.max)} "
            f"| {drain:.2f} s{'' if ld.drained else ' (not drained)'} "
            f"| {_per(ld.window_commits, o.messages)} | {_pauses(o)} |")
    return rows


def setup_table(outcomes: list[Outcome]) -> list[str]:
    names = list(outcomes[0].load.setup) if outcomes else []
    rows = ["| variant | chats joined in | " + " | ".join(f"{n} p50 / p99 ms" for n in names)
            + " | server threads: reactor / busiest other | server quiet again after | "
            "database transactions per chat (PostgreSQL) |",
            "|---|---|" + "---|" * (len(names) + 3)]
    for o in outcomes:
        cells = [f"{_ms(o.load.setup[n].p50)} / {_ms(o.load.setup[n].p99)}" for n in names
                 if n in o.load.setup]
        rows.append(f"| {o.variant.label} | {o.load.setup_s:.1f} s | " + " | ".join(cells)
                    + f" | {100 * o.load.setup_reactor_share:.0f}% / "
                    f"{100 * o.load.setup_busiest_share:.0f}% | {o.load.settled_s:.0f} s | "
                    f"{_per(o.load.setup_commits, o.load.chats_joined)} |")
    return rows


def ratios(outcomes: list[Outcome]) -> list[str]:
    by = {o.variant.name: o for o in outcomes}
    lines = []

    def p99(name: str) -> float:
        return by[name].latency(C2A).p99

    for store in ("", "-ack-first"):
        pg, lite = by.get(f"postgresql{store}"), by.get(f"sqlite{store}")
        if pg and lite:
            lines.append(f"- PostgreSQL / SQLite ({'ack first' if store else 'stored first'}):"
                         f" c→a p99 {_ratio(p99(pg.variant.name), p99(lite.variant.name))}, "
                         f"CPU per message "
                         f"{_ratio(pg.cpu_ms_per_message, lite.cpu_ms_per_message)}")
    for db in ("sqlite", "postgresql"):
        first, ack = by.get(db), by.get(f"{db}-ack-first")
        if first and ack:
            lines.append(
                f"- stored first / ack first on {first.variant.label.split(',')[0]}: c→a p99 "
                f"{_ratio(p99(db), p99(ack.variant.name))} ({_ms(p99(db))} vs "
                f"{_ms(p99(ack.variant.name))} ms), p50 "
                f"{_ratio(first.latency(C2A).p50, ack.latency(C2A).p50)}, CPU per message "
                f"{_ratio(first.cpu_ms_per_message, ack.cpu_ms_per_message)} "
                f"({first.cpu_ms_per_message:.2f} vs {ack.cpu_ms_per_message:.2f} ms)")
    return lines


def floors_line(outcomes: list[Outcome]) -> str:
    durable = [o for o in outcomes if not o.variant.ack_first]
    if not durable:
        return "Floors: no stored-first variant in this run."
    bad = [o for o in durable if o.failures()]
    if not bad:
        return (f"Floors (stored first, p99 < {P99_FLOOR_MS:.0f} ms both ways, zero lost, zero "
                f"duplicated): **met** on {', '.join(o.variant.label for o in durable)}.")
    return ("Floors (stored first): **not met** on " +
            "; ".join(f"{o.variant.label} ({', '.join(o.failures())})" for o in bad) + ".")


def write_results(text: str, path: Path = RESULTS) -> None:
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{START}\n{text.rstrip()}\n{END}"
    if START in current and END in current:
        head, _, tail = current.partition(START)
        _, _, tail = tail.partition(END)
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current)


def section(outcomes: list[Outcome], *, command: str, when: str, machine: str,
            load_text: str, notes: list[str], journal_ops: list[str]) -> str:
    lines = [
        "## Chat (bench/chat_bench.py)",
        "",
        f"Run {when} on {machine}. Command:",
        "",
        f"    {command}",
        "",
        load_text,
        "",
        *main_table(outcomes),
        "",
        "Latency: sent on one socket → received on the other (c→a: customer message on the "
        "agent's desktop; a→c: the agent's reply on the customer's socket), both ends in the "
        "load generator's one process and clock. Lost: acknowledged, never delivered to the "
        "other side; duplicated: a (conversation, seq) or a cid received twice on one side; "
        "out of order: a seq below one already received for that conversation. CPU: the "
        "server process's user+system time (all threads, /proc) over the measured window "
        "(sending, then until everything arrived) divided by the messages of both "
        "directions. Memory: the server's RSS after all sockets are open and every chat is "
        "joined minus before the first connection, divided by the connections (it includes "
        "each chat's state, not only the socket's).",
        "",
        *detail_table(outcomes),
        "",
        "Setting up (before the window; the customers connect at the ramp rate): where the "
        "time from a customer's `hello` to the agent's `joined` goes.",
        "",
        *setup_table(outcomes),
        "",
        "What the chat journal's thread does for each chat opened, measured alone in the bench "
        "process (`bench/chat/journal_ops.py`: the same `cti.records.chat` functions on the "
        "server's engine settings, 200 times each, one after the other as the journal runs "
        "them):",
        "",
        *journal_ops,
        "",
        *ratios(outcomes),
        "",
        floors_line(outcomes),
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def findings(outcomes: list[Outcome], ramp_s: float, ramp_per_s: float,
             open_chat_ms: dict[str, float]) -> list[str]:
    """What the figures say, with this run's numbers; the mechanisms were found with
    ``--profile`` (py-spy) and ``bench/chat/journal_ops.py``."""
    if not outcomes:
        return []
    out = ["### What the figures show", ""]
    load_share = " and ".join(f"{db} {ms * ramp_per_s / 10:.0f}%"
                              for db, ms in open_chat_ms.items())
    setup = "; ".join(
        f"{o.variant.label}: joined in {o.load.setup_s:.1f} s, first message→offer p50 "
        f"{_ms(o.load.setup['first message→offer'].p50)} / p99 "
        f"{_ms(o.load.setup['first message→offer'].p99)} ms"
        for o in outcomes if "first message→offer" in o.load.setup)
    out.append(
        f"- **Opening chats is the slow part, not the conversation.** The customers arrive over "
        f"{ramp_s:.0f} s ({setup}). Each step of opening a chat waits its turn on the one "
        "chat-journal thread, one transaction each and in series (`find_open_conversation` at "
        "`hello`, `open_conversation` before the chat is queued and offered, `messages_after` "
        "when the customer's socket follows it and again at the agent's `accept`, the first "
        "`append_many`); only message appends are group-committed. Measured alone (the "
        f"table above) that is {load_share} of the journal thread at {ramp_per_s:g} new "
        "chats/s, before any contention with the reactor (the GIL), the records writer and "
        "the database on the same cores: where it nears a whole thread, hellos, offers and "
        "acks queue for seconds while it catches up (the agents accept within a few ms of "
        "the offer). On PostgreSQL each of "
        "these checkouts also pays `pool_pre_ping` (`cti/records/db.py`): a `SELECT 1` in "
        "autocommit, a transaction of its own, hence ~2 transactions per message.")
    shares = ", ".join(f"{o.variant.label} {100 * o.load.reactor_cpu_s / o.load.window_s:.0f}% / "
                       f"{100 * o.load.busiest_thread_cpu_s / o.load.window_s:.0f}%"
                       for o in outcomes if o.load.window_s)
    out.append(
        "- **Storing is most of the server's CPU**: over the window the reactor thread (every "
        "socket, frame, JSON, the routing) against the chat journal's thread, in % of a core: "
        f"{shares}. Ack first still stores every message (the commit follows the ack), so its "
        "CPU per message is about the same; what storing first costs is latency (the ratios "
        "above).")
    stalls = "; ".join(f"{o.variant.label}: {_pauses(o)}" for o in outcomes)
    out.append(
        f"- **Each variant's max is a stall of the whole server** ({stalls}): every message in "
        "flight, both ways, and their acks at once, so neither the network nor the load "
        "generator (its loop lag is in the second table). A `--profile` run (py-spy --native) "
        "caught the server in `gc_collect_main`, a full garbage collection of its heap (1,200 "
        "sockets, 1,000 chats) that holds the GIL for about that long; it hits well under 1 % "
        "of the messages, so p99 does not see it. `gc.freeze()` once the server has started, "
        "or a higher generation-2 threshold, is the server-side lever.")
    out.append(
        "- The load generator freezes and disables its own garbage collector for the window: "
        "with it on, its full collections over 1,200 sockets stalled every reader, and a "
        "first full run reported p99 250-315 ms for the stored-first variants that was the "
        "generator's own pauses.")
    return out
