"""The real-Asterisk fixture: the sandbox chroot, instance ``test``, on non-default ports.

``asterisk`` (session scope) builds the chroot if needed (a few minutes, once per machine),
renders the configuration (with the test hooks) from a Config made here, starts the instance
and stops it at the end -- all through the one sandbox driver, ``cti.app.sandbox.Sandbox``.
Its ``cfg`` is the Config used: a FastAGI server fixture listens on
``asterisk.cfg.fastagi.port``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.sipp import sipp_path
from cti.app.config import Config
from cti.app.sandbox import Sandbox, SandboxError

INSTANCE = "test"
SIP_PORT = 15060
AMI_PORT = 15038
FASTAGI_PORT = 14573
RTP_START, RTP_END = 20000, 20999


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "the Asterisk sandbox needs root (debootstrap, chroot)"
    for tool in ("debootstrap", "chroot", "mount"):
        if not shutil.which(tool):
            return f"{tool} is not installed (make system)"
    if not sipp_path():
        return "sipp is not installed (Debian package sip-tester; make system)"
    return None


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
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    box = Sandbox(make_test_config(tmp_path_factory.mktemp("hotline-data")), INSTANCE)
    try:
        box.build(classic_agi=False)
        box.stop()  # an instance left over by an interrupted run (its pid file is ours)
        box.check_ports_free()
        conf = box.render(tmp_path_factory.mktemp("asterisk-etc"), test_hooks=True)
        box.start(conf, classic_agi=False, fresh_logs=True)
    except SandboxError as exc:
        pytest.fail(f"sandbox: {exc}")
    try:
        yield box
    finally:
        box.stop()
