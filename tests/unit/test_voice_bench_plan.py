"""The voice benchmark's search for each variant's maximum rate (bench/voice/search.py), its
plans and overrides (plan.py, cli.py), its wiring into the throughput phase (run.py) and the
report (report.py), all with made-up step outcomes: no Asterisk, no SIPp, no processes."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.voice import cli
from bench.voice.measure import Cpu, Latency, Step
from bench.voice.plan import (
    CLASSIC,
    FASTAGI,
    FLOORS,
    FULL,
    LONGEST_CALL_S,
    NATIVE,
    QUICK,
    RATE_CAP,
    RTP_END,
    RTP_START,
    Plan,
    Variant,
    plan_for,
)
from bench.voice.report import NOTES, best_rate, intervals, report
from bench.voice.run import Bench
from bench.voice.search import (
    FixedRates,
    Interval,
    Outcome,
    Ramp,
    Strategy,
    interval,
    passing_ratio,
    ratio_bounds,
    round_plan,
    run_search,
)

# ------------------------------------------------------------------ helpers


def ramp(search: Strategy) -> Ramp:
    assert isinstance(search, Ramp)
    return search


FULL_FAST, FULL_CLASSIC = ramp(FULL.fast), ramp(FULL.classic)
QUICK_FAST, QUICK_CLASSIC = ramp(QUICK.fast), ramp(QUICK.classic)


def machine(capacity: float) -> Callable[[str, float], bool]:
    """A variant that passes every rate up to ``capacity`` and fails above it."""
    return lambda _name, rate: rate <= capacity


def search_one(search: Strategy, capacity: float) -> list[Outcome]:
    return run_search({"v": search}, machine(capacity))["v"]


def rates(tried: list[Outcome]) -> list[float]:
    return [o.rate for o in tried]


def assert_brackets(search: Ramp, tried: list[Outcome], capacity: float) -> tuple[float, float]:
    """The search ended with an interval [lo, hi) that holds ``capacity`` and is as narrow as
    asked (or no grid rate is left inside it)."""
    iv = interval(search, tried)
    assert search.next_rate(tried) is None
    assert iv.hi is not None
    assert iv.lo <= capacity < iv.hi
    if iv.lo:
        assert iv.hi / iv.lo <= 1 + search.precision + 1e-9 \
            or iv.hi - iv.lo <= search.resolution + 1e-9
    else:  # nothing passed: it walked down to the smallest rate
        assert iv.hi == search.resolution
    return iv.lo, iv.hi


# ------------------------------------------------------------------ the ramp and bisection


def test_a_variant_whose_capacity_is_87_ends_within_5_percent_around_87() -> None:
    tried = search_one(FULL_FAST, 87)
    lo, hi = assert_brackets(FULL_FAST, tried, 87)
    assert lo <= 87 < hi and hi / lo <= 1.05
    assert rates(tried)[:4] == [30, 45, 68, 102]  # the ramp up to its first failure
    assert interval(FULL_FAST, tried).text == f"passed {lo:g}, failed {hi:g}: max in " \
        f"[{lo:g}, {hi:g})"


def test_the_full_ramp_grows_by_half_per_passing_step_up_to_the_cap() -> None:
    tried = search_one(FULL_FAST, 10_000)
    assert rates(tried) == [30, 45, 68, 102, 153, 230, 345, 400]
    assert all(o.passed for o in tried)
    iv = interval(FULL_FAST, tried)
    assert iv == Interval(400, None, capped=True)
    assert iv.text == "passed 400: max ≥ 400 (the cap)"
    assert FULL_FAST.next_rate(tried) is None


def test_passing_the_cap_ends_the_search_and_the_cap_is_tried_itself() -> None:
    ramp = Ramp(start=50, growth=1.5, precision=0.05, cap=120)
    tried = search_one(ramp, 500)
    assert rates(tried) == [50, 75, 112, 120]  # 168 would pass the cap: the cap instead
    assert interval(ramp, tried).capped


def test_a_capacity_just_below_the_cap_is_bisected_under_the_cap() -> None:
    tried = search_one(FULL_FAST, 399)
    _, hi = assert_brackets(FULL_FAST, tried, 399)
    assert hi == 400 and not interval(FULL_FAST, tried).capped
    assert max(rates(tried)) == 400


def test_after_the_first_failure_it_bisects_at_the_geometric_midpoint() -> None:
    tried = [Outcome(30, True), Outcome(45, True), Outcome(68, True), Outcome(102, True),
             Outcome(153, False)]
    assert FULL_FAST.next_rate(tried) == round(math.sqrt(102 * 153))  # 125
    tried.append(Outcome(125, True))
    assert FULL_FAST.next_rate(tried) == round(math.sqrt(125 * 153))  # 138
    tried.append(Outcome(138, False))
    assert FULL_FAST.next_rate(tried) == 131
    tried.append(Outcome(131, True))
    assert FULL_FAST.next_rate(tried) == 134  # 138 / 131 = 1.053: not yet within 5 %
    tried.append(Outcome(134, False))
    assert FULL_FAST.next_rate(tried) is None  # 134 / 131 = 1.023


def test_a_failure_at_the_very_first_rate_walks_down_then_bisects() -> None:
    tried = search_one(FULL_FAST, 12)
    assert rates(tried)[:4] == [30, 20, 13, 9]  # / 1.5 per failing step, whole calls/s
    assert [o.passed for o in tried[:4]] == [False, False, False, True]
    assert assert_brackets(FULL_FAST, tried, 12) == (12, 13)


def test_a_variant_that_passes_nothing_ends_at_the_smallest_rate() -> None:
    tried = search_one(FULL_FAST, 0)
    assert not any(o.passed for o in tried)
    assert rates(tried)[-1] == 1
    iv = interval(FULL_FAST, tried)
    assert (iv.lo, iv.hi, iv.capped) == (0, 1, False)
    assert iv.text == "failed 1: max < 1 (no rate tried passed)"
    assert rates(tried) == sorted(rates(tried), reverse=True)


def test_the_classic_search_works_in_tenths_of_a_call_per_second() -> None:
    tried = search_one(FULL_CLASSIC, 3.34)
    assert rates(tried)[:3] == [1, 2, 4]
    lo, hi = assert_brackets(FULL_CLASSIC, tried, 3.34)
    assert hi / lo <= 1.10
    assert all(abs(r * 10 - round(r * 10)) < 1e-9 for r in rates(tried))


def test_the_quick_search_is_short_and_coarser() -> None:
    for capacity in (25, 57, 87, 130):
        tried = search_one(QUICK_FAST, capacity)
        lo, hi = assert_brackets(QUICK_FAST, tried, capacity)
        assert hi / lo <= 1.10
        assert len(tried) <= 8
    for slow in (1.5, 3.3):
        assert len(search_one(QUICK_CLASSIC, slow)) <= 5


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=450, allow_nan=False))
def test_any_capacity_ends_bracketed_or_at_the_cap(capacity: float) -> None:
    tried = search_one(FULL_FAST, capacity)
    rs = rates(tried)
    assert len(rs) == len(set(rs)) <= 20
    assert all(1 <= r <= RATE_CAP and r == round(r) for r in rs)
    if capacity >= RATE_CAP:
        assert interval(FULL_FAST, tried).capped
    else:
        assert_brackets(FULL_FAST, tried, capacity)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=40, max_size=40),
       st.sampled_from([FULL_FAST, FULL_CLASSIC, QUICK_FAST, QUICK_CLASSIC]))
def test_noisy_outcomes_still_end_with_a_consistent_interval(
        coin: list[bool], search: Ramp) -> None:
    """Steps near a maximum pass or fail by chance: whatever they say, the search ends, never
    repeats a rate, and every pass lies below every failure."""
    flips = iter(coin)
    tried = run_search({"v": search}, lambda _n, _r: next(flips))["v"]
    rs = rates(tried)
    assert len(rs) == len(set(rs)) < 40
    assert max((o.rate for o in tried if o.passed), default=0) \
        < min((o.rate for o in tried if not o.passed), default=math.inf)
    assert search.next_rate(tried) is None


@pytest.mark.parametrize("kwargs", [
    {"start": 0, "growth": 1.5, "precision": 0.05, "cap": 400},
    {"start": 500, "growth": 1.5, "precision": 0.05, "cap": 400},
    {"start": 30, "growth": 1.0, "precision": 0.05, "cap": 400},
    {"start": 30, "growth": 1.5, "precision": 0.0, "cap": 400},
])
def test_a_ramp_that_could_not_end_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Ramp"):
        Ramp(**kwargs)


# ------------------------------------------------------------------ fixed rates (--rates)


def test_fixed_rates_walk_in_order_and_stop_at_the_first_failure() -> None:
    fixed = FixedRates((40, 60, 80, 100))
    tried = search_one(fixed, 65)
    assert rates(tried) == [40, 60, 80]
    assert interval(fixed, tried) == Interval(60, 80)


def test_fixed_rates_all_passed_report_at_least_the_last() -> None:
    fixed = FixedRates((40, 60))
    tried = search_one(fixed, 1000)
    iv = interval(fixed, tried)
    assert rates(tried) == [40, 60] and iv.capped and iv.text.startswith("passed 60: max ≥ 60")


def test_fixed_rates_failing_at_the_first_rate_run_one_step() -> None:
    fixed = FixedRates((40, 60))
    tried = search_one(fixed, 10)
    assert rates(tried) == [40] and interval(fixed, tried) == Interval(0, 40)


@pytest.mark.parametrize("bad", [(), (40, 40), (60, 40), (0, 10)])
def test_fixed_rates_must_be_positive_and_rising(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="FixedRates"):
        FixedRates(bad)


def test_the_rates_override_replaces_the_fast_search_with_a_sorted_fixed_list() -> None:
    plan = plan_for(rates=[80, 40, 60, 40])
    assert plan.fast == FixedRates((40, 60, 80))
    assert plan.classic == FULL.classic and plan.step_s == FULL.step_s
    assert plan_for(classic_rates=[2, 1]).classic == FixedRates((1, 2))
    assert plan_for(quick=True, rates=[5]).step_s == QUICK.step_s


def test_start_rate_and_cap_set_the_fast_ramp_only() -> None:
    plan = plan_for(start_rate=50, cap=200)
    assert plan.fast == Ramp(start=50, growth=1.5, precision=0.05, cap=200)
    assert plan.classic == FULL.classic
    assert rates(search_one(plan.fast, 1000)) == [50, 75, 112, 168, 200]
    assert plan_for(quick=True, cap=100).fast == Ramp(20, 2.0, 0.10, 100)


def test_a_fixed_list_with_a_start_rate_or_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="--rates"):
        plan_for(rates=[40], cap=100)
    with pytest.raises(ValueError, match="Ramp"):
        plan_for(start_rate=300, cap=100)


def test_step_s_sets_both_step_lengths() -> None:
    plan = plan_for(step_s=20)
    assert (plan.step_s, plan.classic_step_s) == (20, 20)
    assert plan_for() == FULL and plan_for(quick=True) == QUICK


# ------------------------------------------------------------------ alternation


def test_variants_alternate_who_goes_first_at_each_rate_while_both_ramp() -> None:
    log: list[tuple[str, float]] = []

    def trial(name: str, rate: float) -> bool:
        log.append((name, rate))
        return rate <= 1000

    run_search({"fastagi": FULL_FAST, "native": FULL_FAST}, trial)
    assert log[:6] == [("fastagi", 30), ("native", 30), ("native", 45), ("fastagi", 45),
                       ("fastagi", 68), ("native", 68)]
    assert len(log) == 16 and {r for _, r in log[-2:]} == {400}


def test_a_variant_whose_search_ended_leaves_the_other_to_go_on_alone() -> None:
    log: list[tuple[str, float]] = []
    capacity = {"fastagi": 40, "native": 130}

    def trial(name: str, rate: float) -> bool:
        log.append((name, rate))
        return rate <= capacity[name]

    tried = run_search({"fastagi": FULL_FAST, "native": FULL_FAST}, trial)
    last_fastagi = max(i for i, (n, _) in enumerate(log) if n == "fastagi")
    alone = log[last_fastagi + 1:]
    assert alone and all(n == "native" for n, _ in alone)
    assert [(n, r) for n, r in log if n == "native"] == [("native", o.rate)
                                                         for o in tried["native"]]
    for name, cap in capacity.items():
        assert_brackets(FULL_FAST, tried[name], cap)


def test_in_the_bisection_each_variant_runs_its_own_next_rate() -> None:
    tried = {"fastagi": [Outcome(102, True), Outcome(153, False)],
             "native": [Outcome(68, True), Outcome(102, False)]}
    searches = {"fastagi": FULL_FAST, "native": FULL_FAST}
    assert round_plan(searches, tried, 4) == [("fastagi", 125), ("native", 83)]
    assert round_plan(searches, tried, 5) == [("native", 83), ("fastagi", 125)]
    done = {**tried, "native": [Outcome(100, True), Outcome(104, False)]}
    assert round_plan(searches, done, 5) == [("fastagi", 125)]
    assert round_plan({}, {}, 0) == []


def test_a_single_variant_search_runs_alone() -> None:
    tried = run_search({"native": FULL_FAST}, machine(60))
    assert list(tried) == ["native"]
    assert_brackets(FULL_FAST, tried["native"], 60)


# ------------------------------------------------------------------ intervals and ratios


def test_the_ratio_of_two_maxima_is_an_interval() -> None:
    fa, na = Interval(118, 124), Interval(128, 134)
    assert ratio_bounds(fa, na) == (118 / 134, 124 / 128)
    assert passing_ratio(fa, na) == 118 / 128
    assert ratio_bounds(fa, Interval(400, None, capped=True)) == (0.0, 124 / 400)
    assert ratio_bounds(Interval(400, None, capped=True), na) == (400 / 134, math.inf)
    assert ratio_bounds(fa, Interval(0, 10)) == (11.8, math.inf)
    assert math.isnan(passing_ratio(fa, Interval(0, 10)))


def test_an_interval_not_run_is_not_measured() -> None:
    iv = interval(FULL_FAST, [])
    assert not iv.measured and iv.text == "not measured"


# ------------------------------------------------------------------ plan constants


def test_the_cap_fits_the_rtp_port_range() -> None:
    ports = RTP_END - RTP_START + 1
    assert RATE_CAP == 400
    assert RATE_CAP * LONGEST_CALL_S * 2 <= ports
    assert FULL_FAST.ceiling == QUICK_FAST.ceiling == RATE_CAP
    assert f"cap ({RATE_CAP:g} calls/s" in NOTES and f"max ≥ {RATE_CAP:g}" in NOTES


def test_the_vs_native_floor_is_085() -> None:
    assert FLOORS["vs_native"] == 0.85


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize("argv", [
    ["--rates", "40,60", "--start-rate", "20", "--no-write"],
    ["--rates", "40,60", "--cap", "100", "--no-write"],
    ["--cap", "500", "--no-write"],
    ["--start-rate", "300", "--cap", "200", "--no-write"],
    ["--start-rate", "0", "--no-write"],
    ["--rates", "40,-1", "--no-write"],
    ["--rates", "forty", "--no-write"],
    ["--cap", "200"],  # a partial run must not write RESULTS.md
    ["--start-rate", "50"],
    ["--rates", "40,60"],
])
def test_the_command_line_refuses_bad_combinations(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parse(argv)
    assert exc.value.code == 2


def test_the_command_line_takes_a_start_rate_and_a_cap() -> None:
    args = cli.parse(["--start-rate", "50", "--cap", "300", "--no-write"])
    assert (args.start_rate, args.cap) == (50, 300)
    assert cli.parse(["--rates", "60,40", "--no-write"]).rates == [60, 40]
    assert cli.parse(["--quick"]).quick


# ------------------------------------------------------------------ run.py's wiring


class FakeBench(Bench):
    """Bench.throughput with its step replaced by made-up outcomes (same signature); no
    Asterisk, no SIPp."""

    def __init__(self, plan: Plan, capacity: dict[str, float], variants: set[str]) -> None:
        self.plan = plan
        self.variants = variants
        self.capacity = capacity
        self.asterisk_started = 0

    def start_asterisk(self, *, verbose: bool) -> None:
        self.asterisk_started += 1

    def settle(self, limit_s: float = 20.0) -> None:
        pass

    def step(self, variant: Variant, rate: float, seconds: float) -> Step:
        calls = max(1, round(rate * seconds))
        ok = calls if rate <= self.capacity[variant.name] else calls // 2
        return Step(variant.name, rate, calls, ok, calls - ok, ok, seconds,
                    Cpu(ast=0.02 * ok, server=0.005 * ok, backend=0.002 * ok))


CAPACITY = {"classic": 3.3, "fastagi": 118.5, "native": 131.0}


def fake_steps(plan: Plan = FULL, variants: set[str] | None = None) -> list[Step]:
    return FakeBench(plan, CAPACITY, variants or set(CAPACITY)).throughput()


def test_throughput_runs_pyst2_first_then_alternates_fastagi_and_native() -> None:
    steps = fake_steps()
    names = [s.variant for s in steps]
    n_classic = names.count("classic")
    assert names[:n_classic] == ["classic"] * n_classic and n_classic >= 4
    fast = steps[n_classic:]
    assert [(s.variant, s.rate) for s in fast[:4]] == [
        ("fastagi", 30), ("native", 30), ("native", 45), ("fastagi", 45)]
    assert {s.seconds for s in steps[:n_classic]} == {FULL.classic_step_s}
    assert {s.seconds for s in fast} == {FULL.step_s}
    found = intervals(steps, FULL)
    for name, cap in CAPACITY.items():
        iv = found[name]
        assert iv.hi is not None and iv.lo <= cap < iv.hi
    assert best_rate(steps, "fastagi") == found["fastagi"].lo


def test_throughput_runs_only_the_chosen_variants() -> None:
    steps = fake_steps(variants={"native"})
    assert {s.variant for s in steps} == {"native"}


def test_throughput_with_fixed_rates_walks_the_list() -> None:
    steps = fake_steps(plan_for(rates=[60, 120, 125]), variants={"fastagi", "native"})
    assert [(s.variant, s.rate) for s in steps] == [
        ("fastagi", 60), ("native", 60), ("native", 120), ("fastagi", 120), ("native", 125)]


# ------------------------------------------------------------------ the report


def section(steps: list[Step], plan: Plan = FULL, lats: list[Latency] | None = None) -> str:
    return report(steps, lats or [], "cmd", 0.0, plan, quick=False, load_before=0.1)


def floor_line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_the_report_gives_each_variants_interval_and_the_ratio_with_its_uncertainty() -> None:
    steps = fake_steps()
    text = section(steps)
    found = intervals(steps, FULL)
    fa, na = found["fastagi"], found["native"]
    for v in (FASTAGI, NATIVE, CLASSIC):
        assert f"| {v.label} | {found[v.name].text} |" in text
    line = floor_line(text, "- FastAGI / native")
    low, high = ratio_bounds(fa, na)
    assert f"= {fa.lo:g} / {na.lo:g} = {fa.lo / na.lo:.2f}" in line
    assert f"lies in {low:.2f} .. {high:.2f}" in line
    assert "(floor 0.85): met" in line
    assert "How the maxima were found: FastAGI and native from 30 calls/s, x1.5 per" in text
    assert "- Hotline FastAGI: 30 ✓ 45 ✓ 68 ✓ 102 ✓ 153 ✗" in text


def test_the_report_keeps_a_row_per_step() -> None:
    steps = fake_steps()
    rows = [line for line in section(steps).splitlines()
            if line.startswith(("| fastagi |", "| native |", "| classic |"))]
    assert len(rows) == len(steps)
    assert rows[0].startswith("| classic | 1 | 15 | 15 | 0 | 15 |")
    assert sum("FAIL" in r for r in rows) == sum(not s.passed for s in steps)


def test_a_ratio_below_the_floor_is_missed() -> None:
    slow = {"classic": 3.3, "fastagi": 90.0, "native": 131.0}
    steps = FakeBench(FULL, slow, set(slow)).throughput()
    assert "**MISSED**" in floor_line(section(steps), "- FastAGI / native")


def test_a_floor_inside_the_ratios_interval_is_flagged() -> None:
    steps = [Step("fastagi", 100, 1, 1, 0, 1, 1.0, Cpu()),
             Step("fastagi", 105, 1, 0, 1, 0, 1.0, Cpu()),
             Step("native", 117, 1, 1, 0, 1, 1.0, Cpu()),
             Step("native", 122, 1, 0, 1, 0, 1.0, Cpu())]
    line = floor_line(section(steps), "- FastAGI / native")
    assert "100 / 117 = 0.85" in line and ": met" in line  # 100/117 = 0.8547
    assert "within the search's resolution" in line  # 100/122 = 0.82 .. 105/117 = 0.90


def test_both_variants_past_the_cap_leave_the_ratio_unmeasured() -> None:
    big = {"classic": 3.3, "fastagi": 1000.0, "native": 1000.0}
    text = section(FakeBench(FULL, big, set(big)).throughput())
    assert "max ≥ 400 (the cap)" in text
    assert "both passed the cap of 400 calls/s" in floor_line(text, "- FastAGI / native")


def test_a_variant_not_run_is_not_measured_in_the_floors() -> None:
    steps = fake_steps(variants={"native", "classic"})
    line = floor_line(section(steps), "- FastAGI / native")
    assert "not measured, FastAGI did not run" in line


def test_a_classic_that_passed_nothing_leaves_its_floor_unmeasured() -> None:
    none = {"classic": 0.0, "fastagi": 118.5, "native": 131.0}
    text = section(FakeBench(FULL, none, set(none)).throughput())
    assert "pyst2 process-per-call passed no rate tried" in floor_line(
        text, "- FastAGI / pyst2")


def test_the_report_names_a_fixed_rate_run_as_such() -> None:
    plan = plan_for(rates=[60, 120, 125])
    text = section(fake_steps(plan), plan)
    assert "FastAGI and native the fixed rates 60, 120, 125 calls/s" in text


def test_parse_ignores_nothing_it_was_given() -> None:
    args = cli.parse(["--variants", "fastagi,native", "--step-s", "10", "--no-write"])
    assert isinstance(args, argparse.Namespace)
    assert args.variants == ["fastagi", "native"] and args.step_s == 10
