"""Running SIPp: test calls (``run_uac``), agent phones (``Uas``) and load steps (``run_load``).

Every run is bounded (``-m`` calls, ``-timeout``, and a kill of our own SIPp process after
that), bound to 127.0.0.1 (``-i``, ``-ci``, ``-mi``) on free local ports, sends only to
127.0.0.1, and has SIPp's socket buffer raised (``-buff_size``: with the default 64 KB SIPp
itself drops replies around 80-100 calls/s, and a lost INFO is never retransmitted).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.sipp.scenario import SCENARIOS

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
BUFF_SIZE = "4194304"
KILL_GRACE_S = 15  # after SIPp's own -timeout, before we kill it


@dataclass(frozen=True)
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    errors: str  # SIPp's error file (unexpected messages, timeouts)
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        return (
            f"sipp exit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stderr\n{self.stderr[-2000:]}\n--- errors\n{self.errors[-3000:]}\n"
            f"--- stdout (tail)\n{self.stdout[-1500:]}"
        )


def sipp_path() -> str | None:
    return shutil.which("sipp")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port that is free on 127.0.0.1 right now (UDP by default)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# SIPp's own RTP ports come from a band of their own: below the kernel's ephemeral range
# (32768+, where every client socket and ``free_port`` land, so a port found free there can
# be taken again before SIPp binds it) and clear of the Asterisk RTP ranges the tests and
# the bench configure (10000-12000, 20000-20999, 23000-23399, 30000-39999). Each process
# walks the band from a pid-derived start, so parallel runs rarely probe the same slot.
MEDIA_BAND = (24000, 29996)
_media_next = MEDIA_BAND[0] + (os.getpid() * 4) % (MEDIA_BAND[1] - MEDIA_BAND[0])


def free_media_port() -> int:
    """An even port whose next three (RTP/RTCP, video) are free too, from ``MEDIA_BAND``."""
    global _media_next
    low, high = MEDIA_BAND
    for _ in range((high - low) // 4):
        base = _media_next - _media_next % 4
        _media_next = low if base + 4 > high else base + 4
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for i, sock in enumerate(socks):
                sock.bind((LOOPBACK, base + i))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError(f"no free media port range in {low}-{high} on 127.0.0.1")


def _base_args(scenario: Path, workdir: Path, *, calls: int, timeout_s: int) -> list[str]:
    return [
        sipp_path() or "sipp",
        "-sf", str(scenario),
        "-i", LOOPBACK,
        "-ci", LOOPBACK,
        "-cp", str(free_port()),
        "-mi", LOOPBACK,
        "-mp", str(free_media_port()),
        "-p", str(free_port()),
        "-m", str(calls),
        "-timeout", f"{timeout_s}s",
        "-timeout_error",
        "-buff_size", BUFF_SIZE,
        "-nostdin",
        "-trace_err",
        "-error_file", str(workdir / "errors.log"),
    ]  # fmt: skip


def _check_service(service: str) -> str:
    if not service.isdigit():
        raise ValueError(f"service must be digits: {service!r}")
    return service


BIND_RETRIES = 3


def _bind_failed(result: SippResult) -> bool:
    """SIPp gave up at once because a port it was given was taken meanwhile."""
    text = result.stderr + result.errors
    return result.returncode != 0 and result.seconds < 2 and "Address already in use" in text


def _fresh_ports(args: list[str]) -> list[str]:
    args = list(args)
    args[args.index("-cp") + 1] = str(free_port())
    args[args.index("-mp") + 1] = str(free_media_port())
    return args


def _run(args: list[str], work: Path, timeout_s: int, *, fixed_port: bool = False) -> SippResult:
    """Run SIPp to its end; a start that failed on a taken port is retried on fresh ports
    (up to ``BIND_RETRIES`` times; the ``-p`` port too unless the caller fixed it)."""
    for attempt in range(BIND_RETRIES + 1):
        result = _run_once(args, work, timeout_s)
        if attempt == BIND_RETRIES or not _bind_failed(result):
            return result
        log.warning("sipp could not bind its ports (%s); retrying on fresh ones",
                    result.errors.strip().splitlines()[-1:] or result.stderr[-200:])
        args = _fresh_ports(args)
        if not fixed_port:
            args[args.index("-p") + 1] = str(free_port())
        (work / "errors.log").unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _run_once(args: list[str], work: Path, timeout_s: int) -> SippResult:
    log.info("sipp: %s", " ".join(args))
    start = time.monotonic()
    limit = timeout_s + KILL_GRACE_S
    try:
        proc = subprocess.run(
            args, cwd=work, capture_output=True, text=True, timeout=limit, check=False
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, str(exc.stdout or ""), f"killed after {limit}s"
    errors_file = work / "errors.log"
    errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
    return SippResult(code, out, err, errors, time.monotonic() - start)


def run_uac(
    target_port: int,
    service: str,
    scenario_xml: str,
    *,
    calls: int = 1,
    rate: float = 1.0,
    limit: int | None = None,
    timeout_s: int = 60,
    extra: Sequence[str] = (),
) -> SippResult:
    """Place ``calls`` calls to ``service`` (the DID) at 127.0.0.1:``target_port``; wait."""
    _check_service(service)
    with tempfile.TemporaryDirectory(prefix="hotline-sipp-") as tmp:
        work = Path(tmp)
        scenario = work / "uac.xml"
        scenario.write_text(scenario_xml)
        args = _base_args(scenario, work, calls=calls, timeout_s=timeout_s)
        args += ["-s", service, "-r", str(rate), "-l", str(limit or calls), *extra]
        args.append(f"{LOOPBACK}:{target_port}")
        return _run(args, work, timeout_s)


@dataclass
class LoadResult:
    """One load step as SIPp counted it (its statistics file)."""

    rc: int
    ok: int
    failed: int
    seconds: float
    errors: str  # the tail of SIPp's error file
    call_s: float | None = None  # SIPp's mean call length (INVITE to BYE answered)
    late: int = 0  # calls SIPp failed on a receive timeout (e.g. no BYE in time)


def run_load(scenario: Path, target_port: int, service: str, *, rate: float, calls: int,
             work: Path, per_call_s: float = 25) -> LoadResult:
    """``calls`` calls of ``scenario`` at ``rate`` calls/s to ``service`` at
    127.0.0.1:``target_port``; SIPp's command, error file and statistics stay in ``work``."""
    _check_service(service)
    work.mkdir(parents=True, exist_ok=True)
    stats = work / "stats.csv"
    timeout = int(calls / rate + per_call_s + 10)
    args = _base_args(scenario, work, calls=calls, timeout_s=timeout)
    args += ["-s", service, "-r", f"{rate:g}", "-l", str(max(calls, 10)),
             "-trace_stat", "-stf", str(stats), "-fd", "1", f"{LOOPBACK}:{target_port}"]
    (work / "command.txt").write_text(shlex.join(args) + "\n")
    run = _run(args, work, timeout)
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
                h, m, sec, us = last[head.index("CallLength(C)")].split(":")
                call_s = int(h) * 3600 + int(m) * 60 + int(sec) + int(us) / 1e6
    if run.returncode == -9:
        failed = max(failed, calls - ok)
    late = run.errors.count("receive timeout on message")
    return LoadResult(run.returncode, ok, failed, run.seconds, run.errors[-2000:], call_s, late)


