"""A small SIPp driver for the integration tests and benchmarks.

Every run is bounded (``-m`` calls, ``-timeout``), bound to 127.0.0.1 (``-i``, ``-ci``,
``-mi``) on free local ports, and sends only to 127.0.0.1. Scenarios live in
``scenarios/``; the caller's DTMF part and ending are generated here.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PCAP_DIR = Path("/usr/share/sip-tester")
LOOPBACK = "127.0.0.1"
BUFF_SIZE = "4194304"
# The shipped RFC 2833 pcaps share one SSRC and rising timestamps in this order; a digit
# played after a "later" one may be dropped as a duplicate end-of-event. So the scenarios
# play pcaps made here instead (``dtmf_pcap``): the shipped packet layout, with a sequence
# number and timestamp that rise with the digit's position in the call, so any sequence
# (repeats too: "1", "12345678", "1") arrives as separate key presses.
PCAP_ORDER = "123456789*#0"
_PCAP_NAME = {"*": "star", "#": "pound"}
_INFO_DIGITS = set("0123456789*#ABCD")
_EVENT = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PCAP_CACHE = Path(tempfile.gettempdir()) / f"hotline-dtmf-pcaps-{os.getuid()}"

DtmfMode = Literal["info", "rfc2833", "none"]
Ending = Literal["wait_bye", "hangup"]


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


def free_media_port() -> int:
    """An even port whose next three (RTP/RTCP, video) are free too."""
    for _ in range(50):
        port = free_port()
        base = port - port % 2
        if base < 1024:
            continue
        try:
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
            try:
                for i, sock in enumerate(socks):
                    sock.bind((LOOPBACK, base + i))
            finally:
                for sock in socks:
                    sock.close()
        except OSError:
            continue
        return base
    raise RuntimeError("no free media port range on 127.0.0.1")


def _info_block(digit: str, cseq: int) -> str:
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
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
"""


def dtmf_pcap(digit: str, position: int) -> Path:
    """An RFC 2833 pcap for ``digit`` as the ``position``-th key press of a call.

    Built from the shipped ``dtmf_2833_1.pcap`` (Ethernet/IPv4/UDP/RTP, 10 packets: start,
    rising durations, three end packets): event, sequence numbers and RTP timestamp are
    rewritten so they rise with ``position``; the UDP checksum is cleared (0 = none, IPv4).
    """
    if digit not in _EVENT:
        raise ValueError(f"no RFC 2833 event for {digit!r}")
    out = PCAP_CACHE / f"dtmf_{_EVENT[digit]:02d}_{position:03d}.pcap"
    if out.exists():
        return out
    raw = (PCAP_DIR / "dtmf_2833_1.pcap").read_bytes()
    parts = [raw[:24]]
    offset, first_seq = 24, None
    while offset < len(raw):
        head = raw[offset:offset + 16]
        incl = struct.unpack("<IIII", head)[2]
        pkt = bytearray(raw[offset + 16:offset + 16 + incl])
        offset += 16 + incl
        udp = 14 + (pkt[14] & 15) * 4
        rtp = udp + 8
        seq = struct.unpack(">H", pkt[rtp + 2:rtp + 4])[0]
        first_seq = seq if first_seq is None else first_seq
        new_seq = (1000 + position * 16 + seq - first_seq) & 0xFFFF
        struct.pack_into(">HII", pkt, rtp + 2, new_seq, 8000 + position * 8000, 0x484F544C)
        pkt[rtp + 12] = _EVENT[digit]
        pkt[udp + 6:udp + 8] = b"\0\0"
        parts += [head, bytes(pkt)]
    PCAP_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(out)
    return out


def _pcap_block(digit: str, position: int) -> str:
    return f"""
  <nop><action><exec play_pcap_audio="{dtmf_pcap(digit, position)}"/></action></nop>
  <pause milliseconds="250"/>
"""


def _check_digits(digits: str, mode: DtmfMode) -> None:
    if mode == "info" and not set(digits) <= _INFO_DIGITS:
        raise ValueError(f"bad DTMF digits {digits!r}")
    if mode == "rfc2833" and not set(digits) <= set(_EVENT):
        raise ValueError(f"no RFC 2833 event for some of {digits!r}")


