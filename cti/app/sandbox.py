"""The one driver of the sandbox Asterisk (asterisk_conf/sandbox.sh): render an instance's
configuration from Hotline's Config, build the chroot, start and stop the instance, run CLI
commands, read its logs.

``hotline run`` (``start_sandbox``/``stop_sandbox``), the integration tests and the voice
benchmark all drive the sandbox through this module:

    box = Sandbox(cfg, "test")
    box.build()                  # the chroot, once per machine (and the classic AGI venv)
    box.stop()                   # a leftover of an interrupted run of this instance
    box.check_ports_free()       # its SIP and AMI ports
    box.start(box.render(out_dir), fresh_logs=True)   # returns once fully booted
    mark = box.log_mark(); box.cli("core show channels"); box.log_since(mark)
    box.stop()

``start`` returns when ``sandbox.sh start`` saw ``core waitfullybooted`` succeed, i.e. the
instance is up. Every failure of sandbox.sh raises ``SandboxError`` with the tail of what it
said; its progress lines go to this module's logger as they come (a first build takes a few
minutes).
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from asterisk_conf.render import ExtraDialplan, RenderError, agi_bind_dirs, render
from cti.app.config import REPO_ROOT, Config, ConfigError

log = logging.getLogger(__name__)

SANDBOX_SH = REPO_ROOT / "asterisk_conf" / "sandbox.sh"
BUILD_TIMEOUT_S = 1200.0  # debootstrap + apt, or the venv inside the chroot: minutes, once
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What sandbox.sh may read from our environment besides its own HOTLINE_SANDBOX_DIR.
PASSED_ENV = ("HOME", "LANG", "PIP_CERT", "TMPDIR")


class SandboxError(RuntimeError):
    """sandbox.sh failed (its last lines are in the message), or the instance cannot start."""


def agi_settings(cfg: Config) -> dict[str, dict[str, object]]:
    """What a classic AGI call needs of the configuration (rendered as hotline-agi.toml).

    Paths are host paths: the instance is started with the data dir, the flows dir and the
    prompt cache bind-mounted at the same paths inside the chroot (``bind_dirs``), so the
    AGI process reads the same flows, prompt files and secret files as the server."""
    return {
        "": {"data_dir": str(Path(cfg.data_dir).resolve()),
             "flows_dir": str(Path(cfg.flows_dir).resolve()),
             "timezone": cfg.timezone, "log_level": cfg.log_level},
        "backend": {"base_url": cfg.backend.base_url},
        "itr": {"public_url": cfg.itr.public_url, "link_ttl_seconds": cfg.itr.link_ttl_seconds},
        "prompts": {"cache_dir": str(cfg.prompt_cache_dir.resolve()),
                    "format": cfg.prompts.format, "voices": dict(cfg.prompts.voices)},
        "sms": {"sender": cfg.sms.sender, "webhook_url": cfg.sms.webhook_url,
                "webhook_token": cfg.sms.webhook_token},
    }


def bind_dirs(cfg: Config) -> list[Path]:
    """Host folders to bind into the chroot: the prompt cache (Asterisk plays its files by
    their host path), the data and flows dirs (classic AGI reads them)."""
    return agi_bind_dirs(cfg.data_dir, cfg.flows_dir, cfg.prompt_cache_dir)


def render_instance(cfg: Config, out_dir: Path, *, instance: str, test_hooks: bool = False,
                    extra_dialplan: ExtraDialplan | None = None) -> Path:
    """Hotline's Config rendered as the Asterisk configuration of ``instance`` in
    ``out_dir`` (secrets must be filled in: ``ensure_secrets``). A value that cannot be
    rendered safely raises ConfigError."""
    try:
        return render(cfg.asterisk, out_dir, instance=instance, fastagi_host=cfg.fastagi.host,
                      fastagi_port=cfg.fastagi.port, agi_settings=agi_settings(cfg),
                      test_hooks=test_hooks, extra_dialplan=extra_dialplan)
    except RenderError as exc:
        raise ConfigError(str(exc)) from None


class Sandbox:
    """One instance of the sandbox Asterisk (``cfg.sandbox_dir``), configured from ``cfg``."""

    def __init__(self, cfg: Config, instance: str = "main") -> None:
        self.cfg = cfg
        self.instance = instance
        self.root = cfg.sandbox_dir
        self.conf_dir: Path | None = None  # the configuration of the last start
        self.start_seconds = 0.0  # how long the last start took (until fully booted)
        self.boot_log = ""  # messages.log right after the last start

    # -- sandbox.sh

    @property
    def env(self) -> dict[str, str]:
        passed = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        return {**passed, "PATH": SAFE_PATH, "HOTLINE_SANDBOX_DIR": str(self.root)}

    def sh(self, *args: str, timeout: float = 120.0,
           check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``sandbox.sh ARGS``; its stderr (progress) goes to the log line by line."""
        tail: collections.deque[str] = collections.deque(maxlen=30)
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(["bash", str(SANDBOX_SH), *args], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.PIPE, text=True, errors="replace")
            timer = threading.Timer(timeout, proc.kill)  # our own child, by its pid
            timer.start()
            try:
                assert proc.stderr is not None
                for line in proc.stderr:
                    tail.append(line.rstrip("\n"))
                    log.info("%s", tail[-1])
                code = proc.wait()
            finally:
                timer.cancel()
            out.seek(0)
            stdout = out.read().decode(errors="replace")
        result = subprocess.CompletedProcess(proc.args, code, stdout, "\n".join(tail))
        if check and code != 0:
            killed = f" (killed after {timeout:.0f} s)" if code == -9 else ""
            raise SandboxError(f"sandbox.sh {' '.join(args[:2])} failed with exit {code}"
                               f"{killed}:\n{result.stderr}")
        return result

    def build(self, *, classic_agi: bool = True) -> None:
        """Build the chroot if it is missing or half built; with ``classic_agi`` also the
        venv inside it that classic AGI runs (rebuilt when setup.cfg changed)."""
        self.sh("agi-venv" if classic_agi else "build", timeout=BUILD_TIMEOUT_S)

    def render(self, out_dir: Path, *, test_hooks: bool = False,
               extra_dialplan: ExtraDialplan | None = None) -> Path:
        """This instance's configuration, rendered from ``cfg`` into ``out_dir``."""
        return render_instance(self.cfg, out_dir, instance=self.instance,
                               test_hooks=test_hooks, extra_dialplan=extra_dialplan)

    def check_ports_free(self) -> None:
        """Raise SandboxError if this instance's SIP (UDP) or AMI (TCP) port is taken."""
        ast = self.cfg.asterisk
        for host, port, kind in ((ast.sip_host, ast.sip_port, socket.SOCK_DGRAM),
                                 (ast.ami_host, ast.ami_port, socket.SOCK_STREAM)):
            if port_taken(host, port, kind):
                raise SandboxError(f"{host}:{port} is already in use; instance "
                                   f"{self.instance} needs it")

    def start(self, conf_dir: Path, *, classic_agi: bool = True,
              fresh_logs: bool = False) -> Sandbox:
        """Start the instance with the configuration in ``conf_dir``; returns once it is
        fully booted. ``classic_agi``: bind-mount the repo (classic AGI runs from it) and
        ``bind_dirs`` (prompt files, flows, data). ``fresh_logs``: delete its old logs first."""
        if fresh_logs:
            self.clear_logs()
        args = ["start", self.instance, str(conf_dir)]
        if classic_agi:
            args += ["--agi", *(a for d in bind_dirs(self.cfg) for a in ("--bind", str(d)))]
        started = time.monotonic()
        self.sh(*args)
        self.conf_dir = conf_dir
        self.start_seconds = time.monotonic() - started
        self.boot_log = self.log_since(0)
        return self

    def stop(self) -> None:
        """Stop the instance (SIGTERM to its own pid) and unmount its binds; idempotent."""
        self.sh("stop", self.instance, timeout=60, check=False)

    def running(self) -> bool:
        return self.sh("status", self.instance, timeout=30, check=False).returncode == 0

    def pid(self) -> int:
        return int((self.root.parent / f"{self.root.name}.state" / f"{self.instance}.pid")
                   .read_text().strip())

    def cli(self, command: str, *, check: bool = True) -> str:
        """Run an Asterisk CLI command on this instance; its output."""
        return self.sh("cli", self.instance, command, timeout=30, check=check).stdout

    # -- logs

    @property
    def log_dir(self) -> Path:
        return self.root / "instances" / self.instance / "log"

    @property
    def messages_log(self) -> Path:
        return self.log_dir / "messages.log"

    @property
    def queue_log(self) -> Path:
        return self.log_dir / "queue_log"

    @property
    def console_log(self) -> Path:
        return self.root.parent / f"{self.root.name}.state" / f"{self.instance}.console.log"

    def clear_logs(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*"):
            if old.is_file():
                old.unlink()

    def log_mark(self) -> int:
        """A position in messages.log; ``log_since(mark)`` reads what came after it."""
        return self.messages_log.stat().st_size if self.messages_log.exists() else 0

    def log_since(self, mark: int) -> str:
        if not self.messages_log.exists():
            return ""
        with self.messages_log.open("rb") as fh:
            fh.seek(mark)
            return fh.read().decode(errors="replace")

    def wait_for_log(self, mark: int, text: str, timeout_s: float = 10.0) -> str:
        """Wait until ``text`` appears in messages.log after ``mark``; the new log."""
        deadline = time.monotonic() + timeout_s
        while True:
            new = self.log_since(mark)
            if text in new or time.monotonic() > deadline:
                return new
            time.sleep(0.1)

    def queue_log_text(self) -> str:
        return self.queue_log.read_text(errors="replace") if self.queue_log.exists() else ""


def port_taken(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """Is ``host``:``port`` (TCP or UDP) taken? TCP binds as servers do (SO_REUSEADDR: a
    TIME_WAIT left by a last run is no conflict)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def start_sandbox(cfg: Config, instance: str = "main") -> Sandbox:
    """``hotline run``: render the configuration into ``<data_dir>/asterisk/INSTANCE``,
    build the sandbox (and its classic AGI venv) if needed, start the instance."""
    box = Sandbox(cfg, instance)
    conf = box.render(Path(cfg.data_dir) / "asterisk" / instance)
    box.build(classic_agi=True)
    return box.start(conf, classic_agi=True)


def stop_sandbox(cfg: Config, instance: str = "main") -> None:
    Sandbox(cfg, instance).stop()

