"""Hotline's own CPU per FastAGI call, against a scripted Asterisk (no Asterisk, no SIPp).

The voice benchmark (``python -m bench.voice_bench``) measures whole calls through the sandbox
Asterisk; on a 2-core machine Asterisk's ~12-30 ms per call hides what the Hotline server
spends. This one isolates the server: the real ``hotline run --no-asterisk`` (flows, prompts,
self-service lookup against the bench's demo back-end process, records on SQLite, calls log,
CTI), driven by a scripted Asterisk that opens FastAGI connections and answers every command
the way Asterisk 22 does (TESTING.md), for the bench's own call (bench/voice/bench_menu.yaml:
key 1, digits 5678, a lookup, the result said, hang up).

Reported: the server's CPU (utime + stime from /proc, all its threads) and the back-end's per
call, calls/s achieved, and the added latency per AGI command (reply sent -> next command
received). ``--profile`` runs py-spy on the server for the measured part.

    .venv/bin/python -m bench.fastagi_cpu --calls 1500 --rate 50
    .venv/bin/python -m bench.fastagi_cpu --calls 1500 --rate 50 --rounds 3 \
        --compare before=/path/to/an/older/checkout     # alternating, medians side by side
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import shutil as _shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.voice.measure import cpu_seconds, percentile, thread_cpu
from bench.voice.plan import FASTAGI_PORT, FLOW, LOOPBACK
from bench.voice.services import server_env, start_backend, start_server, stop, wait_listening
from cti.app.config import Config, ensure_secrets

ENV_LINES = [
    "agi_network: yes", f"agi_network_script: {FLOW}",
    f"agi_request: agi://{LOOPBACK}:{FASTAGI_PORT}/{FLOW}", "agi_channel: PJSIP/carrier-{n:08x}",
    "agi_language: en", "agi_type: PJSIP", "agi_uniqueid: 1800000000.{n}",
    "agi_version: 22.10.0", "agi_callerid: {callerid}", "agi_calleridname: bench",
    "agi_callingpres: 0", "agi_callingani2: 0", "agi_callington: 0", "agi_callingtns: 0",
    "agi_dnid: 4008009999", "agi_rdnis: unknown", "agi_context: hotline",
    "agi_extension: 4008009999", "agi_priority: 2", "agi_enhanced: 0.0", "agi_accountcode: ",
    "agi_threadid: 140362117023424",
]


def reply(line: str, step: list[int]) -> str:
    """Asterisk's answer to one command of the bench call."""
    if line.startswith("GET DATA"):
        step[0] += 1
        return "200 result=1" if step[0] == 1 else "200 result=5678"
    if line.startswith("STREAM FILE"):
        return "200 result=0 endpos=8000"
    if line.startswith(("SAY ", "WAIT FOR DIGIT")):
        return "200 result=0"
    return "200 result=1"  # SET VARIABLE, GET VARIABLE, EXEC ...


NUMBERS = False  # --numbers: every call from a new phone number (a new customer each)


async def one_call(n: int, gaps: list[float]) -> bool:
    reader, writer = await asyncio.open_connection(LOOPBACK, FASTAGI_PORT)
    # As in the voice bench (SIPp's From: caller@...): no phone number, no customer lookup.
    callerid = f"1380013{n:04d}" if NUMBERS else "caller"
    env = "".join(line.format(n=n, callerid=callerid) + "\n" for line in ENV_LINES) + "\n"
    writer.write(env.encode())
    step = [0]
    done = False
    sent_at = time.perf_counter()
    try:
        while True:
            raw = await asyncio.wait_for(reader.readline(), 20)
            if not raw:
                break
            gaps.append(time.perf_counter() - sent_at)
            line = raw.decode().strip()
            if line == 'SET VARIABLE HOTLINE_DONE "1"':
                done = True
            writer.write((reply(line, step) + "\n").encode())
            sent_at = time.perf_counter()
    finally:
        writer.close()
    return done


async def run_calls(calls: int, concurrency: int, start: int,
                    rate: float = 0.0) -> tuple[int, list[float]]:
    """``calls`` calls, ``concurrency`` at a time, or (``rate`` > 0) started at ``rate`` per
    second whatever is still running (open loop, as callers arrive)."""
    gaps: list[float] = []
    if rate > 0:
        results: list[asyncio.Task[bool]] = []
        t0 = time.perf_counter()
        for i in range(calls):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            results.append(asyncio.create_task(one_call(start + i, gaps)))
        return sum(await asyncio.gather(*results)), gaps
    queue = iter(range(start, start + calls))
    done = 0

    async def worker() -> None:
        nonlocal done
        for n in queue:
            if await one_call(n, gaps):
                done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, gaps


def thread_names(pid: int) -> dict[str, str]:
    """OS thread id -> Python thread name (numbered pool threads folded into one name), from
    ``py-spy dump``; empty when py-spy is not installed."""
    spy = _shutil.which("py-spy")
    if spy is None:
        return {}
    out = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True,
                         timeout=30).stdout
    return {m[1]: re.sub(r"[-\d]+$", "", m[2])
            for m in re.finditer(r'Thread (\d+) \(\w+\): "([^"]+)"', out)}


