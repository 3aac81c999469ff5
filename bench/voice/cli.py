"""The voice benchmark's command line: ``python -m bench.voice_bench`` (or ``bench.voice``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator

from bench import voice as voice_package
from bench.voice.measure import log
from bench.voice.plan import BYE_TIMEOUT_S, CLASSIC, RESULTS, VARIANTS
from bench.voice.report import best_rate, report, write_results
from bench.voice.run import Bench


@contextlib.contextmanager
def bench(args: argparse.Namespace) -> Iterator[Bench]:
    b = Bench(args)
    try:
        b.setup()
        yield b
    finally:
        b.teardown()
        log(f"logs kept in {b.work}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_bench",
                                     description=(voice_package.__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2-3 minute run (fewer, shorter "
                        "steps)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    parser.add_argument("--skip-throughput", action="store_true",
                        help="latency only (debugging the harness)")
    parser.add_argument("--skip-latency", action="store_true",
                        help="throughput only (a focused CPU/calls-per-second run)")
    parser.add_argument("--variants", type=lambda v: [x.strip() for x in v.split(",") if x],
                        help="comma-separated subset of fastagi,classic,native (default all)")
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",") if x],
                        help="FastAGI/native rates in calls/s, e.g. 40,60,80 (default: plan's)")
    parser.add_argument("--classic-rates", type=lambda v: [float(x) for x in v.split(",") if x],
                        help="pyst2 AGI rates in calls/s, e.g. 1,2 (default: plan's)")
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
    partial_run = bool(args.variants or args.rates or args.classic_rates or args.step_s
                       or args.skip_latency or args.profile or args.bye_timeout_s)
    if partial_run and not args.no_write:
        parser.error("a partial run (--variants/--rates/--classic-rates/--step-s/--skip-latency/"
                     "--profile/--bye-timeout-s) needs --no-write: RESULTS.md is for full runs")
    command = ".venv/bin/python -m bench.voice_bench" + (" --quick" if args.quick else "")
    started = time.time()
    load_before = os.getloadavg()[0]
    with bench(args) as b:
        steps = [] if args.skip_throughput else b.throughput()
        classic_max = best_rate(steps, CLASSIC.name) or 1.0
        lats = [] if args.skip_latency else \
            b.latency(min(b.plan.latency_rate, max(1.0, classic_max / 2)))
    section = report(steps, lats, command, started, args.quick, load_before)
    print()
    print(section)
    if not args.no_write:
        write_results(section)
        log(f"wrote the voice section of {RESULTS}")
    return 0
