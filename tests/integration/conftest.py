"""The real-Asterisk fixture: the sandbox chroot, instance ``test``, on non-default ports.

``asterisk`` (session scope) builds the chroot if needed (a few minutes, once per machine),
renders the configuration from a Config made here, starts the instance and stops it at the
end. Its ``cfg`` is the Config used: a FastAGI server fixture listens on
``asterisk.cfg.fastagi.port``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from asterisk_conf.render import render
from cti.app.config import Config
from tests.integration.sipp import sipp_path

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "asterisk_conf" / "sandbox.sh"
INSTANCE = "test"
SIP_PORT = 15060
AMI_PORT = 15038
FASTAGI_PORT = 14573
RTP_START, RTP_END = 20000, 20999
BUILD_TIMEOUT_S = 1200


@dataclass
class AsteriskSandbox:
    """A running sandbox instance and what tests need to talk to it."""

    cfg: Config
    instance: str
    root: Path  # the chroot
    conf_dir: Path  # rendered configuration (host side)
    boot_log: str  # messages.log right after start
    start_seconds: float

    @property
    def log_dir(self) -> Path:
        return self.root / "instances" / self.instance / "log"

    @property
    def messages_log(self) -> Path:
        return self.log_dir / "messages.log"

    @property
    def queue_log(self) -> Path:
        return self.log_dir / "queue_log"

    def log_mark(self) -> int:
        """A position in messages.log; ``log_since(mark)`` reads what came after it."""
        return self.messages_log.stat().st_size if self.messages_log.exists() else 0

    def log_since(self, mark: int) -> str:
        with self.messages_log.open("rb") as fh:
            fh.seek(mark)
            return fh.read().decode(errors="replace")

    def queue_log_text(self) -> str:
        return self.queue_log.read_text(errors="replace") if self.queue_log.exists() else ""

    def cli(self, command: str) -> str:
        """Run an Asterisk CLI command on this instance; its output."""
        return sandbox("cli", self.instance, command, env=self.env).stdout

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HOTLINE_SANDBOX_DIR": str(self.root)}

    def wait_for_log(self, mark: int, text: str, timeout_s: float = 10.0) -> str:
        """Wait until ``text`` appears in messages.log after ``mark``; the new log."""
        deadline = time.monotonic() + timeout_s
        while True:
            new = self.log_since(mark)
            if text in new or time.monotonic() > deadline:
                return new
            time.sleep(0.1)


def sandbox(
    *args: str, env: dict[str, str], timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SANDBOX), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "the Asterisk sandbox needs root (debootstrap, chroot)"
    for tool in ("debootstrap", "chroot", "mount"):
        if not shutil.which(tool):
            return f"{tool} is not installed (make system)"
    if not sipp_path():
        return "sipp is not installed (Debian package sip-tester; make system)"
    return None


def _port_taken(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def make_test_config(data_dir: Path) -> Config:
    """The Config of the ``test`` instance: loopback, non-default ports, fresh secrets."""
    cfg = Config(data_dir=str(data_dir), secret_key=secrets.token_urlsafe(32))
    ast = replace(
        cfg.asterisk,
        sip_port=SIP_PORT,
        ami_port=AMI_PORT,
        ami_secret=secrets.token_urlsafe(24),
        rtp_start=RTP_START,
        rtp_end=RTP_END,
        sandbox_dir=os.environ.get("HOTLINE_SANDBOX_DIR", ""),
    )
    fastagi = replace(cfg.fastagi, port=FASTAGI_PORT)
    return replace(cfg, asterisk=ast, fastagi=fastagi)


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskSandbox]:
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    cfg = make_test_config(tmp_path_factory.mktemp("hotline-data"))
    env = {**os.environ, "HOTLINE_SANDBOX_DIR": str(cfg.sandbox_dir)}
    try:
        sandbox("build", env=env, timeout=BUILD_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"sandbox build failed:\n{exc.stderr[-3000:]}")
    # An instance left over by an interrupted run (its pid file is ours) is stopped first.
    sandbox("stop", INSTANCE, env=env)
    for port, kind in ((SIP_PORT, socket.SOCK_DGRAM), (AMI_PORT, socket.SOCK_STREAM)):
        if _port_taken(port, kind):
            pytest.fail(f"127.0.0.1:{port} is already in use; the test Asterisk needs it")
    conf_dir = render(
        cfg, tmp_path_factory.mktemp("asterisk-etc"), instance=INSTANCE, test_hooks=True
    )
    root = cfg.sandbox_dir
    (root / "instances" / INSTANCE / "log").mkdir(parents=True, exist_ok=True)
    for old in (root / "instances" / INSTANCE / "log").glob("*"):
        if old.is_file():
            old.unlink()
    started = time.monotonic()
    try:
        sandbox("start", INSTANCE, str(conf_dir), env=env)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"sandbox start failed:\n{exc.stderr[-3000:]}")
    box = AsteriskSandbox(cfg, INSTANCE, root, conf_dir, "", time.monotonic() - started)
    box.boot_log = box.log_since(0)
    try:
        yield box
    finally:
        sandbox("stop", INSTANCE, env=env)
