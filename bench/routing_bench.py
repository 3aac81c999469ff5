"""Routing engine benchmark: indexed engine vs. a naive rescan-everything baseline.

Scenario: 1,000 agents (4 queue skills each, some language skills, mixed voice/chat
capacity), 50 queues, 10,000 waiting contacts (voice, chat, web, callback; priorities 0-2),
then a burst of agent state changes (everyone goes ready at once, breaks, missed offers)
while contacts keep arriving, abandoning, being answered, ending and wrapping up. A
decision is one ``handle(event, now)`` call, timed with ``perf_counter``. The two variants
run in alternating rounds in one process, each continuing its own simulation. A shadow
ledger rebuilt from the commands counts double assignments and capacity overruns.

    .venv/bin/python -m bench.routing_bench            # writes the section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.naive_router import NaiveRouter
from cti.routing import (
    AgentLoggedIn,
    AgentNotReady,
    AgentReady,
    CancelOffer,
    Command,
    Connect,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Engine,
    Event,
    ExitContact,
    Offer,
    OfferAccepted,
    OfferRejected,
    QueueConfig,
    Rejected,
    Tick,
    WrapUpEnded,
)

N_AGENTS, N_QUEUES, N_WAITING = 1000, 50, 10_000
RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- routing:start -->", "<!-- routing:end -->"


class Router(Protocol):
    def handle(self, event: Event, now: float) -> list[Command]: ...
    def next_timer(self) -> float | None: ...


def queues() -> dict[str, QueueConfig]:
    return {f"q{i}": QueueConfig(f"q{i}", skills={f"q{i}": 1}, ring_timeout_s=15,
                                 wrap_up_s=5) for i in range(N_QUEUES)}


@dataclass
class Sim:
    """A reactive call-center: answers the router's commands with the next events."""

    router: Router
    rng: random.Random
    now: float = 0.0
    pending: list[tuple[float, int, Event]] = field(default_factory=list)
    seq: int = 0
    contacts: int = 0
    capacity: dict[str, tuple[int, bool]] = field(default_factory=dict)
    offered: dict[str, str] = field(default_factory=dict)  # contact -> agent
    connected: dict[str, str] = field(default_factory=dict)
    held: dict[str, list[int]] = field(default_factory=dict)  # agent -> [voice, chats]
    shared: dict[str, bool] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)
    violations: int = 0
    offers: int = 0
    latencies: list[float] = field(default_factory=list)

    def later(self, delay: float, event: Event) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (self.now + delay, self.seq, event))

    def send(self, event: Event, timed: bool = True) -> None:
        start = time.perf_counter()
        cmds = self.router.handle(event, self.now)
        if timed:
            self.latencies.append(time.perf_counter() - start)
        if isinstance(event, ContactEnded | ContactAbandoned):
            self.forget(event.contact_id)
        refused = any(isinstance(c, Rejected) for c in cmds)
        if isinstance(event, OfferRejected) and not refused:
            self.hold(self.offered.pop(event.contact_id), event.contact_id, -1)
        for cmd in cmds:
            self.react(cmd)

    def react(self, cmd: Command) -> None:
        if isinstance(cmd, Offer):
            self.offers += 1
            if cmd.contact_id in self.offered or cmd.contact_id in self.connected:
                self.violations += 1  # double assignment
            self.offered[cmd.contact_id] = cmd.agent_id
            self.hold(cmd.agent_id, cmd.contact_id, +1)
            roll = self.rng.random()
            if roll < 0.90:
                self.later(self.rng.uniform(0.5, 4), OfferAccepted(cmd.contact_id, cmd.agent_id))
            elif roll < 0.93:
                self.later(1.0, OfferRejected(cmd.contact_id, cmd.agent_id))
                self.later(20.0, AgentReady(cmd.agent_id))
            else:  # ring-no-answer: the engine's own timer fires
                self.later(40.0, AgentReady(cmd.agent_id))
        elif isinstance(cmd, Connect):
            self.connected[cmd.contact_id] = self.offered.pop(cmd.contact_id)
            talk = self.rng.uniform(60, 240) if self.shared[cmd.contact_id] else \
                self.rng.uniform(30, 120)
            self.later(talk, ContactEnded(cmd.contact_id))
        elif isinstance(cmd, CancelOffer):
            agent = self.offered.pop(cmd.contact_id, None)
            if agent is not None:  # None: an abandon the ledger already released
                self.hold(agent, cmd.contact_id, -1)
        elif isinstance(cmd, ExitContact):
            self.alive.discard(cmd.contact_id)

    def hold(self, agent_id: str, contact_id: str, sign: int) -> None:
        load = self.held.setdefault(agent_id, [0, 0])
        load[1 if self.shared[contact_id] else 0] += sign
        max_chats, mixing = self.capacity[agent_id]
        if load[0] > 1 or load[1] > max_chats or (load[0] and load[1] and not mixing):
            self.violations += 1

    def forget(self, contact_id: str) -> None:
        self.alive.discard(contact_id)
        agent = self.connected.pop(contact_id, None) or self.offered.pop(contact_id, None)
        if agent is not None:  # the ledger releases at once: wrap-up only makes it stricter
            self.hold(agent, contact_id, -1)

    def arrive(self) -> ContactArrived:
        self.contacts += 1
        cid = f"k{self.contacts}"
        media = self.rng.choices(["voice", "chat", "web", "callback"], [60, 25, 10, 5])[0]
        self.shared[cid] = media in ("chat", "web")
        self.alive.add(cid)
        skills = {"en": 2} if self.rng.random() < 0.15 else {}
        return ContactArrived(cid, media, f"q{self.rng.randrange(N_QUEUES)}",  # type: ignore[arg-type]
                              self.rng.choice([0, 0, 0, 1, 2]), skills)

    def prime(self) -> None:
        for i in range(N_AGENTS):
            aid = f"a{i}"
            chat_heavy = self.rng.random() < 0.4
            max_chats = self.rng.randint(3, 5) if chat_heavy else self.rng.randint(0, 2)
            mixing = chat_heavy and self.rng.random() < 0.5
            self.capacity[aid] = (max_chats, mixing)
            skills = {f"q{q}": self.rng.randint(1, 3)
                      for q in self.rng.sample(range(N_QUEUES), 4)}
            if self.rng.random() < 0.3:
                skills["en"] = 2
            self.send(AgentLoggedIn(aid, skills, max_chats, mixing, ready=False), timed=False)
        for _ in range(N_WAITING):
            self.send(self.arrive(), timed=False)
        for i in range(N_AGENTS):  # the burst: everyone goes ready within two seconds
            self.later(self.rng.uniform(0, 2), AgentReady(f"a{i}"))

    def background(self) -> None:
        """Arrivals, abandons and breaks, keeping about 10,000 contacts waiting."""
        roll = self.rng.random()
        waiting = len(self.alive) - len(self.offered) - len(self.connected)
        if roll < 0.5 and waiting < N_WAITING:
            self.later(self.rng.uniform(0, 0.5), self.arrive())
        elif roll < 0.55 and self.alive:
            victim = f"k{self.rng.randint(max(1, self.contacts - 2000), self.contacts)}"
            if victim in self.alive and victim not in self.connected:
                self.later(0.1, ContactAbandoned(victim))
        elif roll < 0.60:
            aid = f"a{self.rng.randrange(N_AGENTS)}"
            self.later(0.1, AgentNotReady(aid, "break"))
            self.later(self.rng.uniform(10, 60), AgentReady(aid))
        elif roll < 0.63:
            self.later(0.1, WrapUpEnded(f"a{self.rng.randrange(N_AGENTS)}"))

    def step(self) -> None:
        at, _, event = self.pending[0]
        due = self.router.next_timer()
        if due is not None and due <= at:
            self.now = max(self.now, due)
            self.send(Tick())
            return
        heapq.heappop(self.pending)
        self.now = max(self.now, at)
        self.send(event)
        self.background()

    def round(self, decisions: int) -> dict[str, float]:
        self.latencies = []
        offers = self.offers
        wall = time.perf_counter()
        while len(self.latencies) < decisions and self.pending:
            self.step()
        wall = time.perf_counter() - wall
        lat = sorted(self.latencies)
        busy = sum(lat)
        return {"decisions": len(lat), "offers": self.offers - offers,
                "per_s": len(lat) / busy, "p50_us": statistics.median(lat) * 1e6,
                "p99_us": lat[int(len(lat) * 0.99)] * 1e6, "max_us": lat[-1] * 1e6,
                "wall_s": wall}


