"""Voice benchmark: Hotline over FastAGI vs Hotline over pyst2 process-per-call AGI vs the same
menu written natively in Asterisk dialplan, on one sandbox Asterisk instance (``bench``).

One call (bench/voice/uac_bench.xml, SIPp): INVITE, wait for the menu, key 1 (SIP INFO),
digits 5678, the back-end lookup, "Result" + SAY DIGITS, Asterisk hangs up. Every variant's
lookup is a real HTTP GET /orders/12345678 against one demo back-end process of its own
(bench/voice/backend.py): the Hotline server runs with its in-process demo back-end off, the
pyst2 scripts read the same base URL from the rendered hotline-agi.toml, and the native
dialplan uses CURL() + JSON_DECODE().

Phases (the variants alternate inside every phase, so machine noise hits all of them):

1. throughput: at each rate (calls/s, a bounded number of calls per step), every variant still
   without a failure runs one step; a step passes when SIPp reports every call successful *and*
   Asterisk's log shows every flow finished (``HOTLINE after-flow ... done=1 exit=hangup``
   for Hotline, set by the Hotline server through HOTLINE_DONE; ``BENCH native done`` for the
   dialplan). CPU per step: utime+stime deltas of Asterisk, of the Hotline server and of the
   back-end process, and Asterisk's reaped children (cutime+cstime: the process-per-call AGI
   scripts).
2. latency: a moderate-load run per variant with Asterisk's millisecond log, verbose 3 and
   ``agi set debug on``: DTMF -> next prompt, measured inside Asterisk the same way for all:
   AGI: ``AGI Tx >> 200 result=<key or digits>`` -> the next ``AGI Rx << STREAM FILE/GET
   DATA/SAY``; native: the first ``Executing`` after ``Read()`` -> ``Executing Read/Playback``.

Run (root, sandbox built, ``asterisk_conf/sandbox.sh agi-venv`` done):
    .venv/bin/python -m bench.voice_bench            # about 15 minutes (minute-long steps)
    .venv/bin/python -m bench.voice_bench --quick    # about 3 minutes
Everything listens on and sends to 127.0.0.1 only; the instance ``bench`` is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from asterisk_conf.render import CLASSIC_AGI_PREFIX, NATIVE_MENU_DID, agi_bind_dirs, render
from cti.app.config import REPO_ROOT, Config
from ivr_flows.voice.prompts import PromptStore

HERE = Path(__file__).resolve().parent
VOICE = HERE / "voice"
RESULTS = HERE / "RESULTS.md"
SANDBOX = REPO_ROOT / "asterisk_conf" / "sandbox.sh"
LOOPBACK = "127.0.0.1"
INSTANCE = "bench"
SIP_PORT, AMI_PORT, FASTAGI_PORT = 17060, 17038, 17573
ITR_PORT, CONSOLE_PORT, BACKEND_PORT, CTI_API_PORT = 17080, 17090, 17081, 17070
RTP_START, RTP_END = 30000, 39999
BACKEND_URL = f"http://{LOOPBACK}:{BACKEND_PORT}"
# The Hotline server and the back-end run in sessions of their own, as services do (and as
# asterisk_conf/sandbox.sh starts Asterisk): with the kernel's autogroup scheduling
# (/proc/sys/kernel/sched_autogroup_enabled) or systemd's per-service cgroups, a saturated
# machine shares its CPU per service, not per thread. SIPp stays in the bench's session.
SERVICE_SESSIONS = True
# Loaded for the bench instance only (native.conf's lookup), not in asterisk_conf/templates.
BENCH_MODULES = ("res_curl.so", "func_curl.so", "func_json.so")
FLOW = "bench_menu"
FASTAGI_DID = "4008007001"
CLASSIC_DID = CLASSIC_AGI_PREFIX + FASTAGI_DID
KEY, DIGITS = "1", "5678"
PROMPTS = {"menu_file": "Press 1.", "code_file": "Enter code.", "result_file": "Result"}
CACHE = Path.home() / ".cache" / "hotline" / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FLOORS = {"vs_native": 0.8, "vs_classic": 10.0, "added_p95_ms": 20.0}


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    did: str
    done_marker: str  # a log line per finished call


FASTAGI = Variant("fastagi", "Hotline FastAGI", FASTAGI_DID,
                  "HOTLINE after-flow flow=bench_menu agistatus=SUCCESS done=1 exit=hangup")
CLASSIC = Variant("classic", "Hotline pyst2 AGI (process per call)", CLASSIC_DID,
                  "HOTLINE after-flow flow=bench_menu agistatus=SUCCESS done=1 exit=hangup")
NATIVE = Variant("native", "Native dialplan", NATIVE_MENU_DID, "BENCH native done")
VARIANTS = (FASTAGI, CLASSIC, NATIVE)


@dataclass(frozen=True)
class Plan:
    fast_rates: tuple[float, ...]  # FastAGI and native
    classic_rates: tuple[float, ...]
    step_s: float  # seconds of calls per FastAGI/native step
    latency_rate: float
    latency_s: float
    classic_step_s: float = 15.0  # pyst2 fails far below the others; short steps suffice


# A minute of calls per step: the machine must keep up with a rate, not absorb a burst (a
# 15 s step with 6-10 s calls let either variant "pass" well above what it can sustain,
# its calls only getting later). Finer rates where the two variants run out of CPU.
FULL = Plan((10, 30, 50, 55, 60, 65, 70, 75, 80, 90), (1, 2, 4, 6, 8, 12, 16), 60.0, 5.0, 15.0)
QUICK = Plan((20, 60, 100), (1, 2, 4), 6.0, 5.0, 6.0, 6.0)


@dataclass
class Cpu:
    ast: float = 0.0
    ast_children: float = 0.0
    server: float = 0.0
    backend: float = 0.0  # the demo back-end process: every variant's lookups

    @property
    def total(self) -> float:
        return self.ast + self.ast_children + self.server + self.backend

    def per_call(self, calls: int) -> Cpu:
        """These seconds as milliseconds per call."""
        k = 1000 / max(calls, 1)
        return Cpu(self.ast * k, self.ast_children * k, self.server * k, self.backend * k)


@dataclass
class Step:
    variant: str
    rate: float
    calls: int
    ok: int
    failed: int
    done: int
    seconds: float
    cpu: Cpu
    note: str = ""
    server_done: int | None = None  # FastAGI: calls the server recorded as finished
    lookups: int = 0  # GET /orders/... the back-end answered during the step
    call_s: float | None = None  # SIPp's mean call length

    @property
    def passed(self) -> bool:
        server_ok = self.server_done is None or self.server_done == self.calls
        return self.failed == 0 and self.ok == self.calls and self.done == self.calls \
            and server_ok


@dataclass
class Latency:
    variant: str
    calls: int
    menu_ms: list[float] = field(default_factory=list)
    collect_ms: list[float] = field(default_factory=list)


# ---------------------------------------------------------------- small helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own utime+stime, reaped children cutime+cstime) of ``pid``, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return own / CLK_TCK, children / CLK_TCK


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_taken(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:  # as servers bind (TIME_WAIT left by a last run is fine)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


# ---------------------------------------------------------------- the sandbox instance


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "HOTLINE_SANDBOX_DIR": str(root)}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        proc = subprocess.run(["bash", str(SANDBOX), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"sandbox.sh {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        return proc.stdout

    def cli(self, command: str) -> str:
        return self.run("cli", INSTANCE, command, timeout=30, check=False)

    @property
    def log_dir(self) -> Path:
        return self.root / "instances" / INSTANCE / "log"

    @property
    def messages(self) -> Path:
        return self.log_dir / "messages.log"

    def pid(self) -> int:
        state = Path(f"{self.root}.state") / f"{INSTANCE}.pid"
        return int(state.read_text().strip())

    def log_size(self) -> int:
        return self.messages.stat().st_size if self.messages.exists() else 0

    def log_since(self, mark: int) -> str:
        if not self.messages.exists():
            return ""
        with self.messages.open("rb") as fh:
            fh.seek(mark)
            return fh.read().decode(errors="replace")


def make_config(data_dir: Path, prompts_dir: Path, sandbox_dir: str) -> Config:
    cfg = Config(data_dir=str(data_dir), flows_dir=str(VOICE),
                 secret_key=secrets.token_urlsafe(32), log_level="WARNING")
    # The demo back-end runs as its own process (bench/voice/backend.py), not in the server;
    # the rendered hotline-agi.toml (classic AGI) takes its base_url from here too.
    backend = replace(cfg.backend, base_url=BACKEND_URL, demo=False)
    itr = replace(cfg.itr, port=ITR_PORT, public_url=f"http://{LOOPBACK}:{ITR_PORT}")
    cfg = replace(cfg, backend=backend, itr=itr,
                  console=replace(cfg.console, port=CONSOLE_PORT))
    ast = replace(cfg.asterisk, sip_port=SIP_PORT, ami_port=AMI_PORT,
                  ami_secret=secrets.token_urlsafe(24), rtp_start=RTP_START, rtp_end=RTP_END,
                  dids={FASTAGI_DID: FLOW}, sandbox_dir=sandbox_dir)
    prompts = replace(cfg.prompts, cache_dir=str(prompts_dir))
    return replace(cfg, asterisk=ast, fastagi=replace(cfg.fastagi, port=FASTAGI_PORT),
                   prompts=prompts)


def prompt_files(prompts_dir: Path) -> dict[str, str]:
    """The bench flow's fixed prompts (built here if missing): what native Read/Playback play."""
    store = PromptStore(prompts_dir, "wav", {"en": "en-us"})
    return {key: store.text_file("en", text) for key, text in PROMPTS.items()}


