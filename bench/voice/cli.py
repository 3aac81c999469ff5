"""The voice benchmark's command line: ``python -m bench.voice_bench`` (or ``bench.voice``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator

from bench import voice as voice_package
from bench.voice.measure import log
from bench.voice.plan import (
    BYE_TIMEOUT_S,
    CLASSIC,
    FULL,
    QUICK,
    RATE_CAP,
    RESULTS,
    RTP_END,
    RTP_START,
    VARIANTS,
    plan_for,
)
from bench.voice.report import best_rate, report, write_results
from bench.voice.run import Bench


def rate_list(text: str) -> list[float]:
    """``40,60,80`` -> [40.0, 60.0, 80.0]; every rate > 0."""
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from exc
    if not rates or any(not r > 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be > 0: {text!r}")
    return rates


@contextlib.contextmanager
def bench(args: argparse.Namespace) -> Iterator[Bench]:
    b = Bench(args)
    try:
        b.setup()
        yield b
    finally:
        b.teardown()
        log(f"logs kept in {b.work}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked (a bad combination exits here, before anything starts)."""
    parser = argparse.ArgumentParser(prog="python -m bench.voice_bench",
                                     description=(voice_package.__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~5 minute run (6 s steps, a "
                        "coarser search: x2 ramp, 10 %% interval)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    parser.add_argument("--skip-throughput", action="store_true",
                        help="latency only (debugging the harness)")
    parser.add_argument("--skip-latency", action="store_true",
                        help="throughput only (a focused CPU/calls-per-second run)")
    parser.add_argument("--variants", type=lambda v: [x.strip() for x in v.split(",") if x],
                        help="comma-separated subset of fastagi,classic,native (default all)")
    parser.add_argument("--rates", type=rate_list,
                        help="FastAGI/native: these fixed rates in calls/s, e.g. 40,60,80, up "
                        "to the first failure, instead of the search")
    parser.add_argument("--classic-rates", type=rate_list,
                        help="pyst2 AGI: these fixed rates in calls/s, e.g. 1,2, instead of "
                        "the search")
    parser.add_argument("--start-rate", type=float,
                        help=f"FastAGI/native: the search's first rate (default "
                        f"{FULL.fast.next_rate(()) or 0:g}, quick "
                        f"{QUICK.fast.next_rate(()) or 0:g})")
    parser.add_argument("--cap", type=float,
                        help=f"FastAGI/native: the search's highest rate; passing it reports "
                        f"'max >= cap' (default and most {RATE_CAP:g}: RTP ports "
                        f"{RTP_START}-{RTP_END}, two per call)")
    parser.add_argument("--step-s", type=float, help="seconds of calls per step (default: "
                        "plan's)")
    parser.add_argument("--bye-timeout-s", type=float,
                        help=f"a call fails when the result has not ended (BYE) this long after "
                        f"the last digit (default {BYE_TIMEOUT_S:g}; 20 = the old, loose bound)")
    parser.add_argument("--profile", choices=("speedscope", "flamegraph", "raw"),
                        help="py-spy the Hotline server during each FastAGI step (inflates "
                        "its CPU figures; for finding costs only)")
    args = parser.parse_args(argv)
    if args.variants and not set(args.variants) <= {v.name for v in VARIANTS}:
        parser.error(f"--variants: choose from {', '.join(v.name for v in VARIANTS)}")
    if args.cap is not None and args.cap > RATE_CAP:
        parser.error(f"--cap: at most {RATE_CAP:g} calls/s (above it the RTP port range "
                     f"{RTP_START}-{RTP_END} runs out, not the variant)")
    try:
        plan_for(quick=args.quick, rates=args.rates, classic_rates=args.classic_rates,
                 step_s=args.step_s, start_rate=args.start_rate, cap=args.cap)
    except ValueError as exc:  # --rates with --start-rate/--cap, start above cap, ...
        parser.error(str(exc))
    partial_run = bool(args.variants or args.rates or args.classic_rates or args.step_s
                       or args.skip_latency or args.profile or args.bye_timeout_s
                       or args.start_rate is not None or args.cap is not None)
    if partial_run and not args.no_write:
        parser.error("a partial run (--variants/--rates/--classic-rates/--start-rate/--cap/"
                     "--step-s/--skip-latency/--profile/--bye-timeout-s) needs --no-write: "
                     "RESULTS.md is for full runs")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = ".venv/bin/python -m bench.voice_bench" + (" --quick" if args.quick else "")
    started = time.time()
    load_before = os.getloadavg()[0]
    with bench(args) as b:
        steps = [] if args.skip_throughput else b.throughput()
        classic_max = best_rate(steps, CLASSIC.name) or 1.0
        lats = [] if args.skip_latency else \
            b.latency(min(b.plan.latency_rate, max(1.0, classic_max / 2)))
    section = report(steps, lats, command, started, b.plan, args.quick, load_before)
    print()
    print(section)
    if not args.no_write:
        write_results(section)
        log(f"wrote the voice section of {RESULTS}")
    return 0