def run(rounds: int, fast_n: int, naive_n: int, seed: int) -> dict[str, Any]:
    sims = {"engine": Sim(Engine(queues()), random.Random(seed)),
            "naive": Sim(NaiveRouter(queues()), random.Random(seed))}
    prime_s = {}
    for name, sim in sims.items():
        start = time.perf_counter()
        sim.prime()
        prime_s[name] = time.perf_counter() - start
    results: dict[str, list[dict[str, float]]] = {"engine": [], "naive": []}
    for r in range(rounds):
        for name, n in (("engine", fast_n), ("naive", naive_n)):
            res = sims[name].round(n)
            res["waiting"] = (len(sims[name].alive) - len(sims[name].offered)
                              - len(sims[name].connected))
            results[name].append(res)
            print(f"round {r + 1} {name:6}: {res['decisions']:6d} decisions, "
                  f"{res['per_s']:10.0f}/s, p50 {res['p50_us']:8.1f} us, "
                  f"p99 {res['p99_us']:8.1f} us, offers {res['offers']}, "
                  f"waiting {res['waiting']}", flush=True)
    return {"results": results, "prime_s": prime_s,
            "violations": {n: s.violations for n, s in sims.items()}}


def summarize(out: dict[str, Any]) -> dict[str, float]:
    res = out["results"]
    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in res[name])
    return {"engine_per_s": med("engine", "per_s"), "naive_per_s": med("naive", "per_s"),
            "engine_p50": med("engine", "p50_us"), "engine_p99": med("engine", "p99_us"),
            "naive_p50": med("naive", "p50_us"), "naive_p99": med("naive", "p99_us"),
            "ratio": med("engine", "per_s") / med("naive", "per_s")}


