"""The chat bench's pure parts (bench/chat/ledger.py, report.py, the command line): statistics
and the lost / duplicated / out-of-order accounting, with made-up frames and times; no
sockets, no processes, no clock."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import chat_bench
from bench.chat.ledger import A2C, C2A, Ledger, Spread, percentile
from bench.chat.peers import LoadResult
from bench.chat.report import END, START, Outcome, ratios, write_results
from bench.chat.server import VARIANTS, agent_ids, server_env


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert math.isnan(percentile([], 50))


def test_spread_is_in_milliseconds() -> None:
    s = Spread.of([0.001, 0.002, 0.010])
    assert (s.count, s.p50, s.max) == (3, 2.0, 10.0)
    assert Spread.of([]).count == 0 and math.isnan(Spread.of([]).p99)


def exchange() -> Ledger:
    """One conversation: the customer's opening message, one measured message, its reply."""
    led = Ledger()
    led.on_send(C2A, "", "c1-0", 0.0, measured=False)
    led.on_ack("c1-0", "chat-1", 1, 0.004)
    assert led.sent["c1-0"].conv == "chat-1"  # learnt from the ack
    led.on_message("customer", "chat-1", 1, "c1-0", 0.005)  # the customer's own copy
    led.on_message("agent", "chat-1", 1, "c1-0", 0.050)
    led.on_send(C2A, "chat-1", "c1-1", 1.000, measured=True)
    led.on_ack("c1-1", "chat-1", 2, 1.003)
    first = led.on_message("agent", "chat-1", 2, "c1-1", 1.010)
    assert first is not None and first.cid == "c1-1"
    led.on_message("customer", "chat-1", 2, "c1-1", 1.004)
    led.on_send(A2C, "chat-1", "r-c1-1", 1.011, measured=True)
    led.on_ack("r-c1-1", "chat-1", 3, 1.012)
    led.on_message("customer", "chat-1", 3, "r-c1-1", 1.020)
    led.on_message("agent", "chat-1", 3, "r-c1-1", 1.013)
    return led


def test_latency_is_taken_on_the_receiving_side_for_measured_messages_only() -> None:
    led = exchange()
    c2a, a2c = led.latency(C2A), led.latency(A2C)
    assert c2a.count == 1 and c2a.p50 == pytest.approx(10.0)  # not the opening message
    assert a2c.count == 1 and a2c.p50 == pytest.approx(9.0)
    assert led.ack_latency(C2A).p50 == pytest.approx(3.0)
    assert (led.lost(), led.duplicates, led.out_of_order, led.unacked()) == (0, 0, 0, 0)
    assert led.outstanding() == 0


def test_an_acknowledged_message_never_delivered_to_the_other_side_is_lost() -> None:
    led = exchange()
    led.on_send(C2A, "chat-1", "c1-2", 2.0, measured=True)
    led.on_ack("c1-2", "chat-1", 4, 2.001)
    led.on_message("customer", "chat-1", 4, "c1-2", 2.002)  # its own copy does not count
    assert led.lost() == 1 and led.outstanding() == 1
    led.on_send(C2A, "chat-1", "c1-3", 3.0, measured=True)  # never acknowledged
    assert (led.lost(), led.unacked(), led.outstanding()) == (1, 1, 2)


def test_a_refused_message_is_neither_lost_nor_outstanding() -> None:
    led = exchange()
    led.on_send(A2C, "chat-1", "r-x", 2.0, measured=True)
    led.on_error("rate_limited", "r-x")
    led.on_error("internal", None)
    assert (led.refused(), led.unacked(), led.outstanding(), led.lost()) == (1, 0, 0, 0)
    assert led.errors == {"rate_limited": 1, "internal": 1}


def test_the_same_seq_or_the_same_cid_twice_on_one_side_is_a_duplicate() -> None:
    led = exchange()
    assert led.on_message("agent", "chat-1", 2, "c1-1", 1.5) is None  # same seq again
    led.on_message("agent", "chat-1", 9, "c1-1", 1.6)  # same cid under another seq
    assert led.duplicates == 2
    assert led.latency(C2A).p50 == pytest.approx(10.0)  # the first arrival counts


def test_a_seq_below_one_already_received_is_out_of_order() -> None:
    led = Ledger()
    for n, cid in enumerate(("a", "b", "c"), 1):
        led.on_send(C2A, "chat-2", cid, float(n), measured=True)
    led.on_message("agent", "chat-2", 1, "a", 1.1)
    led.on_message("agent", "chat-2", 3, "c", 1.2)
    led.on_message("agent", "chat-2", 2, "b", 1.3)
    led.on_message("customer", "chat-2", 2, "b", 1.3)  # each side's stream on its own
    assert (led.out_of_order, led.duplicates, led.lost()) == (1, 0, 0)


