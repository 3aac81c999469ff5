"""The Asterisk sandbox for real: clean start, AMI, DTMF both ways, the dialplan contract.

Every call goes from SIPp on 127.0.0.1 to the ``test`` instance on 127.0.0.1, one at a time.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from bench.sipp import Uas, run_uac, uac_scenario
from cti.app.sandbox import Sandbox

pytestmark = pytest.mark.asterisk

DTMF_EXTEN = "601"  # test hook: a native Read() of 4 digits (render.DTMF_EXTEN)
FLOW_DID = "4008001234"


def _ami_read_message(sock: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def _ami_login(port: int, user: str, secret: str) -> tuple[str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        banner = b""
        while not banner.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            banner += chunk
        login = f"Action: Login\r\nActionID: t1\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n"
        sock.sendall(login.encode())
        reply = _ami_read_message(sock)
        return banner.decode().strip(), reply


def test_asterisk_starts_with_a_clean_log(asterisk: Sandbox) -> None:
    bad = [
        line for line in asterisk.boot_log.splitlines() if re.search(r"\] (ERROR|WARNING)\[", line)
    ]
    assert bad == [], "\n".join(bad)
    assert "modules will be loaded" in asterisk.boot_log
    assert asterisk.start_seconds < 30
    modules = asterisk.cli("module show like chan_pjsip")
    assert "chan_pjsip.so" in modules and "Running" in modules


def test_every_listener_is_on_loopback(asterisk: Sandbox) -> None:
    transports = asterisk.cli("pjsip show transports")
    assert f"127.0.0.1:{asterisk.cfg.asterisk.sip_port}" in transports
    pid = asterisk.pid()
    sockets = subprocess.run(
        ["ss", "-H", "-lntup"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    mine = [line.split() for line in sockets if f"pid={pid}," in line]
    tcp = [f[4] for f in mine if f[0] == "tcp"]
    udp = [f[4] for f in mine if f[0] == "udp"]
    assert tcp == [f"127.0.0.1:{asterisk.cfg.asterisk.ami_port}"], mine
    assert f"127.0.0.1:{asterisk.cfg.asterisk.sip_port}" in udp, mine
    # Known: pjproject keeps two unconnected ephemeral UDP sockets on 0.0.0.0 / [::] (not a
    # SIP or RTP listener; no configured port). Everything on a configured port is loopback.
    assert all(
        a.startswith("127.0.0.1:") for a in udp if not a.startswith(("0.0.0.0:", "[::]:"))
    ), mine
    manager = asterisk.cli("manager show settings")
    assert re.search(
        rf"TCP Bindaddress:\s+127\.0\.0\.1:{asterisk.cfg.asterisk.ami_port}", manager
    ), manager


def test_ami_banner_and_login(asterisk: Sandbox) -> None:
    ast = asterisk.cfg.asterisk
    banner, reply = _ami_login(ast.ami_port, ast.ami_user, ast.ami_secret)
    assert banner.startswith("Asterisk Call Manager/")
    assert "Response: Success" in reply, reply
    _, refused = _ami_login(ast.ami_port, ast.ami_user, "wrong-" + ast.ami_secret)
    assert "Response: Error" in refused, refused


@pytest.mark.parametrize(("mode", "digits"), [("info", "1234"), ("rfc2833", "5678")])
def test_native_dialplan_receives_dtmf(asterisk: Sandbox, mode: str, digits: str) -> None:
    mark = asterisk.log_mark()
    result = run_uac(
        asterisk.cfg.asterisk.sip_port,
        DTMF_EXTEN,
        uac_scenario(digits, mode=mode),  # type: ignore[arg-type]
        timeout_s=30,
    )
    assert result.ok, result.describe()
    log = asterisk.wait_for_log(mark, "HOTLINE test-dtmf")
    assert f"HOTLINE test-dtmf order={digits} readstatus=OK" in log, log[-3000:]


class FakeFastAgi:
    """A one-connection FastAGI server (test only): records the AGI environment and replies.

    ``script(send)`` runs after the environment was read; ``send(cmd)`` returns the reply.
    """

    def __init__(self, port: int, script: Callable[[Callable[[str], str]], None]) -> None:
        self.env: dict[str, str] = {}
        self.replies: list[str] = []
        self._script = script
        self._server = socket.create_server(("127.0.0.1", port), backlog=8)
        self._server.settimeout(30)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError as exc:
            self.error = exc
            return
        with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as fh:
            conn.settimeout(20)
            for line in fh:
                line = line.rstrip("\n")
                if not line:
                    break
                key, _, value = line.partition(": ")
                self.env[key] = value

            def send(command: str) -> str:
                fh.write(command + "\n")
                fh.flush()
                reply = fh.readline().rstrip("\n")
                self.replies.append(reply)
                return reply

            try:
                self._script(send)
            except (OSError, ValueError) as exc:
                self.error = exc

    def __enter__(self) -> FakeFastAgi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=30)
        self._server.close()


@contextmanager
def fake_fastagi(
    asterisk: Sandbox, script: Callable[[Callable[[str], str]], None]
) -> Iterator[FakeFastAgi]:
    with FakeFastAgi(asterisk.cfg.fastagi.port, script) as server:
        yield server


def test_fastagi_contract_done_and_hangup(asterisk: Sandbox) -> None:
    """The handler reads 4 digits, sets HOTLINE_DONE/EXIT=hangup: Asterisk hangs up."""

    def script(send: Callable[[str], str]) -> None:
        send("GET DATA beep 5000 4")
        send("SET VARIABLE HOTLINE_EXIT hangup")
        send("SET VARIABLE HOTLINE_DONE 1")

    mark = asterisk.log_mark()
    with fake_fastagi(asterisk, script) as agi:
        result = run_uac(
            asterisk.cfg.asterisk.sip_port,
            FLOW_DID,
            uac_scenario("2468", mode="info", first_pause_ms=1500),
            timeout_s=30,
        )
    assert result.ok, result.describe()
    assert agi.error is None
    assert agi.env["agi_network_script"] == "demo_400"
    assert agi.env["agi_extension"] == FLOW_DID
    assert agi.replies[0] == "200 result=2468"
    log = asterisk.wait_for_log(mark, "HOTLINE after-flow")
    assert "done=1 exit=hangup" in log, log[-3000:]
    assert "HOTLINE fallback" not in log


def _fallback_call(asterisk: Sandbox, hangup_after_ms: int = 8000) -> tuple[str, str]:
    mark = asterisk.log_mark()
    queue_before = len(asterisk.queue_log_text())
    result = run_uac(
        asterisk.cfg.asterisk.sip_port,
        FLOW_DID,
        uac_scenario(ending="hangup", hangup_after_ms=hangup_after_ms),
        timeout_s=40,
    )
    # exit 0 also proves Asterisk did not hang up on the caller during the pause
    assert result.ok, result.describe()
    deadline = time.monotonic() + 3
    while "ABANDON" not in asterisk.queue_log_text()[queue_before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    return asterisk.log_since(mark), asterisk.queue_log_text()[queue_before:]


def test_fallback_when_fastagi_is_down(asterisk: Sandbox) -> None:
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", asterisk.cfg.fastagi.port)) != 0, "port in use"
    log, queue_log = _fallback_call(asterisk)
    assert "HOTLINE fallback flow=demo_400 agistatus=FAILURE mode=queue" in log, log[-3000:]
    assert 'Playback("PJSIP/carrier-' in log and "sorry&pls-hold-while-try" in log
    assert re.search(r"\|backup\|[^|]*\|ENTERQUEUE\|", queue_log), queue_log
    assert re.search(r"\|backup\|[^|]*\|ABANDON\|", queue_log), queue_log


def test_fallback_when_handler_closes_without_done(asterisk: Sandbox) -> None:
    """A connection that just closes is AGISTATUS=SUCCESS: HOTLINE_DONE decides."""

    def script(send: Callable[[str], str]) -> None:
        send("SET VARIABLE HOTLINE_EXIT hangup")  # but never HOTLINE_DONE

    with fake_fastagi(asterisk, script):
        log, queue_log = _fallback_call(asterisk, hangup_after_ms=7000)
    assert "HOTLINE fallback flow=demo_400 agistatus=SUCCESS" in log, log[-3000:]
    assert "ENTERQUEUE" in queue_log


def test_handler_values_cannot_inject_dialplan(asterisk: Sandbox) -> None:
    """A queue name with dialplan syntax in it is refused: the call goes to the backup queue."""

    def script(send: Callable[[str], str]) -> None:
        send('SET VARIABLE HOTLINE_QUEUE "x,,,,,,,hotline-after-flow^hangup^1)"')
        send("SET VARIABLE HOTLINE_EXIT queue")
        send("SET VARIABLE HOTLINE_DONE 1")

    with fake_fastagi(asterisk, script):
        log, queue_log = _fallback_call(asterisk, hangup_after_ms=4000)
    assert "HOTLINE queue name=backup" in log, log[-3000:]
    assert "ENTERQUEUE" in queue_log


def test_agent_phone_answers(asterisk: Sandbox) -> None:
    """SIPp as an agent phone (UAS) is dialled through agent1001's endpoint and answers."""
    uas = Uas(calls=1, timeout_s=30).start()
    try:
        mark = asterisk.log_mark()
        result = run_uac(
            asterisk.cfg.asterisk.sip_port,
            f"77{uas.port:05d}",
            uac_scenario(ending="hangup", hangup_after_ms=2000),
            timeout_s=30,
        )
        uas_result = uas.wait(timeout_s=20)
    finally:
        uas.stop()
    assert result.ok, result.describe()
    assert uas_result.ok, uas_result.describe()
    log = asterisk.log_since(mark)
    assert re.search(r"PJSIP/agent1001-\w+ answered PJSIP/carrier-", log), log[-3000:]
