"""The voice benchmark's run: its processes (demo back-end, Hotline server, the sandbox
instance ``bench``), one throughput step, the throughput and latency phases."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.sipp import run_load
from bench.voice import services
from bench.voice.instance import make_config, prompt_files, render_bench, scenario_xml
from bench.voice.measure import (
    Cpu,
    Latency,
    Step,
    cpu_by_thread_name,
    cpu_seconds,
    log,
    parse_latency,
    percentile,
    thread_cpu,
)
from bench.voice.plan import (
    AMI_PORT,
    BACKEND_PORT,
    BACKEND_URL,
    BYE_TIMEOUT_S,
    CACHE,
    CLASSIC,
    CONSOLE_PORT,
    CTI_API_PORT,
    FASTAGI,
    FASTAGI_PORT,
    FLOW,
    INSTANCE,
    ITR_PORT,
    LOOPBACK,
    NATIVE,
    SIP_PORT,
    VARIANTS,
    Variant,
    plan_for,
)
from bench.voice.search import interval, run_search
from cti.app.config import REPO_ROOT
from cti.app.sandbox import Sandbox, port_taken

BY_NAME = {v.name: v for v in VARIANTS}

# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = plan_for(quick=args.quick, rates=getattr(args, "rates", None),
                             classic_rates=getattr(args, "classic_rates", None),
                             step_s=getattr(args, "step_s", None),
                             start_rate=getattr(args, "start_rate", None),
                             cap=getattr(args, "cap", None))
        self.variants = set(getattr(args, "variants", None) or (v.name for v in VARIANTS))
        self.work = Path(tempfile.mkdtemp(prefix="hotline-voice-bench-"))
        self.data_dir = CACHE / "data"
        self.prompts_dir = CACHE / "prompts"
        sandbox_dir = os.environ.get("HOTLINE_SANDBOX_DIR", "")
        self.cfg = make_config(self.data_dir, self.prompts_dir, sandbox_dir)
        self.sandbox = Sandbox(self.cfg, INSTANCE)
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = self.work / "hotline-server.log"
        self.backend: subprocess.Popen[bytes] | None = None
        self.backend_log = self.work / "backend.log"
        self.access_log = self.work / "backend-access.log"  # one line per request
        self.scenario = self.work / "uac_bench.xml"
        bye_s = getattr(args, "bye_timeout_s", None) or BYE_TIMEOUT_S
        self.scenario.write_text(scenario_xml(bye_timeout_ms=int(bye_s * 1000)))
        self.files: dict[str, str] = {}
        self.asterisk_running = False

    # -- setup / teardown

    def check(self) -> None:
        if os.geteuid() != 0:
            raise SystemExit("voice bench: needs root (the sandbox uses chroot and mount)")
        for tool in ("sipp", "espeak-ng", "ffmpeg"):
            if not shutil.which(tool):
                raise SystemExit(f"voice bench: {tool} is not installed")
        for port, kind in ((SIP_PORT, socket.SOCK_DGRAM), (AMI_PORT, socket.SOCK_STREAM),
                           (FASTAGI_PORT, socket.SOCK_STREAM), (ITR_PORT, socket.SOCK_STREAM),
                           (CONSOLE_PORT, socket.SOCK_STREAM), (BACKEND_PORT, socket.SOCK_STREAM),
                           (CTI_API_PORT, socket.SOCK_STREAM)):
            if port_taken(LOOPBACK, port, kind):
                raise SystemExit(f"voice bench: 127.0.0.1:{port} is in use (another bench run?)")

    def setup(self) -> None:
        self.check()
        log(f"work dir {self.work}")
        self.sandbox.build(classic_agi=True)  # the chroot and its venv for classic AGI
        self.sandbox.stop()  # a leftover of an interrupted run
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prompts_dir.mkdir(parents=True, exist_ok=True)
        self.files = prompt_files(self.prompts_dir)
        self.start_backend()
        self.start_server()

    def start_backend(self) -> None:
        self.backend = services.start_backend(self.backend_log, self.access_log)
        log(f"demo back-end up (pid {self.backend.pid}, {BACKEND_URL})")

    def start_server(self) -> None:
        self.server = services.start_server(self.cfg, self.server_log)
        log(f"hotline server up (pid {self.server.pid}), prompts pre-built")

    def start_asterisk(self, *, verbose: bool) -> None:
        if self.asterisk_running:
            self.stop_asterisk()
        out = render_bench(self.sandbox, self.work / f"etc-{'verbose' if verbose else 'quiet'}",
                           self.files, verbose=verbose)
        # classic AGI reads flows, prompts, secrets: bind-mounted (and the repo)
        self.sandbox.start(out, classic_agi=True, fresh_logs=True)
        self.asterisk_running = True
        if not verbose:  # nobody reads the console during the bench
            self.sandbox.cli("core set verbose 0", check=False)
        if verbose:
            self.sandbox.cli("agi set debug on", check=False)
        log(f"asterisk instance {INSTANCE} up (pid {self.sandbox.pid()}, "
            f"{'verbose log + agi debug' if verbose else 'one log line per call'})")

    def stop_asterisk(self) -> None:
        if self.asterisk_running:
            # keep its log for the report
            with contextlib.suppress(OSError):
                shutil.copy(self.sandbox.messages_log,
                            self.work / f"messages-{time.time():.0f}.log")
            self.sandbox.stop()
            self.asterisk_running = False

    def teardown(self) -> None:
        self.stop_asterisk()
        for proc in (self.server, self.backend):  # the processes this bench started, by pid
            services.stop(proc)

    # -- one throughput step

    def channels(self) -> int:
        m = re.search(r"(\d+) active channels?",
                      self.sandbox.cli("core show channels count", check=False))
        return int(m.group(1)) if m else 0

    def settle(self, limit_s: float = 20.0) -> None:
        """Before the next step: no channel left and Asterisk + Hotline + the back-end nearly
        idle (under 5 % of a core over half a second), so one step's backlog does not count
        against the next."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            a = self.cpu()
            time.sleep(0.5)
            busy = self.cpu().total - a.total
            if busy < 0.025 and not self.channels():
                return
        log(f"  (not idle after {limit_s:.0f} s; going on)")

    def cpu(self) -> Cpu:
        """CPU seconds so far: Asterisk, its reaped children, the Hotline server, the back-end."""
        ast_own, ast_children = cpu_seconds(self.sandbox.pid())
        assert self.server is not None and self.backend is not None
        server_own, server_children = cpu_seconds(self.server.pid)
        backend_own, backend_children = cpu_seconds(self.backend.pid)
        return Cpu(ast_own, ast_children, server_own + server_children,
                   backend_own + backend_children)

    def lookups_since(self, mark: int) -> int:
        """Order lookups the back-end logged after byte ``mark`` of its access log."""
        if not self.access_log.exists():
            return 0
        with self.access_log.open("rb") as fh:
            fh.seek(mark)
            return sum(1 for line in fh if b'"GET /orders/' in line)

    @property
    def calls_log(self) -> Path:
        return self.data_dir / "calls.jsonl"  # the server's record of every finished call

    def server_finished(self, mark: int) -> int | None:
        """Calls the Hotline server recorded after ``mark`` as finished by the flow's own
        hang-up exit (None if this server version keeps no calls.jsonl)."""
        if not self.calls_log.exists():
            return None
        with self.calls_log.open("rb") as fh:
            fh.seek(mark)
            lines = fh.read().decode(errors="replace").splitlines()
        done = 0
        for line in lines:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                rec = json.loads(line)
                done += (rec.get("flow") == FLOW and rec.get("ended") == "exit"
                         and (rec.get("exit") or {}).get("kind") == "hangup")
        return done

    def step(self, variant: Variant, rate: float, seconds: float) -> Step:
        calls = max(1, round(rate * seconds))
        mark = self.sandbox.log_mark()
        calls_mark = self.calls_log.stat().st_size if self.calls_log.exists() else 0
        access_mark = self.access_log.stat().st_size if self.access_log.exists() else 0
        before = self.cpu()
        spy = self.start_profile(variant, rate)
        spy_threads = thread_cpu(self.server_pid) if spy is not None else {}
        run = run_load(self.scenario, SIP_PORT, variant.did, rate=rate, calls=calls,
                       work=self.work / f"{variant.name}-{rate:g}-{time.time():.0f}")
        if spy is not None:
            spy.wait(timeout=120)
            self.log_threads(spy_threads, Path(str(spy.args[-1])))  # type: ignore[index]
        time.sleep(1.0)  # last AGI scripts exit, last log lines are written
        after = self.cpu()
        text = self.sandbox.log_since(mark)
        done = sum(1 for line in text.splitlines()
                   if "NOTICE[" in line and line.endswith(variant.done_marker))
        other = sum(1 for line in text.splitlines() if "NOTICE[" in line
                    and ("HOTLINE after-flow" in line or "BENCH native failed" in line)
                    and not line.endswith(variant.done_marker))
        left = self.channels()
        note = ""
        if left:
            note = f"{left} channels left, hung up"
            self.sandbox.cli("channel request hangup all", check=False)
        self.settle()
        if other:
            note = f"{other} flows ended in their failure branch; {note}".rstrip("; ")
        if run.late:
            note = (f"{run.late} calls late (their result not over within the BYE bound after "
                    f"the last digit); {note}").rstrip("; ")
        if run.rc not in (0, 1) and not note:
            note = f"sipp exit {run.rc}"
        cpu = Cpu(after.ast - before.ast, after.ast_children - before.ast_children,
                  after.server - before.server, after.backend - before.backend)
        st = Step(variant.name, rate, calls, run.ok, run.failed, done, run.seconds, cpu, note,
                  self.server_finished(calls_mark) if variant is FASTAGI else None,
                  self.lookups_since(access_mark), run.call_s)
        per = cpu.per_call(done)
        log(f"  {variant.name:8s} {rate:6g}/s  calls {calls:5d} ok {run.ok:5d} "
            f"failed {run.failed:4d} done {done:5d}"
            f"{'' if st.server_done is None else f' server {st.server_done:5d}'} "
            f"lookups {st.lookups:5d}  cpu/call {per.total:6.1f} ms "
            f"(ast {per.ast:.1f} + children {per.ast_children:.1f} + hotline "
            f"{per.server:.1f} + backend {per.backend:.1f})  "
            f"{'PASS' if st.passed else 'FAIL'} {note}")
        if not st.passed and run.errors:
            tail = run.errors.strip().splitlines()[-3:]
            log("    sipp errors: " + " | ".join(line[:160] for line in tail))
        return st

    def start_profile(self, variant: Variant, rate: float) -> subprocess.Popen[bytes] | None:
        """``--profile``: py-spy records the Hotline server during a FastAGI step (its CPU
        is then inflated by the sampling: use such runs for the profile, not the figures)."""
        if not self.args.profile or variant is not FASTAGI or self.server is None:
            return None
        spy = shutil.which("py-spy") or str(REPO_ROOT / ".venv" / "bin" / "py-spy")
        out = self.work / f"profile-{variant.name}-{rate:g}"
        args = [spy, "record", "--pid", str(self.server.pid), "--duration",
                str(max(1, int(self.plan.step_s))), "--rate", "100", "--nonblocking",
                "--threads",
                "--format", self.args.profile, "-o", f"{out}.{self.args.profile}"]
        log(f"  profiling the server into {out}.{self.args.profile}")
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def server_pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    def log_threads(self, before: dict[str, float], profile: Path) -> None:
        """The step's server CPU by Python thread name (the raw profile names OS threads)."""
        text = profile.read_text(errors="replace") if profile.exists() else ""
        spent = cpu_by_thread_name(before, thread_cpu(self.server_pid), text)
        log("    server CPU by thread: " + ", ".join(
            f"{k} {v:.2f} s" for k, v in sorted(spent.items(), key=lambda x: -x[1]) if v))

    def throughput(self) -> list[Step]:
        """Every variant's search for its maximum (bench/voice/search.py): pyst2 first and
        alone, then FastAGI and native alternating step by step. Returns every step run."""
        steps: list[Step] = []
        self.start_asterisk(verbose=False)
        self.settle()

        def trial(seconds: float) -> Callable[[str, float], bool]:
            def run(name: str, rate: float) -> bool:
                steps.append(self.step(BY_NAME[name], rate, seconds))
                return steps[-1].passed
            return run

        # pyst2 first: its steps are small and it must not start on the backlog of a failed
        # FastAGI/native step at 100 calls/s.
        phases = (({CLASSIC.name: self.plan.classic}, self.plan.classic_step_s,
                   "pyst2 process-per-call AGI"),
                  ({v.name: self.plan.fast for v in (FASTAGI, NATIVE)}, self.plan.step_s,
                   "FastAGI vs native, alternating"))
        for searches, seconds, title in phases:
            chosen = {k: v for k, v in searches.items() if k in self.variants}
            if not chosen:
                continue
            method = next(iter(chosen.values())).describe()
            log(f"throughput: {title}, {seconds:g} s steps, {method}")
            tried = run_search(chosen, trial(seconds))
            for name, outcomes in tried.items():
                log(f"  {name}: {interval(chosen[name], outcomes).text} "
                    f"({len(outcomes)} steps)")
        return steps

    # -- latency

    def latency(self, classic_rate: float) -> list[Latency]:
        self.start_asterisk(verbose=True)
        out: list[Latency] = []
        for v in VARIANTS:
            rate = self.plan.latency_rate if v is not CLASSIC else classic_rate
            calls = max(5, round(rate * self.plan.latency_s))
            mark = self.sandbox.log_mark()
            run = run_load(self.scenario, SIP_PORT, v.did, rate=rate, calls=calls,
                           work=self.work / f"latency-{v.name}-{time.time():.0f}")
            time.sleep(1.0)
            lat = parse_latency(v, self.sandbox.log_since(mark))
            log(f"  latency {v.name:8s} {rate:g}/s calls {calls} ok {run.ok} failed {run.failed}"
                f"  menu p50/p95 {percentile(lat.menu_ms, 50):.1f}/"
                f"{percentile(lat.menu_ms, 95):.1f} ms  collect p50/p95 "
                f"{percentile(lat.collect_ms, 50):.1f}/{percentile(lat.collect_ms, 95):.1f} ms")
            out.append(lat)
        self.stop_asterisk()
        return out