def test_unknown_cids_are_counted_and_a_cid_is_sent_once() -> None:
    led = Ledger()
    led.on_message("agent", "chat-3", 1, "nobody", 0.0)
    led.on_ack("nobody", "chat-3", 1, 0.0)
    assert led.unknown == 2
    led.on_send(C2A, "chat-3", "x", 0.0, measured=True)
    with pytest.raises(ValueError):
        led.on_send(C2A, "chat-3", "x", 0.1, measured=True)


def outcome(name: str, latency_s: float, cpu_s: float, lost: bool = False) -> Outcome:
    led = Ledger()
    for i in range(100):
        led.on_send(C2A, "chat-1", f"c{i}", float(i), measured=True)
        led.on_ack(f"c{i}", "chat-1", i + 1, float(i))
        if not (lost and i == 0):
            led.on_message("agent", "chat-1", i + 1, f"c{i}", i + latency_s)
        led.on_send(A2C, "chat-1", f"r{i}", float(i), measured=True)
        led.on_ack(f"r{i}", "chat-1", i + 101, float(i))
        led.on_message("customer", "chat-1", i + 101, f"r{i}", i + latency_s)
    load = LoadResult(led, agents_ready=2, customers_connected=10, chats_joined=10,
                      rss_before_kb=1000, rss_after_kb=1600, server_cpu_s=cpu_s,
                      window_s=60, send_window_s=59)
    return Outcome(VARIANTS[name], load, expected_chats=10, agents=2)


def test_an_outcome_meets_the_floors_or_says_why_not() -> None:
    good = outcome("sqlite", 0.020, 1.0)
    assert good.failures() == []
    assert good.cpu_ms_per_message == pytest.approx(5.0)  # 1 s over 200 messages
    assert good.kb_per_connection == pytest.approx(50.0)  # 600 KB over 12 sockets
    slow = outcome("postgresql", 0.150, 1.0, lost=True)
    assert slow.failures() == ["customer->agent p99 150.0 ms", "agent->customer p99 150.0 ms",
                               "1 lost"]


def test_ratios_compare_databases_and_durability() -> None:
    lines = ratios([outcome("sqlite", 0.020, 1.0), outcome("sqlite-ack-first", 0.010, 0.5),
                    outcome("postgresql", 0.040, 1.0)])
    assert lines[0].startswith("- PostgreSQL / SQLite (stored first): c→a p99 2.00x")
    assert "stored first / ack first on SQLite: c→a p99 2.00x" in lines[1]
    assert "CPU per message 2.00x" in lines[1]


def test_the_section_replaces_only_its_own_markers(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- records:start -->\nkeep\n<!-- records:end -->\n")
    write_results("## Chat\nfirst\n", path)
    write_results("## Chat\nsecond\n", path)
    text = path.read_text()
    assert "keep" in text and "second" in text and "first" not in text
    assert text.count(START) == 1 and text.count(END) == 1


def test_the_server_is_configured_by_hotline_variables_on_loopback() -> None:
    ports = {k: 10000 + i for i, k in enumerate(
        ("ami", "fastagi", "itr", "console", "cti_api", "chat", "backend"))}
    env = server_env(Path("/tmp/x"), "sqlite:////tmp/x/hotline.db", ports, agent_ids(3),
                     max_chats=5, max_connections=2000, max_waiting=1100, ack_first=True)
    assert env["HOTLINE_ASTERISK_AGENTS"] == "b0001,b0002,b0003"
    assert env["HOTLINE_CHAT_ACK_BEFORE_STORE"] == "true"
    assert env["HOTLINE_CHAT_PORT"] == "10005" and env["HOTLINE_CTI_MAX_CHATS"] == "5"
    assert not any(v.startswith("http") and "127.0.0.1" not in v for k, v in env.items()
                   if k.startswith("HOTLINE_"))


def test_the_command_line_refuses_a_rate_over_the_per_socket_limit() -> None:
    args = chat_bench.parse(["--quick"])
    assert (args.customers, args.agents, args.seconds) == (100, 20, 10)
    assert [v.name for v in args.variant_list] == list(VARIANTS)
    assert chat_bench.parse(["--variants", "sqlite", "--rate", "50"]).customers == 1000
    with pytest.raises(SystemExit):
        chat_bench.parse(["--agents", "5", "--customers", "25", "--rate", "50"])
    with pytest.raises(SystemExit):
        chat_bench.parse(["--variants", "mysql"])


def test_slow_messages_sent_close_together_are_one_stall() -> None:
    led = Ledger()
    timing = {"a": (10.00, 0.120), "b": (10.02, 0.100), "c": (10.04, 0.080), "d": (20.0, 0.004),
              "e": (30.0, 0.050)}
    for n, (cid, (at, latency)) in enumerate(timing.items(), 1):
        led.on_send(C2A, "chat-1", cid, at, measured=True)
        led.on_message("agent", "chat-1", n, cid, at + latency)
    stalls = led.pauses(slow_s=0.025, gap_s=0.3)
    assert [(p.at, p.messages) for p in stalls] == [(10.0, 3), (30.0, 1)]
    assert stalls[0].worst_s == pytest.approx(0.120)
