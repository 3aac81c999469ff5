"""Every benchmark in sequence, each with its default (full) settings: ``make bench``.

    .venv/bin/python -m bench.run_all                  # all of them (the voice bench: ~30 min)
    .venv/bin/python -m bench.run_all routing records  # some of them, in this order

Each runs as its own process (``python -m bench.NAME``), as its documented command does, and
writes its section of bench/RESULTS.md (the speech bench is given ``--write``: it writes
only when asked). A failing benchmark does not stop the others; the exit status is 1 if any
failed. Order: the quick pure ones first, the voice bench (sandbox Asterisk, SIPp) last.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# name -> the module's arguments (none: its defaults are the full run)
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "routing": (),
    "records": (),
    "speech": ("--write",),
    "chat": (),
    "voice": (),
}


def command(name: str) -> list[str]:
    return [sys.executable, "-m", f"bench.{name}_bench", *BENCHMARKS[name]]


def run(names: list[str]) -> int:
    results: list[tuple[str, int, float]] = []
    for name in names:
        cmd = command(name)
        print(f"== bench {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.run(cmd, cwd=REPO, check=False).returncode
        results.append((name, code, time.monotonic() - started))
    print("\n== benchmarks")
    for name, code, seconds in results:
        print(f"{name:8s} {'ok' if code == 0 else f'FAILED (exit {code})':18s} "
              f"{seconds / 60:5.1f} min")
    return 0 if all(code == 0 for _, code, _ in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which ones, in order (default all: {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}: choose from "
                     f"{', '.join(BENCHMARKS)}")
    return run(list(args.names) or list(BENCHMARKS))


if __name__ == "__main__":
    sys.exit(main())
