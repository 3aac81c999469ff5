"""Classic AGI over pyst2: a fake Asterisk on the other end of a socket pair writes the
environment and real reply lines (bare HANGUP included); the same session driver runs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from asterisk.agi import AGI

from cti.telephony.agi.pyst2_script import PystTransport, _Sink, run_call
from ivr_flows.core.effects import Act, Result, SendLink, State
from ivr_flows.core.model import Flow
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.session import CallOutcome

REPO = Path(__file__).resolve().parents[2]
OPEN = datetime(2026, 3, 2, 10, 0)
ENV = {"agi_request": "hotline-agi", "agi_channel": "PJSIP/sipp-00000001",
       "agi_language": "en", "agi_type": "PJSIP", "agi_uniqueid": "1718000001.7",
       "agi_version": "22.10.0", "agi_callerid": "13800138000", "agi_calleridname": "sipp",
       "agi_dnid": "4008001234", "agi_context": "hotline", "agi_extension": "4008001234",
       "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "",
       "agi_threadid": "140362117023424", "agi_arg_1": "demo_400"}


class FakePrompts:
    def text_file(self, lang: str, text: str) -> str:
        return f"/prompts/{lang}/{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    def say_text(self, lang: str, text: str) -> str:
        return self.text_file(lang, text)

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str:
        return self.text_file(lang, audio)


class NoActions:
    def run(self, flow: Flow, act: Act) -> Result:
        return Result("error", {})


def no_link(flow: Flow, state: State, link: SendLink) -> Result:
    return Result("error", {})


class FakeAsterisk(threading.Thread):
    """Writes the environment, then answers each expected command with recorded lines."""

    def __init__(self, sock: socket.socket, env: dict[str, str],
                 script: Sequence[tuple[str, Sequence[str]]], check_extra: bool = True) -> None:
        super().__init__(daemon=True)
        self.check_extra = check_extra
        self.sock = sock
        self.env = env
        self.script = list(script)
        self.received: list[str] = []
        self.problems: list[str] = []

    def run(self) -> None:
        with self.sock.makefile("rw", encoding="utf-8", newline="\n") as f:
            f.write("".join(f"{k}: {v}\n" for k, v in self.env.items()) + "\n")
            f.flush()
            for pattern, replies in self.script:
                line = f.readline()
                if not line:
                    self.problems.append(f"connection closed before {pattern!r}")
                    return
                self.received.append(line.rstrip("\n"))
                if not fnmatchcase(line.rstrip("\n"), pattern):
                    self.problems.append(f"{line!r} does not match {pattern!r}")
                f.write("".join(r + "\n" for r in replies))
                f.flush()
            extra = f.readline() if self.check_extra else ""
            if extra:
                self.problems.append(f"unexpected command {extra!r}")
        self.sock.close()


@pytest.fixture
def restore_sighup() -> Iterator[None]:
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def call(flow: Flow, script: Sequence[tuple[str, Sequence[str]]],
         env: dict[str, str] | None = None,
         check_extra: bool = True) -> tuple[CallOutcome | None, FakeAsterisk]:
    ours, theirs = socket.socketpair()
    asterisk = FakeAsterisk(theirs, env or ENV, script, check_extra)
    asterisk.start()
    stream = ours.makefile("rw", encoding="utf-8", newline="\n")
    conn = AGI(stdin=stream, stdout=stream, stderr=_Sink())
    outcome = run_call(conn, {"demo_400": flow}, FakePrompts(), NoActions(), no_link,
                       lambda f: OPEN)
    with contextlib.suppress(OSError):  # a command left unsent when Asterisk closed
        stream.close()
    ours.close()
    asterisk.join(timeout=5)
    assert not asterisk.is_alive()
    assert asterisk.problems == []
    return outcome, asterisk


MAIN = 'STREAM FILE /prompts/zh/* "12345089"'


@pytest.mark.usefixtures("restore_sighup")
def test_a_call_over_pyst2_reaches_the_agent_queue(demo_flow: Flow) -> None:
    outcome, _ = call(demo_flow, [
        (MAIN, ["200 result=48 endpos=2000"]),
        ('STREAM FILE /prompts/zh/* ""', ["200 result=0 endpos=13120"]),
        ('SET VARIABLE HOTLINE_EXIT "queue"', ["200 result=1"]),
        ('SET VARIABLE HOTLINE_LANG "zh"', ["200 result=1"]),
        ('SET VARIABLE HOTLINE_QUEUE "service"', ["200 result=1"]),
        ('SET VARIABLE HOTLINE_PRIORITY "5"', ["200 result=1"]),
        ('SET VARIABLE HOTLINE_DONE "1"', ["200 result=1"]),
    ])
    assert outcome is not None and (outcome.ended, outcome.reason) == ("exit", "queue")
    assert outcome.uniqueid == "1718000001.7"


@pytest.mark.usefixtures("restore_sighup")
def test_the_bare_hangup_line_after_minus_one_does_not_crash_pyst2(demo_flow: Flow) -> None:
    outcome, _ = call(demo_flow, [(MAIN, ["200 result=-1 endpos=3360", "HANGUP"])])
    assert outcome is not None and (outcome.ended, outcome.reason) == ("hangup",
                                                                       "caller_hangup")


@pytest.mark.usefixtures("restore_sighup")
@pytest.mark.parametrize("replies, reason", [
    (["HANGUP", "511 Command Not Permitted on a dead channel or intercept routine"],
     "caller_hangup"),
    (["511 Command Not Permitted on a dead channel or intercept routine"], "dead_channel"),
])
def test_hangup_and_dead_channel_replies_end_the_call(demo_flow: Flow, replies: list[str],
                                                      reason: str) -> None:
    outcome, _ = call(demo_flow, [(MAIN, replies)])
    assert outcome is not None and outcome.reason == reason


@pytest.mark.usefixtures("restore_sighup")
def test_asterisk_closing_the_pipe_is_a_lost_connection(demo_flow: Flow) -> None:
    outcome, _ = call(demo_flow, [], check_extra=False)  # closes right after the environment
    assert outcome is not None and outcome.reason == "connection_lost"


@pytest.mark.usefixtures("restore_sighup")
def test_an_unknown_flow_argument_clears_hotline_done(demo_flow: Flow) -> None:
    outcome, _ = call(demo_flow, [
        ('SET VARIABLE HOTLINE_DONE ""', ["200 result=1"]),
        ('SET VARIABLE HOTLINE_ERROR "unknown_flow"', ["200 result=1"]),
    ], env={**ENV, "agi_arg_1": "no_such_flow"})
    assert outcome is None


@pytest.mark.usefixtures("restore_sighup")
def test_a_hostile_value_reaches_asterisk_as_one_line() -> None:
    ours, theirs = socket.socketpair()
    asterisk = FakeAsterisk(theirs, ENV, [("SET VARIABLE HOTLINE_X *", ["200 result=1"])])
    asterisk.start()
    stream = ours.makefile("rw", encoding="utf-8", newline="\n")
    transport = PystTransport(AGI(stdin=stream, stdout=stream, stderr=_Sink()))
    reply = transport.send(agi.set_variable("HOTLINE_X", 'x"\nEXEC Dial "PJSIP/evil"\r\n\\'))
    stream.close()
    ours.close()
    asterisk.join(timeout=5)
    assert reply.kind == "ok" and asterisk.problems == []
    assert agi.split_args(asterisk.received[0])[3] == 'x"EXEC Dial "PJSIP/evil"\\'


@pytest.mark.usefixtures("restore_sighup")
def test_sighup_from_asterisk_means_the_caller_is_gone() -> None:
    ours, theirs = socket.socketpair()
    asterisk = FakeAsterisk(theirs, ENV, [])
    asterisk.start()
    stream = ours.makefile("rw", encoding="utf-8", newline="\n")
    conn = AGI(stdin=stream, stdout=stream, stderr=_Sink())
    os.kill(os.getpid(), signal.SIGHUP)
    assert PystTransport(conn).send(agi.answer()).gone
    stream.close()
    ours.close()
    asterisk.join(timeout=5)


def test_the_console_script_hands_an_unknown_flow_back_to_the_dialplan(tmp_path: Path) -> None:
    env_block = "".join(f"{k}: {v}\n" for k, v in {**ENV, "agi_arg_1": "nope"}.items())
    replies = "200 result=1\n200 result=1\n"
    proc = subprocess.run(
        [sys.executable, "-c", "from cti.app.agi_main import main; "
                               "raise SystemExit(main([]))"],
        input=(env_block + "\n" + replies).encode(), capture_output=True, timeout=60,
        cwd=REPO, env={**{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")},
                       "HOTLINE_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().splitlines() == ['SET VARIABLE HOTLINE_DONE ""',
                                                 'SET VARIABLE HOTLINE_ERROR "unknown_flow"']
