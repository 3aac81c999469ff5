"""The AMI client against the real sandbox Asterisk: login, resync, live call events, and
reconnect + resync by itself after Asterisk is restarted.

A real reactor runs in a background thread once per module; the test thread reaches it only
through ``blockingCallFromThread``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.internet import reactor as _reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import blockingCallFromThread

from bench.sipp import Uas, run_uac, uac_scenario
from cti.app.sandbox import Sandbox
from cti.telephony.ami.client import AmiClient
from cti.telephony.ami.codec import Message
from cti.telephony.ami.events import AgentMap, Resynced, translate

pytestmark = pytest.mark.asterisk
reactor: Any = _reactor


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[Any]:
    if not reactor.running:
        thread = threading.Thread(
            target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 5
        while not reactor.running and time.monotonic() < deadline:
            time.sleep(0.01)
    yield reactor
    # The reactor cannot be restarted in this process: it is left running (daemon thread).


class Seen:
    def __init__(self) -> None:
        self.items: list[Message | Resynced] = []
        self.lock = threading.Lock()

    def __call__(self, item: Message | Resynced) -> None:
        with self.lock:
            self.items.append(item)

    def wait(self, pred: Callable[[list[Message | Resynced]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if pred(list(self.items)):
                    return True
            time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def ami(asterisk: Sandbox, running_reactor: Any) -> Iterator[tuple[AmiClient, Seen]]:
    ast = asterisk.cfg.asterisk
    seen = Seen()

    def make() -> AmiClient:
        client = AmiClient(
            TCP4ClientEndpoint(reactor, ast.ami_host, ast.ami_port, timeout=2),
            username=ast.ami_user,
            secret=ast.ami_secret,
            agents=AgentMap.from_agents(ast.agents),
            clock=reactor,
            ping_interval=2.0,
            ping_timeout=2.0,
        )
        client.subscribe(seen)
        client.start()
        return client

    client: AmiClient = blockingCallFromThread(reactor, make)
    yield client, seen
    blockingCallFromThread(reactor, client.stop)


def _resyncs(items: list[Message | Resynced]) -> list[Resynced]:
    return [i for i in items if isinstance(i, Resynced)]


def test_connects_logs_in_and_resyncs(ami: tuple[AmiClient, Seen]) -> None:
    _, seen = ami
    assert seen.wait(lambda items: len(_resyncs(items)) >= 1, 10)
    snap = _resyncs(seen.items)[0].snapshot
    assert {a.agent_id for a in snap.agents} == {"agent1001", "agent1002"}
    assert "PJSIP/agent1001" in snap.devices


def test_sees_a_sipp_call_to_an_agent(
    asterisk: Sandbox, ami: tuple[AmiClient, Seen]
) -> None:
    _, seen = ami
    assert seen.wait(lambda items: len(_resyncs(items)) >= 1, 10)
    start = len(seen.items)
    uas = Uas(calls=1, timeout_s=20).start()
    try:
        result = run_uac(
            asterisk.cfg.asterisk.sip_port,
            f"77{uas.port:05d}",
            uac_scenario(ending="hangup", hangup_after_ms=1500),
            timeout_s=20,
        )
        uas.wait(timeout_s=15)
    finally:
        uas.stop()
    assert result.ok, result.describe()
    agents = AgentMap.from_agents(asterisk.cfg.asterisk.agents)

    def names(items: list[Message | Resynced]) -> set[str]:
        return {i.name for i in items[start:] if isinstance(i, Message)}

    assert seen.wait(lambda items: {"DialBegin", "DialEnd", "DeviceStateChange"} <= names(items),
                     5)
    # manager.conf's eventfilter whitelist: the dialplan's own chatter and the channel events
    # nothing in the CTI acts on never reach it
    assert not {"Newexten", "VarSet", "Newstate", "Newchannel", "Hangup"} & names(seen.items), \
        names(seen.items)
    typed = [translate(i, agents) for i in seen.items[start:] if isinstance(i, Message)]
    states = [t.state for t in typed if t is not None and type(t).__name__ == "AgentDevice"]
    assert "INUSE" in states or "RINGING" in states, states


def test_reconnects_and_resyncs_after_asterisk_restart(
    asterisk: Sandbox, ami: tuple[AmiClient, Seen]
) -> None:
    client, seen = ami
    assert seen.wait(lambda items: len(_resyncs(items)) >= 1, 10)
    before = len(_resyncs(seen.items))
    asterisk.stop()
    time.sleep(1.0)
    assert not blockingCallFromThread(reactor, lambda: client.ready)
    assert asterisk.conf_dir is not None
    asterisk.start(asterisk.conf_dir, classic_agi=False)
    assert seen.wait(lambda items: len(_resyncs(items)) > before, 20), "no resync after restart"
    latest = _resyncs(seen.items)[-1]
    assert latest.connection == before + 1
    assert blockingCallFromThread(reactor, lambda: client.ready)
