"""Render the Asterisk configuration of one sandbox instance from plain settings.

``render(ast, out_dir, instance=..., fastagi_host=..., fastagi_port=..., agi_settings=...)``
writes asterisk.conf, modules.conf, logger.conf, pjsip.conf, rtp.conf, manager.conf,
extensions.conf, queues.conf, voicemail.conf, musiconhold.conf and hotline-agi.toml into
``out_dir``; ``asterisk_conf/sandbox.sh start NAME OUT_DIR`` copies them into the chroot and
starts Asterisk with them. ``ast`` is the ``[asterisk]`` section (``settings.AsteriskConfig``);
everything else is a plain value. This package imports nothing from ``cti``: the composition
root (``cti.app.sandbox.render_instance``) maps Hotline's Config onto these arguments, and
``hotline asterisk render --out DIR [--instance NAME] [--test-hooks]`` is the command line.

Templates live in ``asterisk_conf/templates``; placeholders are ``@{name}`` (Asterisk's own
``${VAR}`` syntax passes through untouched). Every value that reaches a template is validated
first: DIDs are digits, names are ``[A-Za-z0-9_-]``, hosts are literal IPv4 addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from asterisk_conf.settings import AsteriskConfig

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Classic process-per-call AGI: this prefix + a configured DID runs the same flow via
# agi-bin/hotline-agi (a venv inside the chroot) instead of FastAGI.
CLASSIC_AGI_PREFIX = "9"
# Test hooks only (``test_hooks=True``): echo, and a native Read() menu that logs the digits.
ECHO_EXTEN = "600"
DTMF_EXTEN = "601"
MOH_DIR = "/usr/share/asterisk/sounds/en/silence"
AGI_CONFIG = "hotline-agi.toml"

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DID = re.compile(r"^[0-9]{3,20}$")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=-]{8,128}$")
_MODULE = re.compile(r"^[a-z0-9_]{1,64}\.so$")
_CONTEXT_HEAD = re.compile(r"^\[([^\]]*)\]", re.MULTILINE)
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
STATIC_CONTACT = re.compile(r"^sip:[A-Za-z0-9_-]{1,64}@\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")

AgiSettings = Mapping[str, Mapping[str, object]]


class RenderError(ValueError):
    """A configuration value cannot be rendered into Asterisk configuration safely."""


@dataclass(frozen=True)
class ExtraDialplan:
    """Dialplan that one caller of ``render`` adds to its own instance, never part of a
    production render (the voice benchmark's native menu is the one user).

    Calls to ``did`` go to ``context`` (``s``, 1); ``text`` defines that context (and any
    other of its own, none named ``hotline-*``) and is appended to extensions.conf;
    ``modules`` are loaded in addition to modules.conf's list."""

    did: str
    context: str
    text: str
    modules: tuple[str, ...] = ()


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
        raise RenderError(f"{what} is empty: fill in the secrets first (ensure_secrets)")
    if not _SECRET.match(value):
        raise RenderError(f"{what}: only [A-Za-z0-9_.~+/=-], 8-128 characters")
    return value


def derived_secret(ast: AsteriskConfig, label: str, *, digits: bool = False) -> str:
    """A stable per-installation secret for ``label`` (agent SIP passwords, mailbox PIN)."""
    key = _secret(ast.ami_secret, "asterisk.ami_secret").encode()
    mac = hmac.new(key, label.encode(), hashlib.sha256).hexdigest()
    if digits:
        return str(int(mac[:12], 16))[:8].rjust(8, "0")
    return mac[:24]


def agent_password(ast: AsteriskConfig, agent: str) -> str:
    """The SIP digest password of agent endpoint ``agent``."""
    return derived_secret(ast, f"agent:{agent}")


def _fill(template: str, **values: object) -> str:
    text = (TEMPLATES / template).read_text()
    return ConfTemplate(text).substitute({k: str(v) for k, v in values.items()})


def _pjsip(ast: AsteriskConfig) -> str:
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
    if ast.trunk_contact and not STATIC_CONTACT.match(ast.trunk_contact):
        raise RenderError(f"asterisk.trunk_contact: {ast.trunk_contact!r} is not "
                          "sip:USER@127.0.0.1:PORT")
    blocks.append(_fill("pjsip_trunk.conf", media_address=host,
                        static_contact=f"contact = {ast.trunk_contact}" if ast.trunk_contact
                        else "; no contact configured: callbacks cannot reach customers"))
    for agent in agents:
        contact = ast.agent_contacts.get(agent, "")
        if contact and not STATIC_CONTACT.match(contact):
            raise RenderError(f"asterisk.agent_contacts[{agent}]: {contact!r} is not "
                              "sip:USER@127.0.0.1:PORT")
        blocks.append(
            _fill(
                "pjsip_agent.conf",
                agent=agent,
                password=agent_password(ast, agent),
                media_address=host,
                static_contact=f"contact = {contact}" if contact else "; no static contact",
            )
        )
    return "\n".join(blocks)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # a JSON string (\uXXXX escapes) is a TOML basic string


def agi_config(settings: AgiSettings) -> str:
    """The configuration file of classic AGI (``hotline-agi`` inside the chroot) as TOML.

    ``settings``: section -> key -> value (``""`` is the top level); the composition root
    chooses what a call needs (``cti.app.sandbox.agi_settings``)."""
    lines = ["# Hotline classic AGI -- generated by asterisk_conf/render.py, do not edit."]
    for section, values in settings.items():
        if section:
            lines.append(f"\n[{_name(section, 'agi settings section')}]")
        lines += [f"{_name(k, f'agi settings [{section}]')} = {_toml(v)}"
                  for k, v in values.items()]
    return "\n".join(lines) + "\n"


def agi_bind_dirs(*dirs: str | Path) -> list[Path]:
    """The host folders classic AGI reads (data, flows, prompt cache), to bind into the
    chroot (``sandbox.sh --bind``): resolved, and a folder inside another one left out."""
    paths = [Path(d).resolve() for d in dirs]
    # one bind covers its subfolders (the prompt cache is usually inside the data dir)
    return [d for i, d in enumerate(paths)
            if not any(d == o or d.is_relative_to(o) for o in paths[:i])
            and not any(d.is_relative_to(o) and d != o for o in paths[i + 1:])]


def _extra_dialplan(ast: AsteriskConfig, extra: ExtraDialplan | None) -> tuple[str, str]:
    """(the inbound line, the appended contexts) of ``extra``; empty without one."""
    if extra is None:
        return "", ""
    did = _did(extra.did, "extra dialplan did")
    taken = set(ast.dids) | {CLASSIC_AGI_PREFIX + d for d in ast.dids} | {ECHO_EXTEN, DTMF_EXTEN}
    if did in taken:
        raise RenderError(f"extra dialplan did {did} is already a number of this dialplan")
    context = _name(extra.context, "extra dialplan context")
    heads = _CONTEXT_HEAD.findall(extra.text)
    if context not in heads:
        raise RenderError(f"extra dialplan: its text does not define [{context}]")
    if any(h.startswith("hotline-") or h in ("general", "globals") for h in heads):
        raise RenderError(f"extra dialplan: it may not define {heads} (Hotline's own contexts)")
    inbound = (f"; added for this instance only (not a production number)\n"
               f"exten => {did},1,Goto({context},s,1)\n")
    return inbound, extra.text


def _extensions(ast: AsteriskConfig, *, fastagi: str, instance: str, test_hooks: bool,
                extra: ExtraDialplan | None) -> str:
    if ast.fallback not in ("queue", "voicemail"):
        raise RenderError(f"asterisk.fallback: {ast.fallback!r} is not 'queue' or 'voicemail'")
    mailbox = _mailbox(ast.fallback_mailbox)
    lines: list[str] = []
    for did, flow in sorted(ast.dids.items()):
        _did(did, "asterisk.dids")
        _name(flow, f"asterisk.dids[{did}]")
        lines.append(
            _fill("dids.conf", did=did, flow=flow, fastagi=fastagi, prefix=CLASSIC_AGI_PREFIX,
                  agi_config=f"/instances/{_name(instance, 'instance')}/etc/{AGI_CONFIG}")
        )
    extra_inbound, extra_contexts = _extra_dialplan(ast, extra)
    return _fill(
        "extensions.conf",
        did_blocks="\n".join(lines),
        extra_inbound=extra_inbound,
        fallback=ast.fallback,
        fallback_queue=_name(ast.fallback_queue, "asterisk.fallback_queue"),
        mailbox=f"{mailbox[0]}@{mailbox[1]}",
        test_hooks=_test_hooks(ast.agents) if test_hooks else "",
        extra_contexts=extra_contexts,
    )


def _test_hooks(agents: tuple[str, ...]) -> str:
    if not agents:
        raise RenderError("test hooks need at least one agent in asterisk.agents")
    return _fill("extensions_test.conf", echo=ECHO_EXTEN, dtmf=DTMF_EXTEN,
                 agent=_name(agents[0], "asterisk.agents"))


def _modules(extra: ExtraDialplan | None) -> str:
    text = _fill("modules.conf")
    if extra is None or not extra.modules:
        return text
    bad = [m for m in extra.modules if not _MODULE.match(m)]
    if bad:
        raise RenderError(f"extra dialplan modules: {bad} are not module file names")
    return (text.rstrip("\n") + "\n\n; added for this instance only (its extra dialplan)\n"
            + "".join(f"load = {m}\n" for m in extra.modules))


def _mailbox(value: str) -> tuple[str, str]:
    m = _MAILBOX.match(value)
    if not m:
        raise RenderError(f"asterisk.fallback_mailbox: {value!r} is not NUMBER@CONTEXT")
    return m.group(1), m.group(2)


def render_texts(ast: AsteriskConfig, *, instance: str, fastagi_host: str, fastagi_port: int,
                 agi_settings: AgiSettings, test_hooks: bool = False,
                 extra_dialplan: ExtraDialplan | None = None) -> dict[str, str]:
    """File name -> content of every configuration file of instance ``instance``.

    ``fastagi_host``/``fastagi_port``: where the dialplan's ``AGI(agi://...)`` connects;
    ``agi_settings``: the classic AGI configuration (see ``agi_config``); ``test_hooks``:
    the test-only numbers; ``extra_dialplan``: see ``ExtraDialplan``."""
    _name(instance, "instance")
    if not 1024 <= ast.rtp_start < ast.rtp_end <= 65535:
        raise RenderError(f"asterisk.rtp_start/rtp_end: bad range {ast.rtp_start}-{ast.rtp_end}")
    fastagi = (f"agi://{_ipv4(fastagi_host, 'fastagi.host')}:"
               f"{_port(fastagi_port, 'fastagi.port')}")
    queue = _name(ast.fallback_queue, "asterisk.fallback_queue")
    members = "\n".join(f"member => PJSIP/{_name(a, 'asterisk.agents')}" for a in ast.agents)
    number, context = _mailbox(ast.fallback_mailbox)
    texts = {name: _fill(name) for name in STATIC_FILES}
    texts |= {
        "asterisk.conf": _fill("asterisk.conf", instance=instance, inst=f"/instances/{instance}"),
        "modules.conf": _modules(extra_dialplan),
        "rtp.conf": _fill("rtp.conf", rtp_start=ast.rtp_start, rtp_end=ast.rtp_end),
        "manager.conf": _fill(
            "manager.conf",
            ami_host=_ipv4(ast.ami_host, "asterisk.ami_host"),
            ami_port=_port(ast.ami_port, "asterisk.ami_port"),
            ami_user=_name(ast.ami_user, "asterisk.ami_user"),
            ami_secret=_secret(ast.ami_secret, "asterisk.ami_secret"),
        ),
        "pjsip.conf": _pjsip(ast),
        "extensions.conf": _extensions(ast, fastagi=fastagi, instance=instance,
                                       test_hooks=test_hooks, extra=extra_dialplan),
        AGI_CONFIG: agi_config(agi_settings),
        "queues.conf": _fill("queues.conf", fallback_queue=queue, members=members),
        "voicemail.conf": _fill(
            "voicemail.conf",
            mailbox_context=context,
            mailbox_number=number,
            mailbox_pin=derived_secret(ast, "mailbox", digits=True),
        ),
        "musiconhold.conf": _fill("musiconhold.conf", moh_dir=MOH_DIR),
    }
    return texts


def render(ast: AsteriskConfig, out_dir: Path, *, instance: str, fastagi_host: str,
           fastagi_port: int, agi_settings: AgiSettings, test_hooks: bool = False,
           extra_dialplan: ExtraDialplan | None = None) -> Path:
    """Write the configuration of ``instance`` into ``out_dir`` (created); return it.

    The arguments are ``render_texts``'s."""
    texts = render_texts(ast, instance=instance, fastagi_host=fastagi_host,
                         fastagi_port=fastagi_port, agi_settings=agi_settings,
                         test_hooks=test_hooks, extra_dialplan=extra_dialplan)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = out_dir / name
        path.write_text(text)
        path.chmod(0o600)  # manager.conf and pjsip.conf hold secrets
    log.info("rendered Asterisk configuration of %s into %s", instance, out_dir)
    return out_dir