def report(out: dict[str, Any], command: str) -> str:
    s = summarize(out)
    v = out["violations"]
    ok = (s["ratio"] >= 10 and s["engine_per_s"] >= 20_000 and s["engine_p99"] < 1000
          and v["engine"] == 0)
    rows = "\n".join(
        f"| {name} | {r + 1} | {res['decisions']} | {res['offers']} | {res['per_s']:,.0f} | "
        f"{res['p50_us']:.1f} | {res['p99_us']:.1f} | {res['waiting']} |"
        for name in ("engine", "naive") for r, res in enumerate(out["results"][name]))
    return f"""{START}
## Routing engine

Command: `{command}`

{N_AGENTS} agents (4 queue skills each, 30% with a language skill; 40% chat-heavy with 3-5
chats, half of them allowed to chat during a call; the others 0-2 chats), {N_QUEUES} queues,
{N_WAITING:,} waiting contacts (voice 60%, chat 25%, web 10%, callback 5%; priorities 0-2;
15% need a language skill), then a burst: all agents go ready within 2 s, with breaks,
rejects and ring-no-answers, arrivals and abandons keeping about {N_WAITING:,} waiting.
A decision is one `handle(event, now)` call; rates are decisions per second of time spent
inside `handle`. Rounds alternate between the two variants in one process.

| variant | round | decisions | offers | decisions/s | p50 µs | p99 µs | waiting after |
|---|---|---|---|---|---|---|---|
{rows}

Medians over rounds: engine **{s['engine_per_s']:,.0f} decisions/s**, p50
{s['engine_p50']:.1f} µs, **p99 {s['engine_p99']:.1f} µs**; naive baseline
{s['naive_per_s']:,.0f} decisions/s, p99 {s['naive_p99']:.1f} µs; **ratio
{s['ratio']:.0f}x**. Double assignments or capacity overruns (shadow ledger from the
commands): engine {v['engine']}, naive {v['naive']}. Priming (logins + {N_WAITING:,}
arrivals): engine {out['prime_s']['engine']:.2f} s, naive {out['prime_s']['naive']:.2f} s.
Floors (10x baseline, 20,000/s, p99 < 1 ms, zero double assignments): {"met" if ok else "NOT met"}.
{END}"""


def write_section(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if START in old and END in old:
        new = old[:old.index(START)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--naive-decisions", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    out = run(args.rounds, args.decisions, args.naive_decisions, args.seed)
    text = report(out, ".venv/bin/python -m bench.routing_bench")
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
