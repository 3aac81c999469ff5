"""The chat bench's sockets: one ``Peer`` per customer or agent WebSocket (the
``websockets`` asyncio client, 127.0.0.1 only), the plan they follow and the result they
fill in. Every frame is timed with ``time.monotonic()`` on arrival and booked in the run's
``Ledger``; agents accept every offer at once and answer each customer message once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from bench.chat.ledger import A2C, C2A, Ledger, Spread

DESK_COOKIE = "hotline_desk"


class Probe(Protocol):
    """The server process, read from /proc (``bench.chat.server.Server``)."""

    def cpu_s(self) -> float: ...

    def rss_kb(self) -> int: ...

    def thread_cpu(self) -> dict[int, float]: ...

    def commits(self) -> int | None: ...

    @property
    def pid(self) -> int: ...


@dataclass(frozen=True)
class LoadPlan:
    ws_url: str
    origin: str
    tokens: dict[str, str]  # agent id -> desktop session token
    customers: int
    chats_per_agent: int
    rate: float  # customer messages per second, all customers together
    seconds: float
    ramp_per_s: float = 100.0
    grace_s: float = 5.0
    settle_s: float = 2.0  # at least, after the last chat joined ...
    settle_max_s: float = 60.0  # ... and until the server's CPU is below ``quiet_cpu``
    quiet_cpu: float = 0.10  # of one core, over a second
    idle_s: float = 3.0
    frame_timeout_s: float = 15.0  # welcome, agent state: each awaited this long at most
    join_timeout_s: float = 60.0  # after the last customer's first message

    @property
    def expected_chats(self) -> int:
        return min(self.customers, len(self.tokens) * self.chats_per_agent)


@dataclass
class LoadResult:
    ledger: Ledger
    agents_ready: int = 0
    customers_connected: int = 0
    chats_joined: int = 0
    welcome_closed: int = 0  # customers told "no agent now"
    open_to_joined: Spread = field(default_factory=lambda: Spread.of([]))
    setup: dict[str, Spread] = field(default_factory=dict)  # see ``setup_stages``
    setup_s: float = 0.0  # from the first customer's connection to the last chat joined
    settled_s: float = 0.0  # then until the server was quiet (its backlog done)
    setup_commits: int | None = None  # PostgreSQL transactions while setting up
    window_commits: int | None = None  # ... and in the window
    setup_reactor_share: float = 0.0  # of a core, while the customers came in
    setup_busiest_share: float = 0.0  # the busiest other thread's (the chat journal's)
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    idle_cpu_s: float = 0.0
    idle_s: float = 0.0
    send_window_s: float = 0.0
    window_started: float = 0.0  # monotonic
    window_s: float = 0.0  # send window + drain: the span of the CPU figures
    drained: bool = False
    server_cpu_s: float = 0.0
    reactor_cpu_s: float = 0.0  # of it, the server's main thread (the reactor)
    busiest_thread_cpu_s: float = 0.0  # of it, its busiest other thread (journal, writer ...)
    thread_cpu_s: dict[int, float] = field(default_factory=dict)  # the 5 busiest, by tid
    loadgen_cpu_s: float = 0.0
    loop_lag: Spread = field(default_factory=lambda: Spread.of([]))
    max_queue_position: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    dropped: int = 0  # sockets the server closed before the end
    other_frames: Counter[str] = field(default_factory=Counter)

    @property
    def connections(self) -> int:
        return self.agents_ready + self.customers_connected

    def sent(self, direction: str) -> int:
        return len(self.ledger.measured(direction))


class Run:
    """What every socket of one run shares."""

    def __init__(self, plan: LoadPlan, on_window: Callable[[int], None] | None) -> None:
        self.plan = plan
        self.on_window = on_window  # called with the server's pid as the window opens
        self.result = LoadResult(Ledger())
        self.replying = True
        self.closing = False
        self.offered_at: dict[str, float] = {}  # conversation -> its (first) offer's arrival


class Peer:
    side = ""

    def __init__(self, run: Run, name: str) -> None:
        self.run = run
        self.name = name
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self, headers: dict[str, str] | None = None) -> None:
        plan = self.run.plan
        self.ws = await connect(plan.ws_url, origin=Origin(plan.origin),
                                additional_headers=headers, open_timeout=plan.frame_timeout_s,
                                ping_interval=None, compression=None, proxy=None,
                                close_timeout=2)
        self.reader = asyncio.create_task(self._read())

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                at = time.monotonic()
                await self.on_frame(json.loads(raw), at)
        except ConnectionClosed:
            pass
        if not self.run.closing:
            self.run.result.dropped += 1

    async def on_frame(self, frame: dict[str, Any], at: float) -> None:
        raise NotImplementedError

    def _common(self, frame: dict[str, Any], at: float) -> bool:
        """ack / error / msg, the same on both sides; False if ``frame`` is something else."""
        ledger = self.run.result.ledger
        kind = frame.get("t")
        if kind == "ack":
            ledger.on_ack(str(frame["cid"]), str(frame["conv"]), int(frame["seq"]), at)
        elif kind == "error":
            ledger.on_error(str(frame.get("code")), frame.get("ref"))
        elif kind == "msg":
            self.on_msg(frame, at)
        else:
            return False
        return True

    def on_msg(self, frame: dict[str, Any], at: float) -> None:
        self.run.result.ledger.on_message(self.side, str(frame["conv"]), int(frame["seq"]),
                                          str(frame["cid"]), at)


class AgentPeer(Peer):
    side = "agent"

    def __init__(self, run: Run, agent_id: str) -> None:
        super().__init__(run, agent_id)
        self.ready = asyncio.Event()
        self.asked_ready = False

    async def start(self, token: str) -> None:
        await self.connect({"Cookie": f"{DESK_COOKIE}={token}"})
        await self.send({"t": "hello", "role": "agent", "resume": {}})
        await asyncio.wait_for(self.ready.wait(), self.run.plan.frame_timeout_s)

    async def on_frame(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("t")
        if kind == "agent":
            if frame.get("state") == "ready":
                self.ready.set()
            elif frame.get("state") == "not_ready" and not self.asked_ready:
                self.asked_ready = True  # signed in not ready: press Ready, as a person does
                await self.send({"t": "state", "state": "ready"})
        elif kind == "offer":
            if frame.get("medium") == "chat":
                self.run.offered_at.setdefault(str(frame["contact"]), at)
                await self.send({"t": "accept", "contact": frame["contact"]})
        elif kind == "msg":
            ledger = self.run.result.ledger
            first = ledger.on_message(self.side, str(frame["conv"]), int(frame["seq"]),
                                      str(frame["cid"]), at)
            if first is not None and first.measured and self.run.replying:
                cid = f"r-{first.cid}"
                ledger.on_send(A2C, first.conv, cid, time.monotonic(), True)
                await self.send({"t": "send", "conv": first.conv, "cid": cid,
                                 "text": f"reply to {first.cid}"})
        elif not self._common(frame, at) and kind not in ("welcome", "card", "offer_gone"):
            self.run.result.other_frames[f"agent:{kind}"] += 1


class CustomerPeer(Peer):
    side = "customer"

    def __init__(self, run: Run, index: int) -> None:
        super().__init__(run, f"c{index}")
        self.welcome: dict[str, Any] | None = None
        self.welcomed = asyncio.Event()
        self.joined = asyncio.Event()
        self.conv: str | None = None
        self.hello_at = 0.0
        self.welcomed_at = 0.0
        self.opened_at = 0.0
        self.joined_at = 0.0
        self.said = 0

    async def start(self) -> bool:
        """Connect, hello, and open the conversation; False if told no agent is there."""
        await self.connect()
        self.hello_at = time.monotonic()
        await self.send({"t": "hello", "role": "customer", "visitor": None, "lang": "en",
                         "identity": None, "resume": {}})
        await asyncio.wait_for(self.welcomed.wait(), self.run.plan.frame_timeout_s)
        if not (self.welcome or {}).get("open"):
            return False
        cid = f"{self.name}-0"
        self.opened_at = time.monotonic()
        self.run.result.ledger.on_send(C2A, "", cid, self.opened_at, False)
        await self.send({"t": "send", "conv": None, "cid": cid, "text": "hello, my order?"})
        return True

    async def say(self) -> None:
        assert self.conv is not None
        self.said += 1
        cid = f"{self.name}-{self.said}"
        self.run.result.ledger.on_send(C2A, self.conv, cid, time.monotonic(), True)
        await self.send({"t": "send", "conv": self.conv, "cid": cid,
                         "text": f"message {self.said} of {self.name}"})

    async def on_frame(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("t")
        if kind == "welcome":
            self.welcome = frame
            self.welcomed_at = at
            self.welcomed.set()
        elif kind == "joined":
            self.conv = self.conv or str(frame["conv"])
            if not self.joined.is_set():
                self.joined_at = at
                self.joined.set()
        elif kind == "queue":
            result = self.run.result
            result.max_queue_position = max(result.max_queue_position,
                                            int(frame.get("position") or 0))
        elif kind == "ack":
            self.conv = self.conv or str(frame["conv"])
            self._common(frame, at)
        elif not self._common(frame, at):
            self.run.result.other_frames[f"customer:{kind}"] += 1