@dataclass
class Measured:
    label: str
    calls: int
    done: int
    rate: float
    server_ms: float
    backend_ms: float
    by_thread: dict[str, float]
    gaps: list[float]


def start_server_of(checkout: Path, cfg: Config, log_file: Path) -> subprocess.Popen[bytes]:
    """``hotline run --no-asterisk`` of another checkout (its own .venv), configured as the
    bench configures this one's."""
    with log_file.open("wb") as fh:
        proc = subprocess.Popen([str(checkout / ".venv" / "bin" / "hotline"), "run",
                                 "--no-asterisk"], env=server_env(cfg), stdout=fh,
                                stderr=subprocess.STDOUT, cwd=checkout, start_new_session=True)
    wait_listening(proc, FASTAGI_PORT, log_file, f"hotline server of {checkout}", 90)
    return proc


def measure(label: str, checkout: Path | None, args: argparse.Namespace,
            backend: subprocess.Popen[bytes], work: Path) -> Measured:
    """One server (this checkout's, or ``checkout``'s), warmed up, then ``args.calls`` calls."""
    cfg = ensure_secrets(replace(Config(), data_dir=str(work / f"data-{label}")))
    log_file = work / f"server-{label}.log"
    server = start_server(cfg, log_file) if checkout is None else \
        start_server_of(checkout, cfg, log_file)
    spy = None
    try:
        asyncio.run(run_calls(args.warmup, args.concurrency, 0, args.rate))
        time.sleep(0.5)  # the warm-up's records are written
        if args.profile:
            spy = subprocess.Popen(["py-spy", "record", "-p", str(server.pid), "-f", "speedscope",
                                    "-o", f"{args.profile}.{label}", "-r", "200", "-t"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        names = thread_names(server.pid)
        threads0 = thread_cpu(server.pid)
        s0, b0, t0 = sum(cpu_seconds(server.pid)), sum(cpu_seconds(backend.pid)), time.time()
        done, gaps = asyncio.run(run_calls(args.calls, args.concurrency, args.warmup,
                                           args.rate))
        elapsed = time.time() - t0
        time.sleep(0.5)  # let the records writer finish the last batch
        s1, b1 = sum(cpu_seconds(server.pid)), sum(cpu_seconds(backend.pid))
        threads1 = thread_cpu(server.pid)
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
    finally:
        stop(server)
        if spy is not None and spy.poll() is None:
            spy.kill()
    by_name: dict[str, float] = {}
    for tid, cpu in threads1.items():
        name = names.get(tid, "other")
        by_name[name] = by_name.get(name, 0.0) + 1000 * (cpu - threads0.get(tid, 0.0)) / args.calls
    return Measured(label, args.calls, done, args.calls / elapsed,
                    1000 * (s1 - s0) / args.calls, 1000 * (b1 - b0) / args.calls, by_name, gaps)


def show(m: Measured) -> str:
    threads = ", ".join(f"{name} {ms:.2f}" for name, ms in
                        sorted(m.by_thread.items(), key=lambda kv: -kv[1]) if ms > 0.005)
    return (f"{m.label:>10}: {m.calls} calls ({m.done} done) at {m.rate:.0f}/s; server "
            f"{m.server_ms:.2f} ms/call [{threads}]; back-end {m.backend_ms:.2f} ms; added "
            f"latency per command p50/p95/p99 {1000 * percentile(m.gaps, 50):.2f}/"
            f"{1000 * percentile(m.gaps, 95):.2f}/{1000 * percentile(m.gaps, 99):.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fastagi_cpu",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="start calls at this rate (calls/s) instead of back to back")
    parser.add_argument("--numbers", action="store_true",
                        help="every call from a new phone number (a new customer record each)")
    parser.add_argument("--compare", metavar="LABEL=DIR", action="append", default=[],
                        help="also measure the server of another checkout (with its own .venv),"
                             " alternating with this one's; may be repeated")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of alternation (each measures every server once)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy speedscope profile to FILE")
    args = parser.parse_args(argv)
    global NUMBERS
    NUMBERS = args.numbers
    servers: list[tuple[str, Path | None]] = [
        (label, Path(path).resolve()) for label, _, path in
        (item.partition("=") for item in args.compare)] + [("this", None)]
    work = Path(tempfile.mkdtemp(prefix="hotline-fastagi-cpu-"))
    backend = None
    results: dict[str, list[Measured]] = {label: [] for label, _ in servers}
    try:
        backend = start_backend(work / "backend.log", work / "access.log")
        for round_no in range(args.rounds):
            order = servers if round_no % 2 == 0 else servers[::-1]
            for label, checkout in order:
                m = measure(label, checkout, args, backend, work)
                results[label].append(m)
                print(show(m), flush=True)
        if len(servers) > 1 or args.rounds > 1:
            print("median server CPU per call over the rounds:")
            for label, ms in results.items():
                med = statistics.median(m.server_ms for m in ms)
                print(f"  {label:>10}: {med:.2f} ms (rounds: "
                      f"{', '.join(f'{m.server_ms:.2f}' for m in ms)})")
        return 0 if all(m.done == m.calls for ms in results.values() for m in ms) else 1
    finally:
        stop(backend)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
