"""The ``[asterisk]`` section of Hotline's configuration: what the rendered Asterisk needs.

Plain data, no behaviour: ``cti.app.config.Config.asterisk`` is one of these (loaded from the
TOML file and ``HOTLINE_ASTERISK_*`` like every other section), and ``asterisk_conf.render``
takes one as its input. This package imports nothing from ``cti``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AsteriskConfig:
    # Build/start the Debian sid Asterisk sandbox (asterisk_conf/sandbox.sh); operators with
    # their own Asterisk set this to false and point it at Hotline's FastAGI/AMI.
    sandbox: bool = True
    sandbox_dir: str = ""  # default: ~/.cache/hotline/asterisk-sid
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str = ""
    rtp_start: int = 10000
    rtp_end: int = 12000
    # DID (the dialled 400/800 number) -> flow name.
    dids: dict[str, str] = field(default_factory=lambda: {"4008001234": "demo_400"})
    # Where a call goes when Hotline cannot run its flow: "queue" (Asterisk app_queue of
    # backup agents) or "voicemail".
    fallback: str = "queue"
    fallback_queue: str = "backup"
    fallback_mailbox: str = "1000@hotline"
    agents: tuple[str, ...] = ("agent1001", "agent1002")
    # Fixed SIP contacts for agent phones that do not register (desk phones on a static
    # address, or test phones): endpoint -> "sip:agent1001@127.0.0.1:5070".
    agent_contacts: dict[str, str] = field(default_factory=dict)
    # The carrier trunk for calls Hotline places (callbacks), as endpoint "hotline-trunk":
    # "sip:trunk@127.0.0.1:5090" (a static contact; the dialled number replaces the user
    # part). "" renders the endpoint without a contact: a callback's call to the customer
    # then fails (CHANUNAVAIL), and is recorded so.
    trunk_contact: str = ""
