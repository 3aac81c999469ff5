"""End-to-end voice harness: the real Hotline server, the sandbox Asterisk, SIPp callers.

``VoiceRig.start(tmp)``:

- writes a flows dir of demo_400 copies whose agent schedule is always open or never open,
  so the tests do not depend on the time of day: ``demo_400`` (the shipped prompts, always
  open: its AGI traffic replays in tests/protocol), ``demo_open`` and ``demo_closed`` (short
  prompts, ``shorten``: fast calls);
- runs ``python -m cti.app.cli run --no-asterisk`` as users do, configured only by HOTLINE_*
  variables, on free ports; it writes each finished call to ``<data_dir>/calls.jsonl``;
- renders the Asterisk configuration from the same variables (``load_config(env=...)``) for
  instance ``e2e`` (its own SIP/AMI/RTP ports) and starts it (``cti.app.sandbox.Sandbox``)
  with the data, flows and prompt dirs bind-mounted into the chroot (and the repo, for
  classic AGI); AGI debug is switched on so the log shows every AGI line (the recordings and
  the call/outcome matching use it).

Calls are SIPp processes (``bench.sipp``) and may run side by side: every call
has its own caller ID (the From user), which the AGI environment reports as
``agi_callerid``; ``outcome_for`` finds the call's ``agi_uniqueid`` in the AGI debug lines
and the matching line of calls.jsonl.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from bench.sipp import DtmfMode, Ending, SippResult, free_port, run_uac, uac_scenario
from cti.app.config import Config, ensure_secrets, load_config
from cti.app.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "ivr_flows" / "flows" / "demo_400.yaml"
INSTANCE = "e2e"
# Not the ports of the other sandbox instances (test 15060/15038, ami 16060/16038,
# bench 17060/17038).
SIP_PORT = 18460
AMI_PORT = 18438
RTP_START, RTP_END = 23000, 23399
DID_DEMO = "4008001234"  # demo_400: the shipped prompts, agents always answer
DID_OPEN = "4008002001"  # demo_open: short prompts, agents always answer
DID_CLOSED = "4008002002"  # demo_closed: short prompts, agents never answer
CLASSIC = "9"  # 9 + DID: the same flow through classic AGI
SHORT = {"zh": "好", "en": "OK"}
SERVER_START_S = 120


def shorten(text: str, lang: str) -> str:
    """A short prompt that keeps every ``{placeholder}`` (the values are still spoken)."""
    return SHORT.get(lang, "OK") + "".join(re.findall(r"\{[^{}]+\}", text))


def flow_copy(name: str, *, always_open: bool, short: bool = True) -> str:
    """demo_400 as flow ``name``: short prompts (unless ``short=False``), agents always open
    (every day 00:00-24:00, no holidays) or never (no opening hours)."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["flow"] = name

    def shortened(prompt: Any) -> Any:
        if isinstance(prompt, dict) and short:
            return {k: shorten(v, k) if isinstance(v, str) and k in SHORT else v
                    for k, v in prompt.items()}
        return prompt

    for key in ("invalid", "no_input"):
        data["defaults"][key] = shortened(data["defaults"][key])
    for node in data["nodes"].values():
        for key in ("prompt", "invalid", "no_input"):
            if key in node:
                node[key] = shortened(node[key])
    data["schedules"]["agents"] = (
        {"weekly": {"mon-sun": "00:00-24:00"}} if always_open else {"weekly": {}}
    )
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@dataclass
class Call:
    """One SIPp call: where, which keys when, and how it ends."""

    did: str
    steps: Sequence[tuple[int, str]]
    caller: str
    mode: DtmfMode = "info"
    ending: Ending = "wait_bye"
    hangup_after_ms: int = 3000
    timeout_s: int = 60
    result: SippResult | None = field(default=None, compare=False)


