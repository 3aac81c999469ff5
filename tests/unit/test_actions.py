"""Self-service actions against the demo back-end over real HTTP on 127.0.0.1.

Every behaviour is checked on both runners: the blocking one (urllib3, for classic AGI and
threads) and the reactor one (Twisted's HTTP client, what FastAGI calls use), the latter on a
real reactor running in a thread of the test process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner, dig, fill_url
from ivr_flows.edges.reactor_actions import ReactorActionRunner

reactor: Any = global_reactor


class OnReactor:
    """A ``ReactorActionRunner`` called from the test thread: ``start`` runs on the reactor,
    the test waits for its Deferred."""

    def __init__(self, base_url: str) -> None:
        self.inner = blockingCallFromThread(reactor, ReactorActionRunner, reactor, base_url)

    def run(self, flow: Flow, act: Act) -> Result:
        result: Result = blockingCallFromThread(reactor, self.inner.start, flow, act)
        return result

    def close(self) -> None:
        blockingCallFromThread(reactor, self.inner.close)


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[None]:
    if not reactor.running:
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                         daemon=True).start()
        while not reactor.running:
            time.sleep(0.01)
    yield


def make_runner(kind: str, base_url: str) -> Any:
    return ActionRunner(base_url) if kind == "blocking" else OnReactor(base_url)


@pytest.fixture(params=["blocking", "reactor"])
def runner(request: pytest.FixtureRequest, demo_backend_url: str,
           running_reactor: None) -> Iterator[Any]:
    r = make_runner(request.param, demo_backend_url)
    yield r
    r.close()


def test_found_order_maps_reply_fields_into_variables(runner: Any,
                                                      demo_flow: Flow) -> None:
    result = runner.run(demo_flow, Act("order_status", {"order_id": "12345678"}))
    assert result == Result("ok", {"order_status": "shipped", "eta_month": "11", "eta_day": "25"})


def test_unknown_order_is_not_found(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "99999999"})).outcome == \
        "not_found"


def test_server_error_is_an_error_outcome(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "67890123"})).outcome == "error"


def test_slow_backend_gives_up_at_the_flow_timeout(runner: Any, demo_flow: Flow) -> None:
    started = time.monotonic()
    result = runner.run(demo_flow, Act("order_status", {"order_id": "56789012"}))
    elapsed = time.monotonic() - started
    assert result.outcome == "error"
    assert 2.5 < elapsed < 4.5  # the action's timeout is 3 s


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_unreachable_backend_is_an_error_not_an_exception(kind: str, demo_flow: Flow,
                                                          running_reactor: None) -> None:
    runner = make_runner(kind, "http://127.0.0.1:9")  # discard port: nothing listens
    result = runner.run(demo_flow, Act("order_status", {"order_id": "12345678"}))
    assert result.outcome == "error"
    runner.close()


def test_post_action_and_language_argument(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("password_reset", {"account_id": "A1001"})) == \
        Result("ok", {"reset_sent": "true"})
    en = runner.run(demo_flow, Act("delivery", {"order_id": "12345678", "lang": "en"}))
    assert en.values["carrier"] == "SF Express"


def test_values_cannot_escape_the_url_path() -> None:
    assert fill_url("/orders/{id}?x={q}", {"id": "../../admin", "q": "a&b=c#d"}) == \
        "/orders/..%2F..%2Fadmin?x=a%26b%3Dc%23d"


def test_dig_follows_dotted_paths_and_ignores_structures() -> None:
    data = {"eta": {"month": 11}, "items": [{"name": "tea"}], "ok": True, "obj": {"a": 1}}
    assert dig(data, "eta.month") == "11"
    assert dig(data, "items.0.name") == "tea"
    assert dig(data, "ok") == "true"
    assert dig(data, "obj") is None
    assert dig(data, "missing.path") is None


def test_unknown_action_is_an_error(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("no_such_action", {})).outcome == "error"