def render_instance(cfg: Config, out: Path, files: dict[str, str], *, verbose: bool) -> Path:
    """The bench instance's configuration: the project's render plus the bench's own pieces."""
    if out.exists():
        shutil.rmtree(out)
    render(cfg, out, instance=INSTANCE)
    ext = out / "extensions.conf"
    text = ext.read_text()
    native_line = f"exten => {NATIVE_MENU_DID},1,Goto(hotline-native-menu,s,1)"
    for needle in (native_line, f"AGI(hotline-agi,{FLOW}", f"exten => {CLASSIC_DID},1,"):
        if needle not in text:
            raise RuntimeError(f"rendered extensions.conf has no {needle!r}: template changed?")
    text = text.replace(native_line, f"exten => {NATIVE_MENU_DID},1,Goto(bench-native,s,1)")
    # The per-call completion line as a NOTICE (same text), so throughput runs can log no
    # verbose output at all and still count finished flows.
    after = "exten => s,1,Verbose(1,HOTLINE after-flow "
    if after not in text:
        raise RuntimeError(f"rendered extensions.conf has no {after!r}: template changed?")
    text = text.replace(after, "exten => s,1,Log(NOTICE,HOTLINE after-flow ")
    native = (VOICE / "native.conf").read_text()
    for key, value in {**files, "backend_url": cfg.backend.base_url}.items():
        native = native.replace(f"@{{{key}}}", value)
    left = re.findall(r"@\{\w+\}", native)
    if left:
        raise RuntimeError(f"native.conf has placeholders the bench does not fill: {left}")
    ext.write_text(text + "\n" + native)
    modules = out / "modules.conf"
    mods = modules.read_text()
    if "[modules]" not in mods:
        raise RuntimeError("rendered modules.conf has no [modules]: template changed?")
    modules.write_text(mods.rstrip("\n") + "\n\n; bench only: the native variant's lookup "
                       "(CURL, JSON_DECODE)\n" + "".join(f"load = {m}\n" for m in BENCH_MODULES))
    # Throughput runs log one NOTICE line per call (the after-flow / done lines), no verbose;
    # latency runs log every dialplan step and AGI command with millisecond timestamps.
    (out / "logger.conf").write_text(
        "[general]\ndateformat = %F %T.%3q\n\n[logfiles]\n"
        f"messages.log => notice,warning,error{',verbose(3)' if verbose else ''}\n")
    return out


