"""The voice benchmark's own processes: the demo back-end and the Hotline server, each in a
session of its own (``plan.SERVICE_SESSIONS``), started, waited for and stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.voice.plan import (
    AMI_PORT,
    BACKEND_PORT,
    BACKEND_URL,
    CHAT_PORT,
    CONSOLE_PORT,
    CTI_API_PORT,
    FASTAGI_DID,
    FASTAGI_PORT,
    FLOW,
    ITR_PORT,
    LOOPBACK,
    SERVICE_SESSIONS,
    SIP_PORT,
    VOICE,
)
from cti.app.config import REPO_ROOT, Config
from cti.app.sandbox import port_taken


def wait_listening(proc: subprocess.Popen[bytes], port: int, log_file: Path, what: str,
                   limit_s: float) -> None:
    """Until ``proc`` listens on ``port`` (TCP, 127.0.0.1); raise with its log's tail if it
    exits first or does not listen within ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n" + log_file.read_text(errors="replace")[-3000:])
        if port_taken(LOOPBACK, port, socket.SOCK_STREAM):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen within {limit_s:.0f} s")


def start_backend(log_file: Path, access_log: Path) -> subprocess.Popen[bytes]:
    """The demo back-end, its own process for the whole run (see bench/voice/backend.py)."""
    with log_file.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.voice.backend", "--port", str(BACKEND_PORT),
             "--access-log", str(access_log)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
            start_new_session=SERVICE_SESSIONS)
    wait_listening(proc, BACKEND_PORT, log_file, "demo back-end", 30)
    return proc


def server_env(cfg: Config) -> dict[str, str]:
    """``hotline run``'s configuration for the bench, as users give it: HOTLINE_* variables."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")},
        "HOTLINE_DATA_DIR": cfg.data_dir,
        "HOTLINE_FLOWS_DIR": str(VOICE),
        "HOTLINE_LOG_LEVEL": "WARNING",
        "HOTLINE_SECRET_KEY": cfg.secret_key,
        "HOTLINE_PROMPTS_CACHE_DIR": str(cfg.prompt_cache_dir),
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
        "HOTLINE_ASTERISK_AMI_SECRET": cfg.asterisk.ami_secret,
        "HOTLINE_ASTERISK_SIP_PORT": str(SIP_PORT),
        "HOTLINE_ASTERISK_DIDS": f"{FASTAGI_DID}={FLOW}",
        "HOTLINE_CTI_API_PORT": str(CTI_API_PORT),  # the agent API
        "HOTLINE_CHAT_PORT": str(CHAT_PORT),  # chat and the agent desktop
    }


def start_server(cfg: Config, log_file: Path) -> subprocess.Popen[bytes]:
    """``hotline run --no-asterisk`` for the bench; returns once FastAGI listens (the prompts
    are built by then)."""
    hotline = REPO_ROOT / ".venv" / "bin" / "hotline"
    with log_file.open("wb") as fh:
        proc = subprocess.Popen([str(hotline), "run", "--no-asterisk"], env=server_env(cfg),
                                stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                start_new_session=SERVICE_SESSIONS)
    wait_listening(proc, FASTAGI_PORT, log_file, "hotline server", 60)
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM a process this bench started (by its pid), SIGKILL if it lingers."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
