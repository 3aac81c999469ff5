"""Agent sessions survive a restart: saved through the gateway, written off the reactor."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock

from cti.routing import events as e
from cti.routing.config import QueueConfig
from cti.routing.engine import Engine
from cti.service.agent_sessions import SAVE_DELAY_S, AgentStore
from cti.service.gateway import Gateway
from cti.service.service import CtiService

PROFILES = {"agent1001": {"general": 1}, "agent1002": {"general": 2}}


class Records:
    def submit(self, event: Any) -> None:
        pass


class Offload:
    """The background thread, run by hand: a job runs only when the test says so."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def make(path: Path) -> tuple[Gateway, Clock, Offload, AgentStore]:
    clock = Clock()
    service = CtiService(Engine({"service": QueueConfig("service")}), Records(), clock)
    gateway = Gateway(service, clock)
    offload = Offload()
    return gateway, clock, offload, AgentStore(path, gateway, PROFILES, offload)


def test_a_state_change_is_saved_a_second_later_by_the_background_not_the_reactor(
        tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    gateway, clock, offload, _store = make(path)
    gateway.command(e.AgentLoggedIn("agent1001", {"general": 1}))
    gateway.command(e.AgentNotReady("agent1001", "lunch"))
    clock.advance(SAVE_DELAY_S)
    assert not path.exists() and len(offload.jobs) == 1  # the reactor only took a snapshot
    offload.run()
    saved = json.loads(path.read_text())["agents"]
    assert [(a["agent_id"], a["state"], a["reason"]) for a in saved] == \
        [("agent1001", "not_ready", "lunch")]


def test_saved_agents_come_back_and_a_busy_one_comes_back_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_text(json.dumps({"agents": [
        {"agent_id": "agent1001", "state": "ready", "reason": None, "max_chats": 3},
        {"agent_id": "agent1002", "state": "busy", "reason": None, "max_chats": 5},
        {"agent_id": "stranger", "state": "ready", "reason": None, "max_chats": 5},
    ]}))
    gateway, _clock, _offload, store = make(path)
    assert store.restore() == 2
    states = {a.agent_id: (a.state, a.reason, a.max_chats) for a in gateway.agents()}
    assert states == {"agent1001": ("ready", None, 3),
                      "agent1002": ("not_ready", "cti_restart", 5)}


def test_an_unreadable_or_odd_file_logs_no_one_in(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    for text in ("{not json", "[1, 2]", '{"agents": [1, "x", null]}'):
        path.write_text(text)
        gateway, _clock, _offload, store = make(path)
        assert store.restore() == 0 and gateway.agents() == []