# ---------------------------------------------------------------- SIPp


def info_block(digit: str, cseq: int) -> str:
    return f"""
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: {cseq} INFO
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=100
    ]]>
  </send>
  <recv response="200"/>
"""


# After the last digit an idle machine has said the result and hung up within ~2.4 s (lookup,
# "Result", "two five"); a call whose BYE has not come 5 s after the last digit left its
# caller in silence for more than ~2.5 s extra: it fails. (With a loose bound, a step at
# several times the machine's capacity "passes" for native dialplan, whose calls only get
# later, while AGI loses keys: that measures how big a burst a variant absorbs, not calls/s.)
BYE_TIMEOUT_S = 5.0


def scenario_xml(menu_pause_ms: int = 3000, code_pause_ms: int = 500, gap_ms: int = 150,
                 bye_timeout_ms: int = int(BYE_TIMEOUT_S * 1000)) -> str:
    digits = []
    for i, d in enumerate(DIGITS):
        if i:
            digits.append(f'  <pause milliseconds="{gap_ms}"/>\n')
        digits.append(info_block(d, 3 + i))
    text = (VOICE / "uac_bench.xml").read_text()
    for key, value in (("@MENU_PAUSE@", str(menu_pause_ms)), ("@CODE_PAUSE@", str(code_pause_ms)),
                       ("@BYE_TIMEOUT@", str(bye_timeout_ms)), ("@KEY@", info_block(KEY, 2)),
                       ("@DIGITS@", "".join(digits))):
        text = text.replace(key, value)
    return text


@dataclass
class SippRun:
    rc: int
    ok: int
    failed: int
    seconds: float
    errors: str
    call_s: float | None = None  # SIPp's mean call length (INVITE to BYE answered)
    late: int = 0  # calls SIPp failed on a receive timeout (no BYE in time after the digits)


def run_sipp(scenario: Path, did: str, rate: float, calls: int, work: Path,
             per_call_s: float = 25) -> SippRun:
    work.mkdir(parents=True, exist_ok=True)
    stats = work / "stats.csv"
    timeout = int(calls / rate + per_call_s + 10)
    args = [
        shutil.which("sipp") or "sipp", "-sf", str(scenario), "-s", did,
        "-i", LOOPBACK, "-ci", LOOPBACK, "-cp", str(free_port()),
        "-mi", LOOPBACK, "-mp", str(free_port() & ~1), "-p", str(free_port()),
        "-r", f"{rate:g}", "-m", str(calls), "-l", str(max(calls, 10)),
        "-timeout", f"{timeout}s", "-timeout_error", "-buff_size", "4194304",
        "-nostdin", "-trace_err", "-error_file", str(work / "errors.log"),
        "-trace_stat", "-stf", str(stats), "-fd", "1",
        f"{LOOPBACK}:{SIP_PORT}",
    ]  # fmt: skip
    (work / "command.txt").write_text(shlex.join(args) + "\n")
    start = time.monotonic()
    try:
        proc = subprocess.run(args, cwd=work, capture_output=True, text=True,
                              timeout=timeout + 20, check=False)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = -9
    seconds = time.monotonic() - start
    ok = failed = 0
    call_s: float | None = None
    if stats.exists():
        rows = list(csv.reader(stats.read_text(errors="replace").splitlines(), delimiter=";"))
        if len(rows) >= 2:
            head, last = rows[0], rows[-1]
            with contextlib.suppress(ValueError, IndexError):
                ok = int(last[head.index("SuccessfulCall(C)")])
                failed = int(last[head.index("FailedCall(C)")])
            with contextlib.suppress(ValueError, IndexError):
                h, m, sec, ms = last[head.index("CallLength(C)")].split(":")
                call_s = int(h) * 3600 + int(m) * 60 + int(sec) + int(ms) / 1e6
    errors_file = work / "errors.log"
    all_errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
    errors = all_errors[-2000:]
    late = all_errors.count('receive timeout on message hotline voice bench')
    if rc == -9:
        failed = max(failed, calls - ok)
    return SippRun(rc, ok, failed, seconds, errors, call_s, late)