class Uas:
    """An agent phone (scenarios/uas_agent*.xml) on 127.0.0.1:``port``, taking ``calls``.

    ``port``: a fixed port (an agent's static contact); default a free one. ``scenario_xml``:
    see ``uas_scenario``; default scenarios/uas_agent.xml (answer, wait for the BYE)."""

    def __init__(self, *, calls: int = 1, timeout_s: int = 60, port: int | None = None,
                 scenario_xml: str | None = None) -> None:
        self.port = port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="hotline-sipp-uas-")
        self.work = Path(self._tmp.name)
        scenario = SCENARIOS / "uas_agent.xml"
        if scenario_xml is not None:
            scenario = self.work / "uas.xml"
            scenario.write_text(scenario_xml)
        args = _base_args(scenario, self.work, calls=calls, timeout_s=timeout_s)
        args[args.index("-p") + 1] = str(self.port)
        self._args = args
        self._timeout_s = timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._early: SippResult | None = None  # a start that failed other than on a port
        self._start = 0.0

    def start(self) -> Uas:
        """Start the phone; if it exits at once on a taken RTP or control port, start it
        again on fresh ones (its SIP port stays: agents' contacts point at it)."""
        for attempt in range(BIND_RETRIES + 1):
            log.info("sipp uas: %s", " ".join(self._args))
            self._start = time.monotonic()
            self._proc = subprocess.Popen(
                self._args, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.3)  # let it bind
            if self._proc.poll() is None or attempt == BIND_RETRIES:
                return self
            out, err = self._proc.communicate()
            errors_file = self.work / "errors.log"
            errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
            early = SippResult(self._proc.returncode, out, err, errors, 0.3)
            if not _bind_failed(early):
                self._early = early
                return self
            errors_file.unlink(missing_ok=True)
            self._args = _fresh_ports(self._args)
        return self

    def running(self) -> bool:
        """Still taking calls (not exited, e.g. on a call it aborted)."""
        return self._early is None and self._proc is not None and self._proc.poll() is None

    def wait(self, timeout_s: float | None = None) -> SippResult:
        """Wait for SIPp to finish (it exits after its calls); kill it (our pid) if it hangs."""
        assert self._proc is not None
        if self._early is not None:
            self._tmp.cleanup()
            return self._early
        try:
            out, err = self._proc.communicate(timeout=timeout_s or self._timeout_s + 15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, err = self._proc.communicate()
        errors_file = self.work / "errors.log"
        errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
        result = SippResult(self._proc.returncode, out, err, errors, time.monotonic() - self._start)
        self._tmp.cleanup()
        return result

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._tmp.cleanup()
