"""The chat bench's load: every customer and agent socket in this one asyncio process (the
``websockets`` client), separate from the server's process, all to 127.0.0.1.

1. the agents connect with their desktop session cookie and say ``hello`` (the server logs
   them in, ready); every ``offer`` is accepted at once;
2. the customers connect at ``ramp_per_s``, say ``hello`` and send a first message (``conv``
   null opens the conversation); the bench waits until each chat is joined;
3. the measured window: ``rate`` customer messages a second in total, round-robin over the
   joined customers, each with a unique ``cid``; each agent answers every customer message
   it receives with one reply; then up to ``grace_s`` for what is still on its way.

The sockets themselves are ``bench/chat/peers.py``; the server is read through ``Probe``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.chat.ledger import A2C, C2A, Ledger, Spread
from bench.chat.peers import AgentPeer, CustomerPeer, LoadPlan, LoadResult, Peer, Probe, Run

PG_STATS_DELAY_S = 11.0


def setup_stages(joined: list[CustomerPeer], offered_at: dict[str, float],
                 ledger: Ledger) -> dict[str, Spread]:
    """Where the time from a customer's hello to the agent's join goes, stage by stage."""
    stages: dict[str, list[float]] = {"hello→welcome": [], "first message→ack": [],
                                      "first message→offer": [], "offer→joined": []}
    for c in joined:
        stages["hello→welcome"].append(c.welcomed_at - c.hello_at)
        first = ledger.sent.get(f"{c.name}-0")
        if first is not None and first.acked_at is not None:
            stages["first message→ack"].append(first.acked_at - first.at)
        offer = offered_at.get(c.conv or "")
        if offer is not None:
            stages["first message→offer"].append(offer - c.opened_at)
            stages["offer→joined"].append(c.joined_at - offer)
    return {name: Spread.of(values) for name, values in stages.items()}


async def _bounded(coros: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(make: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await make()

    return await asyncio.gather(*(one(m) for m in coros), return_exceptions=True)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"http {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


async def run_load(plan: LoadPlan, server: Probe, log: Callable[[str], None],
                   on_window: Callable[[int], None] | None = None) -> LoadResult:
    run = Run(plan, on_window)
    result = run.result
    peers: list[Peer] = []
    try:
        await _drive(run, server, peers, log)
    finally:
        run.closing = True
        await _close_all(peers)
    return result


async def _drive(run: Run, server: Probe, peers: list[Peer], log: Callable[[str], None]) -> None:
    plan, result = run.plan, run.result
    result.rss_before_kb = server.rss_kb()

    agents = [AgentPeer(run, agent_id) for agent_id in plan.tokens]
    peers.extend(agents)
    outcomes = await _bounded([partial(a.start, plan.tokens[a.name]) for a in agents], 20)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            result.connect_failures[f"agent {_failure(outcome)}"] += 1
    result.agents_ready = sum(1 for a in agents if a.ready.is_set())
    log(f"  {result.agents_ready}/{len(agents)} agents ready")

    customers = [CustomerPeer(run, i) for i in range(1, plan.customers + 1)]
    peers.extend(customers)
    started: list[asyncio.Task[bool]] = []
    setup_threads0, commits0 = server.thread_cpu(), server.commits()
    t0 = time.monotonic()
    for i, customer in enumerate(customers):
        delay = t0 + i / plan.ramp_per_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        started.append(asyncio.create_task(customer.start()))
    opened = await asyncio.gather(*started, return_exceptions=True)
    for outcome in opened:
        if isinstance(outcome, BaseException):
            result.connect_failures[f"customer {_failure(outcome)}"] += 1
        elif outcome is False:
            result.welcome_closed += 1
    result.customers_connected = sum(1 for c in customers if c.welcome is not None)
    waiting = [c for c, ok in zip(customers, opened, strict=True) if ok is True]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in waiting)),
                               plan.join_timeout_s)
    except TimeoutError:
        pass
    joined = [c for c in waiting if c.joined.is_set() and c.conv is not None]
    result.chats_joined = len(joined)
    result.open_to_joined = Spread.of(c.joined_at - c.opened_at for c in joined)
    result.setup_s = max((c.joined_at for c in joined), default=time.monotonic()) - t0
    result.setup = setup_stages(joined, run.offered_at, result.ledger)
    spent = {tid: cpu - setup_threads0.get(tid, 0.0) for tid, cpu in server.thread_cpu().items()}
    span = time.monotonic() - t0
    result.setup_reactor_share = spent.pop(server.pid, 0.0) / span
    result.setup_busiest_share = max(spent.values(), default=0.0) / span
    log(f"  {result.customers_connected} customers connected, {len(joined)} chats joined "
        f"in {result.setup_s:.1f} s (open->joined p99 {result.open_to_joined.p99:.0f} ms)")
    log(f"    server threads while setting up: reactor {100 * result.setup_reactor_share:.0f}% "
        f"of a core, busiest other {100 * result.setup_busiest_share:.0f}%")
    log("    " + ", ".join(f"{k} p50 {v.p50:.0f} / p99 {v.p99:.0f} ms"
                           for k, v in result.setup.items()))

    result.settled_s = await _settle(plan, server)
    result.rss_after_kb = server.rss_kb()
    log(f"  server quiet {result.settled_s:.1f} s after the last join")
    if commits0 is not None:
        result.setup_commits = await _commits_since(server, commits0)
    cpu0 = server.cpu_s()
    await asyncio.sleep(plan.idle_s)
    result.idle_cpu_s, result.idle_s = server.cpu_s() - cpu0, plan.idle_s
    if not joined:
        return
    await _window(run, server, joined, log)


async def _commits_since(server: Probe, before: int) -> int | None:
    """Transactions since ``before``, once PostgreSQL has published them: a busy backend
    flushes its counts at most once a second, an idle one after 10 s (PostgreSQL 15)."""
    await asyncio.sleep(PG_STATS_DELAY_S)
    after = server.commits()
    return None if after is None else after - before


async def _settle(plan: LoadPlan, server: Probe) -> float:
    """Wait ``settle_s``, then until the server spends under ``quiet_cpu`` of a core over a
    second (what the setup queued is done), at most ``settle_max_s``; the time it took."""
    start = time.monotonic()
    await asyncio.sleep(plan.settle_s)
    while time.monotonic() - start < plan.settle_max_s:
        cpu0 = server.cpu_s()
        await asyncio.sleep(1.0)
        if server.cpu_s() - cpu0 < plan.quiet_cpu:
            break
    return time.monotonic() - start


async def _window(run: Run, server: Probe, joined: list[CustomerPeer],
                  log: Callable[[str], None]) -> None:
    plan, result = run.plan, run.result
    lags: list[float] = []
    stop = asyncio.Event()
    lag_task = asyncio.create_task(_watch_lag(stop, lags))
    gc.collect()
    gc.freeze()  # this process's own full collections would stall every socket's reader
    gc.disable()
    threads0, commits0 = server.thread_cpu(), server.commits()
    cpu0, own0, start = server.cpu_s(), time.process_time(), time.monotonic()
    result.window_started = start
    if run.on_window is not None:
        run.on_window(server.pid)
    total = int(plan.rate * plan.seconds)
    for k in range(total):
        delay = start + k / plan.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await joined[k % len(joined)].say()
    sent_end = time.monotonic()
    result.send_window_s = sent_end - start
    while result.ledger.outstanding() and time.monotonic() < sent_end + plan.grace_s:
        await asyncio.sleep(0.02)
    result.drained = result.ledger.outstanding() == 0
    end = time.monotonic()
    result.window_s = end - start
    result.server_cpu_s = server.cpu_s() - cpu0
    result.loadgen_cpu_s = time.process_time() - own0
    spent = {tid: cpu - threads0.get(tid, 0.0) for tid, cpu in server.thread_cpu().items()}
    result.thread_cpu_s = dict(sorted(spent.items(), key=lambda kv: -kv[1])[:5])
    result.reactor_cpu_s = spent.pop(server.pid, 0.0)
    result.busiest_thread_cpu_s = max(spent.values(), default=0.0)
    gc.enable()
    run.replying = False
    if commits0 is not None:
        result.window_commits = await _commits_since(server, commits0)
    if not result.drained:  # the rest of the grace: anything late still counts as arrived
        await asyncio.sleep(max(0.0, sent_end + plan.grace_s - time.monotonic()))
    stop.set()
    await lag_task
    result.loop_lag = Spread.of(lags)
    log("  server threads' CPU over the window: " + ", ".join(
        f"tid {tid} {cpu:.2f} s" for tid, cpu in result.thread_cpu_s.items()))
    log(f"  sent {result.sent(C2A)} customer and {result.sent(A2C)} agent messages in "
        f"{result.send_window_s:.1f} s; drained: {result.drained}")


async def _watch_lag(stop: asyncio.Event, lags: list[float], every: float = 0.01) -> None:
    """How late this process's event loop wakes up: its share of any latency measured."""
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(every)
        lags.append(max(0.0, time.monotonic() - t - every))


async def _close_all(peers: list[Peer]) -> None:
    async def close(peer: Peer) -> None:
        if peer.ws is not None:
            try:
                await asyncio.wait_for(peer.ws.close(), 5)
            except (TimeoutError, OSError, ConnectionClosed):
                pass
        if peer.reader is not None:
            peer.reader.cancel()

    await _bounded([partial(close, p) for p in peers], 200)