def wait_listening(proc: subprocess.Popen[bytes], port: int, log_file: Path, what: str,
                   limit_s: float) -> None:
    """Until ``proc`` listens on ``port`` (TCP, 127.0.0.1); raise with its log's tail if it
    exits first or does not listen within ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n" + log_file.read_text(errors="replace")[-3000:])
        if port_taken(port, socket.SOCK_STREAM):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen within {limit_s:.0f} s")


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = QUICK if args.quick else FULL
        if getattr(args, "rates", None):
            self.plan = replace(self.plan, fast_rates=tuple(args.rates))
        if getattr(args, "classic_rates", None):
            self.plan = replace(self.plan, classic_rates=tuple(args.classic_rates))
        if getattr(args, "step_s", None):
            self.plan = replace(self.plan, step_s=float(args.step_s),
                                classic_step_s=float(args.step_s))
        self.variants = set(getattr(args, "variants", None) or (v.name for v in VARIANTS))
        self.work = Path(tempfile.mkdtemp(prefix="hotline-voice-bench-"))
        self.data_dir = CACHE / "data"
        self.prompts_dir = CACHE / "prompts"
        sandbox_dir = os.environ.get("HOTLINE_SANDBOX_DIR", "")
        self.cfg = make_config(self.data_dir, self.prompts_dir, sandbox_dir)
        self.sandbox = Sandbox(self.cfg.sandbox_dir)
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
            if port_taken(port, kind):
                raise SystemExit(f"voice bench: 127.0.0.1:{port} is in use (another bench run?)")

    def setup(self) -> None:
        self.check()
        log(f"work dir {self.work}")
        self.sandbox.run("build", timeout=1200)
        self.sandbox.run("agi-venv", timeout=1200)
        self.sandbox.run("stop", INSTANCE, check=False)  # a leftover of an interrupted run
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prompts_dir.mkdir(parents=True, exist_ok=True)
        self.files = prompt_files(self.prompts_dir)
        self.start_backend()
        self.start_server()

    def start_backend(self) -> None:
        """The demo back-end, its own process for the whole run (see bench/voice/backend.py)."""
        fh = self.backend_log.open("wb")
        self.backend = subprocess.Popen(
            [sys.executable, "-m", "bench.voice.backend", "--port", str(BACKEND_PORT),
             "--access-log", str(self.access_log)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
            start_new_session=SERVICE_SESSIONS)
        wait_listening(self.backend, BACKEND_PORT, self.backend_log, "demo back-end", 30)
        log(f"demo back-end up (pid {self.backend.pid}, {BACKEND_URL})")

    def start_server(self) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")},
            "HOTLINE_DATA_DIR": str(self.data_dir),
            "HOTLINE_FLOWS_DIR": str(VOICE),
            "HOTLINE_LOG_LEVEL": "WARNING",
            "HOTLINE_SECRET_KEY": self.cfg.secret_key,
            "HOTLINE_PROMPTS_CACHE_DIR": str(self.prompts_dir),
            "HOTLINE_FASTAGI_PORT": str(FASTAGI_PORT),
            "HOTLINE_ITR_PORT": str(ITR_PORT),
            "HOTLINE_ITR_PUBLIC_URL": f"http://{LOOPBACK}:{ITR_PORT}",
            "HOTLINE_CONSOLE_PORT": str(CONSOLE_PORT),
            # No in-process demo back-end: lookups go to the bench's own back-end process.
            "HOTLINE_BACKEND_DEMO": "false",
            "HOTLINE_BACKEND_BASE_URL": BACKEND_URL,
            "HOTLINE_ASTERISK_SANDBOX": "false",
            # The server's AMI client (the CTI) talks to the bench instance, nobody else's.
            "HOTLINE_ASTERISK_AMI_PORT": str(AMI_PORT),
            "HOTLINE_ASTERISK_AMI_SECRET": self.cfg.asterisk.ami_secret,
            "HOTLINE_ASTERISK_SIP_PORT": str(SIP_PORT),
            "HOTLINE_ASTERISK_DIDS": f"{FASTAGI_DID}={FLOW}",
        }
        if hasattr(getattr(self.cfg, "cti", None), "api_port"):  # the agent API, if this
            env["HOTLINE_CTI_API_PORT"] = str(CTI_API_PORT)    # version of the server has it
        hotline = REPO_ROOT / ".venv" / "bin" / "hotline"
        fh = self.server_log.open("wb")
        self.server = subprocess.Popen([str(hotline), "run", "--no-asterisk"], env=env,
                                       stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                       start_new_session=SERVICE_SESSIONS)
        wait_listening(self.server, FASTAGI_PORT, self.server_log, "hotline server", 60)
        log(f"hotline server up (pid {self.server.pid}), prompts pre-built")

    def start_asterisk(self, *, verbose: bool) -> None:
        if self.asterisk_running:
            self.stop_asterisk()
        out = render_instance(self.cfg, self.work / f"etc-{'verbose' if verbose else 'quiet'}",
                              self.files, verbose=verbose)
        binds: list[str] = []
        for d in agi_bind_dirs(self.cfg):  # classic AGI reads flows, prompts, secrets
            binds += ["--bind", str(d)]
        self.sandbox.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.sandbox.log_dir.glob("*"):
            if old.is_file():
                old.unlink()
        self.sandbox.run("start", INSTANCE, str(out), "--agi", *binds)
        self.asterisk_running = True
        if not verbose:
            self.sandbox.cli("core set verbose 0")  # nobody reads the console during the bench
        if verbose:
            self.sandbox.cli("agi set debug on")
        log(f"asterisk instance {INSTANCE} up (pid {self.sandbox.pid()}, "
            f"{'verbose log + agi debug' if verbose else 'one log line per call'})")

    def stop_asterisk(self) -> None:
        if self.asterisk_running:
            # keep its log for the report
            with contextlib.suppress(OSError):
                shutil.copy(self.sandbox.messages, self.work / f"messages-{time.time():.0f}.log")
            self.sandbox.run("stop", INSTANCE, check=False)
            self.asterisk_running = False

    def teardown(self) -> None:
        self.stop_asterisk()
        for proc in (self.server, self.backend):  # the processes this bench started, by pid
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    # -- one throughput step

    def channels(self) -> int:
        m = re.search(r"(\d+) active channels?", self.sandbox.cli("core show channels count"))
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
        mark = self.sandbox.log_size()
        calls_mark = self.calls_log.stat().st_size if self.calls_log.exists() else 0
        access_mark = self.access_log.stat().st_size if self.access_log.exists() else 0
        before = self.cpu()
        spy = self.start_profile(variant, rate)
        spy_threads = self.thread_cpu() if spy is not None else {}
        run = run_sipp(self.scenario, variant.did, rate, calls,
                       self.work / f"{variant.name}-{rate:g}-{time.time():.0f}")
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
            self.sandbox.cli("channel request hangup all")
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

    def thread_cpu(self) -> dict[str, float]:
        """CPU seconds of each of the server's threads, by OS thread id."""
        assert self.server is not None
        out: dict[str, float] = {}
        for task_dir in Path(f"/proc/{self.server.pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = (task_dir / "stat").read_text()
                fields = text[text.rindex(")") + 2:].split()
                out[task_dir.name] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out

    def log_threads(self, before: dict[str, float], profile: Path) -> None:
        """The step's server CPU by Python thread name (the raw profile names OS threads)."""
        after = self.thread_cpu()
        text = profile.read_text(errors="replace") if profile.exists() else ""
        names = {m[1]: re.sub(r"[-\d]+$", "", m[2])
                 for m in re.finditer(r"thread \((\d+)\): ([^;]+);", text)}
        spent: dict[str, float] = {}
        for tid, cpu in after.items():
            name = names.get(tid, "other")
            spent[name] = spent.get(name, 0.0) + cpu - before.get(tid, 0.0)
        log("    server CPU by thread: " + ", ".join(
            f"{k} {v:.2f} s" for k, v in sorted(spent.items(), key=lambda x: -x[1]) if v))

    def throughput(self) -> list[Step]:
        steps: list[Step] = []
        self.start_asterisk(verbose=False)
        self.settle()
        # pyst2 first: its steps are small and it must not start on the backlog of a failed
        # FastAGI/native step at 100 calls/s.
        log("throughput: pyst2 process-per-call AGI (smaller steps)")
        for rate in self.plan.classic_rates if CLASSIC.name in self.variants else ():
            st = self.step(CLASSIC, rate, self.plan.classic_step_s)
            steps.append(st)
            if not st.passed:
                break
        log("throughput: FastAGI vs native, alternating at each rate")
        alive = {FASTAGI.name: FASTAGI.name in self.variants,
                 NATIVE.name: NATIVE.name in self.variants}
        for i, rate in enumerate(self.plan.fast_rates):
            order = (FASTAGI, NATIVE) if i % 2 == 0 else (NATIVE, FASTAGI)
            for v in order:
                if alive[v.name]:
                    st = self.step(v, rate, self.plan.step_s)
                    steps.append(st)
                    alive[v.name] = st.passed
            if not any(alive.values()):
                break
        return steps

    # -- latency

    def latency(self, classic_rate: float) -> list[Latency]:
        self.start_asterisk(verbose=True)
        out: list[Latency] = []
        for v in VARIANTS:
            rate = self.plan.latency_rate if v is not CLASSIC else classic_rate
            calls = max(5, round(rate * self.plan.latency_s))
            mark = self.sandbox.log_size()
            run = run_sipp(self.scenario, v.did, rate, calls,
                           self.work / f"latency-{v.name}-{time.time():.0f}")
            time.sleep(1.0)
            lat = parse_latency(v, self.sandbox.log_since(mark))
            log(f"  latency {v.name:8s} {rate:g}/s calls {calls} ok {run.ok} failed {run.failed}"
                f"  menu p50/p95 {percentile(lat.menu_ms, 50):.1f}/"
                f"{percentile(lat.menu_ms, 95):.1f} ms  collect p50/p95 "
                f"{percentile(lat.collect_ms, 50):.1f}/{percentile(lat.collect_ms, 95):.1f} ms")
            out.append(lat)
        self.stop_asterisk()
        return out


# ---------------------------------------------------------------- log parsing

_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] \w+\[\d+\](?:\[(C-[0-9a-f]+)\])?"
                   r" [\w.]+: (.*)$")
