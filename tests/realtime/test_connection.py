"""``Connection`` over an in-memory wire (``cti.realtime.testing``): what an application sees."""

from __future__ import annotations

import pytest

from cti.realtime.limits import RealtimeCounters, RealtimeLimits
from cti.realtime.testing import memory_connection


def test_send_encodes_one_frame_and_counts_it() -> None:
    counters = RealtimeCounters()
    conn, wire = memory_connection(counters=counters, cookies={"hotline_desk": "s1"})
    conn.send({"t": "welcome", "role": "customer"})
    conn.send({"t": "error", "code": "bad_field", "message": "m", "ref": None})
    assert wire.sent[0] == b'{"t":"welcome","role":"customer"}'
    assert [f["t"] for f in wire.frames] == ["welcome", "error"]
    assert counters.frames_out == 2 and counters.errors == {"bad_field": 1}
    assert conn.cookies == {"hotline_desk": "s1"} and conn.principal is None


def test_after_close_sending_does_nothing_and_closing_again_does_nothing() -> None:
    conn, wire = memory_connection()
    conn.close(4001, "hello expected")
    conn.send({"t": "msg"})
    conn.close(1000)
    assert wire.sent == [] and wire.closed_with == (4001, "hello expected") and conn.closed


def test_a_connection_gone_underneath_sends_nothing() -> None:
    conn, wire = memory_connection()
    conn.mark_gone()
    conn.send({"t": "msg"})
    assert wire.sent == [] and conn.closed


@pytest.mark.parametrize("code", [999, 1001, 1006, 1011, 2999, 5000])
def test_only_normal_and_application_close_codes_are_allowed(code: int) -> None:
    conn, _ = memory_connection()
    with pytest.raises(ValueError):
        conn.close(code)


def test_a_close_reason_is_cut_to_what_a_close_frame_holds_on_a_character_boundary() -> None:
    conn, wire = memory_connection()
    conn.close(4000, "断" * 100)
    assert wire.closed_with is not None
    assert wire.closed_with[1] == "断" * 41  # 123 bytes hold 41 three-byte characters


def test_a_frame_over_the_websocket_limit_is_not_sent_but_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = RealtimeCounters()
    conn, wire = memory_connection(max_send_bytes=100, counters=counters)
    conn.send({"t": "msg", "text": "x" * 200})
    assert wire.sent == [] and counters.errors == {"send_too_big": 1}
    assert "not sending a 'msg' frame" in caplog.text


def test_limits_default_to_the_documented_values_and_refuse_nonsense() -> None:
    limits = RealtimeLimits()
    assert (
        limits.max_frame_bytes,
        limits.frames_per_s,
        limits.burst,
        limits.hello_timeout_s,
        limits.max_connections,
    ) == (16384, 10, 30, 10, 5000)
    assert limits.websocket_max_bytes == 4 * 16384
    assert RealtimeLimits(ws_max_bytes=20000).websocket_max_bytes == 20000
    assert RealtimeLimits(ping_interval_s=0, ping_timeout_s=0).ping_interval_s == 0  # off
    for bad in (
        {"ws_max_bytes": 1000},
        {"burst": 0},
        {"frames_per_s": 0},
        {"hello_timeout_s": 0},
        {"max_connections": 0},
        {"max_frame_bytes": 10},
        {"ping_interval_s": 0.5},
        {"ping_timeout_s": -1},
    ):
        with pytest.raises(ValueError):
            RealtimeLimits(**bad)
