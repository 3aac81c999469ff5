"""Render the Asterisk configuration of one sandbox instance from Hotline's typed Config.

``render(cfg, out_dir, instance="main")`` writes asterisk.conf, modules.conf, logger.conf,
pjsip.conf, rtp.conf, manager.conf, extensions.conf, queues.conf, voicemail.conf and
musiconhold.conf into ``out_dir``; ``asterisk_conf/sandbox.sh start NAME OUT_DIR`` copies them
into the chroot and starts Asterisk with them.

Templates live in ``asterisk_conf/templates``; placeholders are ``@{name}`` (Asterisk's own
``${VAR}`` syntax passes through untouched). Every value that reaches a template is validated
first: DIDs are digits, names are ``[A-Za-z0-9_-]``, hosts are literal IPv4 addresses.

CLI: ``python -m asterisk_conf.render --out DIR [--instance NAME] [--config FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import string
import sys
from pathlib import Path

from cti.app.config import Config, ConfigError, ensure_secrets, load_config

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The demo menu written natively in dialplan (benchmark baseline), on its own DID.
NATIVE_MENU_DID = "4008009999"
# Classic process-per-call AGI: this prefix + a configured DID runs the same flow via
# agi-bin/hotline-agi (a venv inside the chroot) instead of FastAGI.
CLASSIC_AGI_PREFIX = "9"
ECHO_EXTEN = "600"
MOH_DIR = "/usr/share/asterisk/sounds/en/silence"

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DID = re.compile(r"^[0-9]{3,20}$")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=-]{8,128}$")
# Files with nothing to fill in: present so Asterisk starts with a clean log.
STATIC_FILES = (
    "modules.conf",
    "logger.conf",
    "ccss.conf",
    "cdr.conf",
    "cel.conf",
    "features.conf",
    "indications.conf",
    "acl.conf",
    "udptl.conf",
    "pjproject.conf",
    "queuerules.conf",
)
_MAILBOX = re.compile(r"^([0-9]{1,16})@([A-Za-z0-9_-]{1,64})$")


class RenderError(ConfigError):
    """A configuration value cannot be rendered into Asterisk configuration safely."""


class ConfTemplate(string.Template):
    """``@{name}`` placeholders only; a lone ``@`` or ``$`` is literal text."""

    delimiter = "@"
    pattern = r"@(?:(?P<escaped>@)|\{(?P<braced>[a-z_]+)\}|(?P<named>(?!))|(?P<invalid>(?!)))"  # type: ignore[assignment]


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise RenderError(f"{what}: {value!r} is not a name ([A-Za-z0-9_-], 1-64 chars)")
    return value


def _did(value: str, what: str) -> str:
    if not _DID.match(value):
        raise RenderError(f"{what}: {value!r} is not a DID (3-20 digits)")
    return value


def _ipv4(value: str, what: str) -> str:
    try:
        addr = ipaddress.IPv4Address(value)
    except ValueError:
        raise RenderError(f"{what}: {value!r} is not an IPv4 address") from None
    return str(addr)


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise RenderError(f"{what}: {value} is not a port number")
    return value


def _secret(value: str, what: str) -> str:
    if not value:
        raise RenderError(f"{what} is empty: call cti.app.config.ensure_secrets first")
    if not _SECRET.match(value):
        raise RenderError(f"{what}: only [A-Za-z0-9_.~+/=-], 8-128 characters")
    return value


def derived_secret(cfg: Config, label: str, *, digits: bool = False) -> str:
    """A stable per-installation secret for ``label`` (agent SIP passwords, mailbox PIN)."""
    key = _secret(cfg.asterisk.ami_secret, "asterisk.ami_secret").encode()
    mac = hmac.new(key, label.encode(), hashlib.sha256).hexdigest()
    if digits:
        return str(int(mac[:12], 16))[:8].rjust(8, "0")
    return mac[:24]


def agent_password(cfg: Config, agent: str) -> str:
    """The SIP digest password of agent endpoint ``agent``."""
    return derived_secret(cfg, f"agent:{agent}")


def _fill(template: str, **values: object) -> str:
    text = (TEMPLATES / template).read_text()
    return ConfTemplate(text).substitute({k: str(v) for k, v in values.items()})


STATIC_CONTACT = re.compile(r"^sip:[A-Za-z0-9_-]{1,64}@\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")


def _pjsip(cfg: Config) -> str:
    ast = cfg.asterisk
    host = _ipv4(ast.sip_host, "asterisk.sip_host")
    agents = [_name(a, "asterisk.agents") for a in ast.agents]
    blocks = [
        _fill(
            "pjsip.conf",
            sip_host=host,
            sip_port=_port(ast.sip_port, "asterisk.sip_port"),
            carrier_match=host,
        )
    ]
    for agent in agents:
        contact = ast.agent_contacts.get(agent, "")
        if contact and not STATIC_CONTACT.match(contact):
            raise RenderError(f"asterisk.agent_contacts[{agent}]: {contact!r} is not "
                              "sip:USER@127.0.0.1:PORT")
        blocks.append(
            _fill(
                "pjsip_agent.conf",
                agent=agent,
                password=agent_password(cfg, agent),
                media_address=host,
                static_contact=f"contact = {contact}" if contact else "; no static contact",
            )
        )
    return "\n".join(blocks)


AGI_CONFIG = "hotline-agi.toml"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # a JSON string (\uXXXX escapes) is a TOML basic string


def agi_config(cfg: Config) -> str:
    """The configuration of classic AGI (``hotline-agi`` inside the chroot).

    Only what a call needs. Paths are host paths: ``sandbox.sh start --bind`` mounts the data
    dir, the flows dir and the prompt cache at the same paths inside the chroot, so the AGI
    process reads the same flows, prompt files and secret files (``ensure_secrets``) as the
    server."""
    sections: dict[str, dict[str, object]] = {
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
    lines = ["# Hotline classic AGI -- generated by asterisk_conf/render.py, do not edit."]
    for section, values in sections.items():
        if section:
            lines.append(f"\n[{section}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def agi_bind_dirs(cfg: Config) -> list[Path]:
    """Host folders classic AGI reads: bind them into the chroot (``sandbox.sh --bind``)."""
    dirs = [Path(cfg.data_dir).resolve(), Path(cfg.flows_dir).resolve(),
            cfg.prompt_cache_dir.resolve()]
    # one bind covers its subfolders (the prompt cache is usually inside the data dir)
    return [d for i, d in enumerate(dirs)
            if not any(d == o or d.is_relative_to(o) for o in dirs[:i])
            and not any(d.is_relative_to(o) and d != o for o in dirs[i + 1:])]


def _extensions(cfg: Config, *, test_hooks: bool, instance: str = "main") -> str:
    ast = cfg.asterisk
    fastagi = (
        f"agi://{_ipv4(cfg.fastagi.host, 'fastagi.host')}:{_port(cfg.fastagi.port, 'fastagi.port')}"
    )
    if ast.fallback not in ("queue", "voicemail"):
        raise RenderError(f"asterisk.fallback: {ast.fallback!r} is not 'queue' or 'voicemail'")
    mailbox = _mailbox(ast.fallback_mailbox)
    lines: list[str] = []
    for did, flow in sorted(ast.dids.items()):
        _did(did, "asterisk.dids")
        _name(flow, f"asterisk.dids[{did}]")
        if did == NATIVE_MENU_DID:
            raise RenderError(f"asterisk.dids: {did} is reserved for the native benchmark menu")
        lines.append(
            _fill("dids.conf", did=did, flow=flow, fastagi=fastagi, prefix=CLASSIC_AGI_PREFIX,
                  agi_config=f"/instances/{_name(instance, 'instance')}/etc/{AGI_CONFIG}")
        )
    return _fill(
        "extensions.conf",
        did_blocks="\n".join(lines),
        native_did=NATIVE_MENU_DID,
        fallback=ast.fallback,
        fallback_queue=_name(ast.fallback_queue, "asterisk.fallback_queue"),
        mailbox=f"{mailbox[0]}@{mailbox[1]}",
        test_hooks=_test_hooks(ast.agents) if test_hooks else "",
    )


def _test_hooks(agents: tuple[str, ...]) -> str:
    if not agents:
        raise RenderError("test hooks need at least one agent in asterisk.agents")
    return _fill("extensions_test.conf", echo=ECHO_EXTEN, agent=_name(agents[0], "asterisk.agents"))


def _mailbox(value: str) -> tuple[str, str]:
    m = _MAILBOX.match(value)
    if not m:
        raise RenderError(f"asterisk.fallback_mailbox: {value!r} is not NUMBER@CONTEXT")
    return m.group(1), m.group(2)


def render_texts(cfg: Config, *, instance: str, test_hooks: bool = False) -> dict[str, str]:
    """File name -> content of every configuration file of instance ``instance``."""
    _name(instance, "instance")
    ast = cfg.asterisk
    if not 1024 <= ast.rtp_start < ast.rtp_end <= 65535:
        raise RenderError(f"asterisk.rtp_start/rtp_end: bad range {ast.rtp_start}-{ast.rtp_end}")
    queue = _name(ast.fallback_queue, "asterisk.fallback_queue")
    members = "\n".join(f"member => PJSIP/{_name(a, 'asterisk.agents')}" for a in ast.agents)
    number, context = _mailbox(ast.fallback_mailbox)
    texts = {name: _fill(name) for name in STATIC_FILES}
    texts |= {
        "asterisk.conf": _fill("asterisk.conf", instance=instance, inst=f"/instances/{instance}"),
        "rtp.conf": _fill("rtp.conf", rtp_start=ast.rtp_start, rtp_end=ast.rtp_end),
        "manager.conf": _fill(
            "manager.conf",
            ami_host=_ipv4(ast.ami_host, "asterisk.ami_host"),
            ami_port=_port(ast.ami_port, "asterisk.ami_port"),
            ami_user=_name(ast.ami_user, "asterisk.ami_user"),
            ami_secret=_secret(ast.ami_secret, "asterisk.ami_secret"),
        ),
        "pjsip.conf": _pjsip(cfg),
        "extensions.conf": _extensions(cfg, test_hooks=test_hooks, instance=instance),
        AGI_CONFIG: agi_config(cfg),
        "queues.conf": _fill("queues.conf", fallback_queue=queue, members=members),
        "voicemail.conf": _fill(
            "voicemail.conf",
            mailbox_context=context,
            mailbox_number=number,
            mailbox_pin=derived_secret(cfg, "mailbox", digits=True),
        ),
        "musiconhold.conf": _fill("musiconhold.conf", moh_dir=MOH_DIR),
    }
    return texts


def render(cfg: Config, out_dir: Path, *, instance: str, test_hooks: bool = False) -> Path:
    """Write the configuration of ``instance`` into ``out_dir`` (created); return it.

    ``test_hooks`` adds a test-only context (echo, dial an agent phone at a given port).
    """
    texts = render_texts(cfg, instance=instance, test_hooks=test_hooks)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = out_dir / name
        path.write_text(text)
        path.chmod(0o600)  # manager.conf and pjsip.conf hold secrets
    log.info("rendered Asterisk configuration of %s into %s", instance, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--instance", default="main", help="sandbox instance name")
    parser.add_argument("--config", default=None, help="Hotline TOML file")
    parser.add_argument("--test-hooks", action="store_true", help="add the test-only context")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = ensure_secrets(load_config(args.config))
        render(cfg, args.out, instance=args.instance, test_hooks=args.test_hooks)
    except ConfigError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