_AGI = re.compile(r"<(?P<chan>[^>]+)>AGI (?P<dir>Tx >>|Rx <<) (?P<text>.*)$")
_EXEC = re.compile(r"Executing \[(?P<ext>[^@]+)@(?P<ctx>[\w-]+):(?P<prio>\d+)\] (?P<app>\w+)\("
                   r"\"(?P<chan>[^\"]+)\"")
_PROMPT_CMDS = ("STREAM FILE", "GET DATA", "SAY ", "CONTROL STREAM FILE", "GET OPTION")


def _ts(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def parse_latency(variant: Variant, text: str) -> Latency:
    """DTMF -> next prompt per call, from Asterisk's own log (see the module docstring)."""
    per_chan: dict[str, list[tuple[float, str, str]]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        ts, body = _ts(m.group(1)), m.group(3)
        a = _AGI.search(body)
        if a:
            per_chan.setdefault(a["chan"], []).append((ts, a["dir"], a["text"]))
            continue
        e = _EXEC.search(body)
        if e and e["ctx"] == "bench-native":
            per_chan.setdefault(e["chan"], []).append((ts, "exec", e["app"]))
    lat = Latency(variant.name, 0)
    for events in per_chan.values():
        if variant is NATIVE:
            menu, collect = _native_steps(events)
        else:
            menu, collect = _agi_steps(events)
        if menu is not None or collect is not None:
            lat.calls += 1
        if menu is not None:
            lat.menu_ms.append(menu)
        if collect is not None:
            lat.collect_ms.append(collect)
    return lat


def _next_prompt(events: list[tuple[float, str, str]], start: int) -> float | None:
    for ts, kind, text in events[start + 1:]:
        if kind == "Rx <<" and text.upper().startswith(_PROMPT_CMDS):
            return ts
    return None


def _agi_steps(events: list[tuple[float, str, str]]) -> tuple[float | None, float | None]:
    menu = collect = None
    # the menu key: GET DATA answers the key itself, STREAM FILE / WAIT FOR DIGIT its code
    key_replies = (f"200 result={KEY}", f"200 result={ord(KEY)}")
    for i, (ts, kind, text) in enumerate(events):
        if kind != "Tx >>":
            continue
        if menu is None and any(text == r or text.startswith(r + " ") for r in key_replies):
            nxt = _next_prompt(events, i)
            menu = None if nxt is None else 1000 * (nxt - ts)
        elif collect is None and text.startswith(f"200 result={DIGITS}"):
            nxt = _next_prompt(events, i)
            collect = None if nxt is None else 1000 * (nxt - ts)
    return menu, collect


def _native_steps(events: list[tuple[float, str, str]]) -> tuple[float | None, float | None]:
    """Read(KEY) returns (the next app starts) -> Read(CODE) starts; Read(CODE) returns ->
    Playback(result) starts."""
    apps = [(ts, app) for ts, kind, app in events if kind == "exec"]
    reads = [i for i, (_, app) in enumerate(apps) if app == "Read"]
    menu = collect = None
    if len(reads) >= 2 and reads[0] + 1 < len(apps):
        menu = 1000 * (apps[reads[1]][0] - apps[reads[0] + 1][0])
        after = reads[1] + 1
        play = next((j for j in range(after, len(apps)) if apps[j][1] == "Playback"), None)
        if after < len(apps) and play is not None:
            collect = 1000 * (apps[play][0] - apps[after][0])
    return menu, collect


# ---------------------------------------------------------------- report


def best_rate(steps: Sequence[Step], variant: str) -> float:
    passed = [s.rate for s in steps if s.variant == variant and s.passed]
    return max(passed) if passed else 0.0


def cpu_per_call(steps: Sequence[Step], variant: str) -> tuple[float, Cpu]:
    """Total CPU / completed calls over the variant's passing steps (ms, and the parts in ms)."""
    chosen = [s for s in steps if s.variant == variant and s.passed]
    calls = sum(s.done for s in chosen)
    if not calls:
        return float("nan"), Cpu()
    # Native runs without Hotline: the server's CPU during native steps (its AMI client
    # following those calls) is shown per step but not charged to the native variant. The
    # back-end process answers every variant's lookups: charged to all three.
    server = 0.0 if variant == NATIVE.name else sum(s.cpu.server for s in chosen)
    parts = Cpu(sum(s.cpu.ast for s in chosen), sum(s.cpu.ast_children for s in chosen),
                server, sum(s.cpu.backend for s in chosen)).per_call(calls)
    return parts.total, parts


def report(steps: Sequence[Step], lats: Sequence[Latency], command: str, started: float,
           quick: bool, load_before: float) -> str:
    rates = {v.name: best_rate(steps, v.name) for v in VARIANTS}
    lat = {x.variant: x for x in lats}
    nat = lat.get(NATIVE.name)
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} "
        f"({'quick' if quick else 'full'}, {(time.time() - started) / 60:.1f} min), "
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, 1-minute load average just "
        f"before the run {load_before:.2f}"
        + (" (other jobs were sharing the CPUs: noisy figures)." if load_before > 0.5 else "."),
        "",
        f"Command: `{command}`",
        "",
        "| Variant | Max calls/s, 0 failed | CPU/call (Asterisk + AGI children + Hotline +"
        " back-end) |"
        " DTMF->prompt menu p50/p95 | DTMF->prompt after lookup p50/p95 |",
        "|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        total, parts = cpu_per_call(steps, v.name)
        x = lat.get(v.name)
        menu = f"{percentile(x.menu_ms, 50):.1f} / {percentile(x.menu_ms, 95):.1f} ms" if x \
            else "-"
        coll = f"{percentile(x.collect_ms, 50):.1f} / {percentile(x.collect_ms, 95):.1f} ms" \
            if x else "-"
        lines.append(f"| {v.label} | {rates[v.name]:g} | {total:.1f} ms ({parts.ast:.1f} + "
                     f"{parts.ast_children:.1f} + {parts.server:.1f} + {parts.backend:.1f}) |"
                     f" {menu} | {coll} |")
    lines.append("")
    fa, na, cl = rates[FASTAGI.name], rates[NATIVE.name], rates[CLASSIC.name]
    vs_native = fa / na if na else float("nan")
    vs_classic = fa / cl if cl else float("nan")
    added: dict[str, float] = {}
    if nat and FASTAGI.name in lat:
        f = lat[FASTAGI.name]
        added["menu"] = percentile(f.menu_ms, 95) - percentile(nat.menu_ms, 95)
        added["lookup"] = percentile(f.collect_ms, 95) - percentile(nat.collect_ms, 95)
    top = max(fa, na)
    cap = max(FULL.fast_rates if not quick else QUICK.fast_rates)

    def verdict(ok: bool) -> str:
        return "met" if ok else "**MISSED**"

    lines += [
        "Floors:",
        f"- FastAGI / native calls/s = {fa:g} / {na:g} = {vs_native:.2f} (floor "
        f"{FLOORS['vs_native']}): {verdict(vs_native >= FLOORS['vs_native'])}"
        + (f"; both reached the highest rate tried ({cap:g}/s), so this is a lower bound on "
           "neither" if top >= cap and fa == na else ""),
        f"- FastAGI / pyst2 process-per-call calls/s = {fa:g} / {cl:g} = {vs_classic:.1f}x "
        f"(floor {FLOORS['vs_classic']:g}x): "
        + (verdict(vs_classic >= FLOORS["vs_classic"]) if cl else
           "not measured: pyst2 failed already at the lowest rate tried"),
    ]
    for step_name, value in added.items():
        lines.append(f"- p95 added latency vs native, {step_name} step = {value:.1f} ms (floor "
                     f"< {FLOORS['added_p95_ms']:g} ms): "
                     f"{verdict(value < FLOORS['added_p95_ms'])}"
                     + (" (this step includes the HTTP lookup, for both)"
                        if step_name == "lookup" else ""))
    fa_cpu, fa_parts = cpu_per_call(steps, FASTAGI.name)
    na_cpu, _ = cpu_per_call(steps, NATIVE.name)
    if vs_native < FLOORS["vs_native"] and fa_cpu == fa_cpu and na_cpu == na_cpu:
        first_fail = next((s for s in steps if s.variant == FASTAGI.name and not s.passed), None)
        lines.append(
            f"- Why the calls/s ratio: CPU per call FastAGI {fa_cpu:.1f} ms (Asterisk "
            f"{fa_parts.ast:.1f}, Hotline server {fa_parts.server:.1f}, back-end "
            f"{fa_parts.backend:.1f}) vs native {na_cpu:.1f} ms;"
            f" on a CPU-bound machine that alone caps the ratio near {na_cpu / fa_cpu:.2f}."
            + (f" At {first_fail.rate:g}/s FastAGI failed: {first_fail.note or 'see steps'}"
               f" (server CPU-starved: its replies came late, and AGI drops keys pressed "
               f"between commands)." if first_fail else ""))
    lines += ["", "Steps (rate, calls, SIPp ok/failed, flows finished per Asterisk's log, "
              "lookups the back-end answered, CPU per finished call):", "",
              "| Variant | Rate/s | Calls | OK | Failed | Done | Server done | Lookups |"
              " Mean call s | CPU/call ms (ast+children+hotline+backend) | Note |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        per = s.cpu.per_call(s.done)
        server = "-" if s.server_done is None else str(s.server_done)
        lines.append(f"| {s.variant} | {s.rate:g} | {s.calls} | {s.ok} | {s.failed} | {s.done} |"
                     f" {server} | {s.lookups} |"
                     f" {'-' if s.call_s is None else f'{s.call_s:.1f}'} |"
                     f" {per.total:.1f} ({per.ast:.1f}+{per.ast_children:.1f}+"
                     f"{per.server:.1f}+{per.backend:.1f}) |"
                     f" {'pass' if s.passed else 'FAIL'} {s.note} |")
    lines.append("")
    lines.append("Latency samples (calls parsed): " + ", ".join(
        f"{x.variant} {x.calls} (menu {len(x.menu_ms)}, lookup {len(x.collect_ms)})"
        for x in lats))
    return "\n".join(lines)


NOTES = """\
What is measured (bench/voice_bench.py, bench/voice/):

- One call: INVITE, menu prompt, key 1 by SIP INFO, 4 digits (5678), a lookup, "Result" +
  SayDigits/SAY DIGITS (25), Asterisk hangs up. Same prompt files (espeak-ng, 8 kHz WAV) for
  all three. Flow: bench/voice/bench_menu.yaml; dialplan: bench/voice/native.conf; caller:
  bench/voice/uac_bench.xml (SIPp, `-buff_size 4194304`, bounded `-m`/`-timeout`).
- All three do the same real lookup: GET /orders/1234{code} over HTTP on 127.0.0.1 against
  one demo back-end process (bench/voice/backend.py: cti/demo/backend.py's Flask app on the
  server's stack, Twisted `Site(WSGIResource)` + a thread pool), started once for the run.
  The Hotline server runs with its in-process demo back-end off (`HOTLINE_BACKEND_DEMO=false`)
  and its action runner calls that process; the pyst2 scripts read the same base URL from the
  rendered hotline-agi.toml; the native dialplan calls it with `CURL()` (func_curl + res_curl,
  `CURLOPT` httptimeout 3 s and failurecodes 404,500, loaded for the bench instance only) and
  reads `status` and `eta.day` with `JSON_DECODE()` (func_json). Nobody's lookup is free: the
  back-end's CPU is charged to every variant, and "Lookups" in the steps table counts the
  requests its access log shows per step (one per call).
- A call is successful for SIPp when Asterisk hangs up (the result said) within 5 s of the
  caller's last digit (`--bye-timeout-s`); on an idle machine that takes ~2.4 s. A later BYE
  is a failed call: its caller sat through more than ~2.5 s of extra silence. "Mean call s"
  in the steps table is SIPp's mean call length (6.4 s on an idle machine). Why the bound:
  with the earlier 20 s one, the native dialplan "passed" 110 calls/s in a 15 s step with a
  mean call of 14.9 s (8.5 s late, SIPp's own achieved rate 51/s), which measures how large
  a burst a variant absorbs, not how many calls per second it serves; FastAGI passed 70 with
  a mean call of 8.3 s (that run's full table: git history of this file, 2026-11-29 16:53).
- Steps are a minute of calls at the rate (15 s for pyst2): long enough that a variant must
  keep up with the rate rather than absorb it as a burst. (With 15 s steps, the two runs of
  2026-11-29 16:53 and 17:10 in this file's history, both variants "passed" rates above
  their CPU capacity, native further above it: its late calls lose no key.)
- A rate passes when SIPp counts every call successful and Asterisk's log shows every flow
  finished (`HOTLINE after-flow ... done=1 exit=hangup`, i.e. the Hotline server set
  HOTLINE_DONE=1 after the lookup said "ok"; `BENCH native done` for the dialplan, after
  `JSON_DECODE()` found the ETA day in the back-end's reply). For
  throughput runs the bench instance logs no verbose output, only these lines (the rendered
  after-flow `Verbose(1, ...)` is turned into `Log(NOTICE, ...)` with the same text). For
  FastAGI the server's own record (`<data_dir>/calls.jsonl`: ended=exit, exit kind hangup)
  must count every call too ("Server done"). Variants alternate at every rate; a variant
  stops at its first failing rate; pyst2 runs first, with its own smaller rates.
- CPU/call: /proc/<pid>/stat deltas over each passing step: Asterisk utime+stime, Asterisk's
  reaped children cutime+cstime (the process-per-call AGI scripts, Python 3.13 in the chroot),
  the Hotline server (reactor + thread pools + its CTI/AMI client; no back-end inside) and the
  back-end process (utime+stime), for all three variants. SIPp is not counted. The native
  figure leaves the Hotline server out (it is not part of that variant; the steps table still
  shows what the idle server spent following those calls over AMI).
- Latency (a separate run at moderate load with verbose 3, millisecond timestamps and
  `agi set debug on`; throughput runs log one line per call): AGI variants from `AGI Tx >>
  200 result=1` (key 1, the menu's GET DATA) / `200 result=5678` to the next `AGI Rx << GET
  DATA/STREAM FILE/SAY`;
  native from the first dialplan step after `Read()` to `Read()`/`Playback()` starting. The
  "after lookup" step includes the HTTP lookup for all of them (native: `CURL()` +
  `JSON_DECODE()` run between those two log lines).
- How a Hotline variant fails: Asterisk's AGI discards DTMF that arrives while no AGI command
  is running. The caller presses keys at fixed times (3 s after the answer, then 0.5 s after
  the menu key). A menu's prompt and its wait for the key are one GET DATA, so the first key
  only needs the call's first command to have started; the digits need the reply to the menu
  key to reach the handler and its GET DATA to come back within 0.5 s. When the handler is
  slow (a CPU-starved server, an AGI process still starting), a key is lost and the flow takes
  its failure branch (a transfer to a missing endpoint, so the dialplan fallback holds the
  call: a failed SIPp call, "flows ended in their failure branch" in the step notes). Native
  dialplan loses no key when it is late (`Read()` picks up keys that arrived before it ran):
  on a saturated machine it gets slower, where AGI gets failures.
- Processes and the scheduler: Asterisk runs in a session of its own (asterisk_conf/sandbox.sh
  starts it with `setsid`, as the daemon it normally is), and so do the Hotline server and the
  back-end (`start_new_session`); SIPp stays in the bench's session. With the kernel's
  autogroup scheduling (on here) or systemd's per-service cgroups, a saturated machine shares
  the CPU per service rather than per thread, as on a real server. In one shared session
  Asterisk's hundreds of channel threads out-vote the Hotline server's one reactor thread
  under saturation: measured 2026-11-29 with the same server code, FastAGI at 70 calls/s lost
  473 of 1,050 calls in one shared session and 57 with separate sessions (native passed 70
  both times).
- The classic AGI variant is the project's own: `AGI(hotline-agi,bench_menu,--config=...)`
  as rendered by asterisk_conf/render.py, i.e. pyst2 in a Python 3.13 venv inside the chroot,
  one process per call, reading the rendered hotline-agi.toml and the bind-mounted flows,
  prompt cache and data dir.
"""


def write_results(section: str) -> None:
    start, end = "<!-- voice:start -->", "<!-- voice:end -->"
    title = "## Voice: FastAGI vs pyst2 AGI vs native dialplan"
    body = f"{start}\n{title}\n\n{section}\n\n{NOTES}{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in text and end in text:
        pre, rest = text.split(start, 1)
        post = rest.split(end, 1)[1]
        text = pre + body + post
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    RESULTS.write_text(text)


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
                                     description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    sys.exit(main())