class VoiceRig:
    # the sandbox instance and its ports (a subclass may take others, to run side by side)
    instance = INSTANCE
    sip_port = SIP_PORT
    ami_port = AMI_PORT
    rtp_start, rtp_end = RTP_START, RTP_END

    def __init__(self, tmp: Path, extra_env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.extra_env = dict(extra_env or {})
        self.data_dir = tmp / "data"
        self.flows_dir = tmp / "flows"
        self.root = Path(os.environ.get("HOTLINE_SANDBOX_DIR", "")
                         or Path.home() / ".cache" / "hotline" / "asterisk-sid")
        self.env: dict[str, str] = {}
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = tmp / "server.log"
        self.cfg: Config | None = None
        self.box: Sandbox | None = None
        self.server_start_s = 0.0

    # -- set up / tear down

    def write_flows(self) -> None:
        self.flows_dir.mkdir(parents=True, exist_ok=True)
        (self.flows_dir / "demo_400.yaml").write_text(
            flow_copy("demo_400", always_open=True, short=False))
        (self.flows_dir / "demo_open.yaml").write_text(flow_copy("demo_open", always_open=True))
        (self.flows_dir / "demo_closed.yaml").write_text(
            flow_copy("demo_closed", always_open=False))

    def make_env(self) -> dict[str, str]:
        backend = free_port(socket.SOCK_STREAM)
        # No other HOTLINE_* variable: the config loader would read HOTLINE_SANDBOX_DIR
        # (sandbox.sh's variable) as an unknown setting and refuse to start.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update({
            "HOTLINE_DATA_DIR": str(self.data_dir),
            "HOTLINE_FLOWS_DIR": str(self.flows_dir),
            "HOTLINE_LOG_LEVEL": "INFO",
            "HOTLINE_FASTAGI_PORT": str(free_port(socket.SOCK_STREAM)),
            "HOTLINE_ITR_PORT": str(free_port(socket.SOCK_STREAM)),
            "HOTLINE_ITR_PUBLIC_URL": "http://127.0.0.1:9",
            "HOTLINE_CONSOLE_PORT": str(free_port(socket.SOCK_STREAM)),
            "HOTLINE_BACKEND_DEMO_PORT": str(backend),
            "HOTLINE_BACKEND_BASE_URL": f"http://127.0.0.1:{backend}",
            "HOTLINE_PROMPTS_CACHE_DIR": str(self.data_dir / "prompts"),
            "HOTLINE_ASTERISK_SANDBOX_DIR": str(self.root),
            "HOTLINE_ASTERISK_SIP_PORT": str(self.sip_port),
            "HOTLINE_ASTERISK_AMI_PORT": str(self.ami_port),
            "HOTLINE_ASTERISK_RTP_START": str(self.rtp_start),
            "HOTLINE_ASTERISK_RTP_END": str(self.rtp_end),
            "HOTLINE_ASTERISK_DIDS": (f"{DID_DEMO}=demo_400,{DID_OPEN}=demo_open,"
                                      f"{DID_CLOSED}=demo_closed"),
            # the agent API (the CTI): its own port, not the default 8070 another run may hold
            "HOTLINE_CTI_API_PORT": str(free_port(socket.SOCK_STREAM)),
            "HOTLINE_CHAT_PORT": str(free_port(socket.SOCK_STREAM)),
        })
        env.update(self.extra_env)
        return env

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HOTLINE_CTI_API_PORT']}"

    @property
    def api_token(self) -> str:
        """The agent API's bearer token (``ensure_secrets`` wrote it on the first start)."""
        return (self.data_dir / "api.token").read_text().strip()

    def server_log_text(self) -> str:
        return self.server_log.read_text(errors="replace") if self.server_log.exists() else ""

    @property
    def fastagi_port(self) -> int:
        return int(self.env["HOTLINE_FASTAGI_PORT"])

    @property
    def backend_url(self) -> str:
        return self.env["HOTLINE_BACKEND_BASE_URL"]

    def start_server(self) -> None:
        """``hotline run --no-asterisk`` in a subprocess; returns once FastAGI listens."""
        started = time.monotonic()
        log = self.server_log.open("ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "cti.app.cli", "run", "--no-asterisk"],
            cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = started + SERVER_START_S
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"hotline run exited {self.server.returncode}:\n"
                                   + self.server_log.read_text(errors="replace")[-3000:])
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.fastagi_port)) == 0:
                    break
            if time.monotonic() > deadline:
                self.stop_server()
                raise RuntimeError("hotline run did not listen in time")
            time.sleep(0.1)
        self.server_start_s = time.monotonic() - started

    def kill_server(self) -> None:
        """SIGKILL the server (our own child, by pid): a crash, not a clean stop."""
        if self.server is not None and self.server.poll() is None:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()

    def start_asterisk(self) -> None:
        """Instance ``self.instance`` with the server's configuration; SandboxError (a
        RuntimeError) if it cannot start."""
        self.cfg = ensure_secrets(load_config(env=self.env))
        self.box = box = Sandbox(self.cfg, self.instance)
        box.build(classic_agi=True)
        box.stop()  # a leftover of an interrupted run
        box.check_ports_free()
        box.start(box.render(self.tmp / "asterisk-etc"), classic_agi=True, fresh_logs=True)
        box.cli("agi set debug on")

    def stop_asterisk(self) -> None:
        if self.box is not None:
            self.box.stop()

    @classmethod
    def start(cls, tmp: Path, extra_env: dict[str, str] | None = None) -> Self:
        rig = cls(tmp, extra_env)
        rig.write_flows()
        rig.env = rig.make_env()
        rig.start_server()
        try:
            rig.start_asterisk()
        except BaseException:
            rig.stop_server()
            rig.stop_asterisk()
            raise
        return rig

    def close(self) -> None:
        self.stop_asterisk()
        self.stop_server()

    # -- calls

    @property
    def sandbox_box(self) -> Sandbox:
        assert self.box is not None
        return self.box

    def run_calls(self, calls: Sequence[Call]) -> list[Call]:
        """Place every call at once (each its own SIPp process); wait for all."""

        def place(call: Call) -> Call:
            xml = uac_scenario(steps=call.steps, mode=call.mode, ending=call.ending,
                               hangup_after_ms=call.hangup_after_ms, caller=call.caller,
                               bye_timeout_ms=call.timeout_s * 1000)
            call.result = run_uac(self.sip_port, call.did, xml, timeout_s=call.timeout_s)
            return call

        with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
            return list(pool.map(place, calls))

    def outcomes(self) -> list[dict[str, Any]]:
        path = self.data_dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def call_lines(self, caller: str, did: str = "") -> list[str]:
        """messages.log lines of the (last) call from ``caller`` (to ``did``): every line
        Asterisk logs for a call carries its call id (``[C-00000003]``)."""
        log = self.sandbox_box.log_since(0)
        ids = re.findall(rf"\[(C-[0-9a-f]+)\] res_agi\.c: .*AGI Tx >> agi_callerid: "
                         rf"{re.escape(caller)}\n", log)
        if did:
            ids = [i for i in ids if f"[{i}] res_agi.c: " in log and re.search(
                rf"\[{i}\] res_agi\.c: .*AGI Tx >> agi_dnid: {did}\n", log)]
        if not ids:
            return []
        tag = f"[{ids[-1]}]"
        return [line for line in log.splitlines() if tag in line]

    def agi_env(self, caller: str, did: str = "") -> dict[str, str]:
        """The AGI environment Asterisk sent for the (last) call from ``caller``."""
        env: dict[str, str] = {}
        for line in self.call_lines(caller, did):
            m = re.search(r"AGI Tx >> (agi_\w+): ?(.*)$", line)
            if m:
                env.setdefault(m.group(1), m.group(2))
        return env

    def outcome_for(self, caller: str, did: str = "", timeout_s: float = 10.0) -> dict[str, Any]:
        """calls.jsonl's line for the call from ``caller`` (waits for it to be written)."""
        deadline = time.monotonic() + timeout_s
        while True:
            uid = self.agi_env(caller, did).get("agi_uniqueid")
            if uid:
                found = [o for o in self.outcomes() if o["uniqueid"] == uid]
                if found:
                    return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no outcome for caller {caller} (uniqueid {uid})")
            time.sleep(0.2)

    def dialplan_log(self, caller: str, did: str = "") -> str:
        """The call's ``HOTLINE ...`` Verbose lines (what the dialplan did after the AGI)."""
        return "\n".join(line.split("app_verbose.c: ", 1)[1]
                         for line in self.call_lines(caller, did)
                         if "app_verbose.c: HOTLINE" in line)

    def agi_traffic(self, caller: str, did: str = "") -> list[tuple[str, str]]:
        """The call's AGI lines as ("<", line from Asterisk) / (">", line from Hotline)."""
        out: list[tuple[str, str]] = []
        for line in self.call_lines(caller, did):
            m = re.search(r"AGI (Tx >>|Rx <<) ?(.*)$", line)
            if m:
                out.append(("<" if m.group(1) == "Tx >>" else ">", m.group(2)))
        return out


def recording(traffic: Sequence[tuple[str, str]], header: Sequence[str]) -> str:
    """AGI traffic in tests/protocol/recordings' format; machine-specific parts globbed:
    prompt file paths, the numbers a back-end answered, ids, versions, ports."""
    lines = [f"# {h}" for h in header]
    for direction, text in traffic:
        if direction == ">":
            text = re.sub(r"/\S*/(?:tts|rec)/([a-z]{2,3})/[0-9a-f]{32}", r"/*/\1/*", text)
            text = re.sub(r"^SAY NUMBER \d+", "SAY NUMBER *", text)
        else:
            text = re.sub(r"^(agi_request: agi://127\.0\.0\.1:)\d+", r"\g<1>4573", text)
            text = re.sub(r"^agi_threadid: \d+", "agi_threadid: 140000000000000", text)
        lines.append(f"{direction} {text}")
    return "\n".join(lines) + "\n"