def uac_scenario(
    digits: str = "",
    *,
    mode: DtmfMode = "info",
    first_pause_ms: int = 1000,
    gap_ms: int = 300,
    ending: Ending = "wait_bye",
    hangup_after_ms: int = 3000,
    bye_timeout_ms: int = 30000,
    steps: Sequence[tuple[int, str]] | None = None,
    caller: str = "caller",
) -> str:
    """The caller scenario's XML: answer, DTMF ``digits`` by ``mode``, then ``ending``.

    ``steps`` replaces ``digits``/``first_pause_ms``: a list of (pause in ms, digits) -- wait,
    then press those keys ``gap_ms`` apart (a caller walking a menu). ``caller`` is the user
    part of From (the caller ID Asterisk reports: a number, or a name for "unknown").

    ``wait_bye``: expect Asterisk to hang up within ``bye_timeout_ms`` (no pause after the
    last digit, so an early BYE is still taken). ``hangup``: pause ``hangup_after_ms`` after
    the digits and hang up; a BYE from Asterisk during that pause fails the call.
    """
    if steps is None:
        steps = [(first_pause_ms, digits)] if digits else []
    if not all(ch.isalnum() or ch in "+-_." for ch in caller) or not caller:
        raise ValueError(f"bad caller {caller!r}")
    parts: list[str] = []
    cseq = 2
    position = 0
    for pause_ms, keys in steps:
        _check_digits(keys, mode if keys else "none")
        if pause_ms > 0:
            parts.append(f'  <pause milliseconds="{pause_ms}"/>\n')
        for i, digit in enumerate(keys):
            if i:
                parts.append(f'  <pause milliseconds="{gap_ms}"/>\n')
            if mode == "info":
                parts.append(_info_block(digit, cseq))
                cseq += 1
            else:
                parts.append(_pcap_block(digit, position))
            position += 1
    end = (
        _end_wait_bye(bye_timeout_ms)
        if ending == "wait_bye"
        else _end_hangup(hangup_after_ms, cseq)
    )
    text = (SCENARIOS / "uac_call.xml").read_text().replace("sip:caller@", f"sip:{caller}@")
    return text.replace("<!-- DTMF -->", "".join(parts)).replace("<!-- END -->", end)


def _end_wait_bye(timeout_ms: int) -> str:
    return f"""
  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <timewait milliseconds="200"/>
"""


def _end_hangup(after_ms: int, cseq: int) -> str:
    return f"""
  <pause milliseconds="{after_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: {cseq} BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


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
    if not service.isdigit():
        raise ValueError(f"service must be digits: {service!r}")
    with tempfile.TemporaryDirectory(prefix="hotline-sipp-") as tmp:
        work = Path(tmp)
        scenario = work / "uac.xml"
        scenario.write_text(scenario_xml)
        args = _base_args(scenario, work, calls=calls, timeout_s=timeout_s)
        args += ["-s", service, "-r", str(rate), "-l", str(limit or calls), *extra]
        args.append(f"{LOOPBACK}:{target_port}")
        return _run(args, work, timeout_s)


def _run(args: list[str], work: Path, timeout_s: int) -> SippResult:
    log.info("sipp: %s", " ".join(args))
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args, cwd=work, capture_output=True, text=True, timeout=timeout_s + 15, check=False
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, str(exc.stdout or ""), f"killed after {timeout_s + 15}s"
    errors_file = work / "errors.log"
    errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
    return SippResult(code, out, err, errors, time.monotonic() - start)


AgentBehaviour = Literal["answer", "talk", "no_answer", "busy"]


def uas_scenario(behaviour: AgentBehaviour = "answer", *, answer_after_ms: int = 1000,
                 talk_ms: int = 4000) -> str:
    """An agent phone's scenario XML.

    ``answer``: answer at once, wait for the BYE (scenarios/uas_agent.xml); ``talk``: ring
    ``answer_after_ms``, answer, talk ``talk_ms`` and hang up (uas_agent_talk.xml);
    ``no_answer``: ring until Asterisk cancels (uas_agent_noanswer.xml); ``busy``: 486.
    """
    if behaviour == "talk":
        text = (SCENARIOS / "uas_agent_talk.xml").read_text()
        return text.replace("ANSWER_AFTER_MS", str(int(answer_after_ms))).replace(
            "TALK_MS", str(int(talk_ms)))
    name = {"answer": "uas_agent.xml", "no_answer": "uas_agent_noanswer.xml",
            "busy": "uas_agent_busy.xml"}[behaviour]
    return (SCENARIOS / name).read_text()


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

    def start(self) -> Uas:
        log.info("sipp uas: %s", " ".join(self._args))
        self._start = time.monotonic()
        self._proc = subprocess.Popen(
            self._args, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(0.3)  # let it bind
        return self

    def wait(self, timeout_s: float | None = None) -> SippResult:
        """Wait for SIPp to finish (it exits after its calls); kill it (our pid) if it hangs."""
        assert self._proc is not None
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
