"""Self-service actions against the demo back-end over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner, dig, fill_url


@pytest.fixture()
def runner(demo_backend_url: str) -> ActionRunner:
    r = ActionRunner(demo_backend_url)
    yield r
    r.close()


def test_found_order_maps_reply_fields_into_variables(runner: ActionRunner,
                                                      demo_flow: Flow) -> None:
    result = runner.run(demo_flow, Act("order_status", {"order_id": "12345678"}))
    assert result == Result("ok", {"order_status": "shipped", "eta_month": "11", "eta_day": "25"})


def test_unknown_order_is_not_found(runner: ActionRunner, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "99999999"})).outcome == \
        "not_found"


def test_server_error_is_an_error_outcome(runner: ActionRunner, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "67890123"})).outcome == "error"


def test_slow_backend_gives_up_at_the_flow_timeout(runner: ActionRunner, demo_flow: Flow) -> None:
    started = time.monotonic()
    result = runner.run(demo_flow, Act("order_status", {"order_id": "56789012"}))
    elapsed = time.monotonic() - started
    assert result.outcome == "error"
    assert 2.5 < elapsed < 4.5  # the action's timeout is 3 s


def test_unreachable_backend_is_an_error_not_an_exception(demo_flow: Flow) -> None:
    runner = ActionRunner("http://127.0.0.1:9")  # discard port: nothing listens
    assert runner.run(demo_flow, Act("order_status", {"order_id": "12345678"})).outcome == "error"


def test_post_action_and_language_argument(runner: ActionRunner, demo_flow: Flow) -> None:
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


def test_unknown_action_is_an_error(runner: ActionRunner, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("no_such_action", {})).outcome == "error"
