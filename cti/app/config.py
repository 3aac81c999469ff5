"""The one typed configuration of Hotline.

Loaded once, at start: defaults, then a TOML file, then environment variables
(``HOTLINE_<SECTION>_<KEY>``, e.g. ``HOTLINE_ITR_PORT=8443``). The result is passed
explicitly to whatever needs it; nothing reads the environment after this.

Secrets (the signing key, the AMI password) are never written in code: they come from the
file or the environment, or, on a developer machine, from files under ``data_dir`` that
``ensure_secrets`` creates with random content on first run.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from asterisk_conf.settings import AsteriskConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FLOWS_DIR = REPO_ROOT / "ivr_flows" / "flows"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class ItrConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Where phones reach the touch menu; links sent by SMS start with this.
    public_url: str = "http://127.0.0.1:8080"
    link_ttl_seconds: int = 1800
    # A touch session's pages work this long after it started (then: "start again"); its
    # side effects' one-time keys are kept as long (in this process).
    state_max_age_s: int = 1800
    # How long the chat link of a "talk to an agent" page opens that session's chat.
    handoff_ttl_s: int = 900
    # "type your question" at a menu with ``question``: a knowledge-base answer is shown when
    # its confidence reaches this (bench/RESULTS.md "Knowledge base ranking"), else a person
    question_min_confidence: float = 0.5


@dataclass(frozen=True)
class ConsoleConfig:
    host: str = "127.0.0.1"
    port: int = 8090


@dataclass(frozen=True)
class BackendConfig:
    # Base URL that flow actions' relative URLs are resolved against.
    base_url: str = "http://127.0.0.1:8081"
    # Run the demo self-service back-end (sample orders and deliveries) in-process.
    demo: bool = True
    demo_host: str = "127.0.0.1"
    demo_port: int = 8081


@dataclass(frozen=True)
class FastAgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    backlog: int = 1024
    # Who may connect: Asterisk's addresses or networks (env form "127.0.0.1,10.1.2.0/24");
    # any other address is closed unread. With host = "0.0.0.0", list the Asterisk servers.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "::1")
    max_connections: int = 500  # calls in a flow or a queue at once; more are closed at once
    env_timeout_s: float = 5.0  # a connection that has not sent its AGI environment: closed


@dataclass(frozen=True)
class PromptsConfig:
    cache_dir: str = ""  # default: <data_dir>/prompts
    format: str = "wav"  # wav (8 kHz mono 16-bit) or gsm
    voices: dict[str, str] = field(default_factory=lambda: {"en": "en-us", "zh": "cmn"})


@dataclass(frozen=True)
class SmsConfig:
    sender: str = "outbox"  # "outbox" (a local file, for demo and tests) or "webhook"
    webhook_url: str = ""
    webhook_token: str = ""


@dataclass(frozen=True)
class CtiConfig:
    """Routing: queues are the ones the flows name; these settings apply to each of them."""

    api_host: str = "127.0.0.1"
    api_port: int = 8070
    api_token: str = ""  # bearer token of the agent API; ensure_secrets makes one
    strategy: str = "longest_idle"
    ring_timeout_s: int = 20
    wrap_up_s: int = 15
    max_wait_s: int = 600  # then the no-agents exit: no wait is endless
    max_waiting: int = 200  # per queue; more -> the over-limit exit
    announce_every_s: int = 30
    no_agents_exit: str = "callback_offer"  # callback_offer | voicemail | apology
    over_limit_exit: str = "apology"
    record_queues: tuple[str, ...] = ("service",)
    # agent -> "skill:level,skill:level"; an agent not listed has level 1 in every queue
    agent_skills: dict[str, str] = field(default_factory=dict)
    max_chats: int = 5
    chat_while_voice: bool = False  # may an agent in chats be offered a call (and vice versa)


@dataclass(frozen=True)
class ChatConfig:
    """Chat and the agent desktop: one web site (pages + WebSocket ``/ws``) on ``host``:``port``
    (docs/REALTIME.md). Chats join ``queue`` with ``skills``; they are open while ``flow``'s
    ``schedule`` is open and an agent is staffed (``ignore_hours`` is the demo switch that
    keeps the hours open, whatever the clock says)."""

    host: str = "127.0.0.1"
    port: int = 8088
    public_url: str = ""  # e.g. https://chat.example.com (default http://host:port)
    allowed_origins: tuple[str, ...] = ()  # merchant pages that may frame the chat panel
    merchant_secret: str = ""  # verifies merchant-signed identities; "" = none accepted
    queue: str = "service"
    skills: str = "general:1"
    flow: str = "demo_400"
    schedule: str = "agents"
    ignore_hours: bool = False
    max_file_bytes: int = 5 * 1024 * 1024
    wrap_up_codes: tuple[str, ...] = ("resolved", "follow_up", "complaint", "sales",
                                      "no_answer_needed")
    max_frame_bytes: int = 16384
    frames_per_s: int = 10
    max_connections: int = 5000
    ack_before_store: bool = False  # benchmark only: see ChatSettings.ack_first
    # Opening the desktop signs the agent in not ready ("login") until they press Ready;
    # true: ready at once (a center that wants agents taking contacts as soon as they open it)
    ready_on_sign_in: bool = False
    # Bot first (cti/channels/chat/bot.py): a new chat is answered from the knowledge base
    # while the top answer's confidence reaches ``bot_min_confidence`` (bench/RESULTS.md
    # "Knowledge base ranking"), and queued when the customer asks for a person, after two
    # unhelpful answers, or at once when no answer is confident enough.
    bot_first: bool = False
    bot_min_confidence: float = 0.5

    @property
    def origin(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True)
class CallbackConfig:
    """Callbacks (cti/channels/callback/): asked for in the voice queue (``voice_key``
    instead of waiting), by a flow's callback exit, in the touch menu or from the chat; each
    keeps the caller's place in line, is offered to an agent, then Hotline rings the agent's
    phone and, once answered, the customer through ``asterisk.trunk`` (AMI Originate).
    A customer who does not answer is tried again after ``retry_gap_s``, at most
    ``max_attempts`` times, and only while ``flow``'s ``schedule`` is open."""

    max_attempts: int = 3
    retry_gap_s: int = 600
    ring_agent_s: int = 20
    ring_customer_s: int = 30
    voice_key: str = "1"  # the key a caller waiting in the voice queue presses; "" = not offered
    queue: str = "callbacks"  # where chat requests wait
    flow: str = "demo_400"
    schedule: str = "agents"


@dataclass(frozen=True)
class SpeechConfig:
    """"Say it or press it" at menus with ``speech: true`` (ivr_flows/voice/speech.py).

    ``models``: language -> path of a Vosk model folder (``{"ko" = "/path"}``; env form
    ``ko=/path,zh=/path``); a language without a model has speech off. Caller audio reaches
    the recogniser through Asterisk's AudioSocket, on a listener at ``host``:``port``."""

    models: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 4575
    min_confidence: float = 0.6  # below: "say it again" once, then keys only
    end_silence_ms: int = 300  # trailing silence that ends an utterance
    confirm: bool = True  # ask "<label>? yes/no" before acting on a recognised choice
    threads: int = 4  # decoding threads (Vosk releases the GIL)


@dataclass(frozen=True)
class TagsConfig:
    """Customer tags (cti/records/tags.py): agents set them on the desktop; rules add them
    (cti/records/tag_rules.py): ``repeat_tag`` when the customer had another contact within
    ``repeat_days`` (0: off), ``vip_tag`` when the flow variable ``vip_var`` (a self-service
    result, e.g. the account's tier) is one of ``vip_values`` ("" : off). Routing
    (cti/service/tag_routing.py): ``priority`` tag -> queue priority (the highest wins, never
    lowered), ``skills`` tag -> skills required ("complaints:1,en:2")."""

    repeat_days: int = 7
    repeat_tag: str = "repeat"
    vip_var: str = "account_tier"
    vip_values: tuple[str, ...] = ("vip",)
    vip_tag: str = "vip"
    priority: dict[str, str] = field(default_factory=dict)
    skills: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    data_dir: str = str(REPO_ROOT / "var")
    database_url: str = ""  # default: sqlite:///<data_dir>/hotline.db
    flows_dir: str = str(DEFAULT_FLOWS_DIR)
    timezone: str = "Asia/Shanghai"
    secret_key: str = ""
    log_level: str = "INFO"
    # The demo switch (HOTLINE_DEMO_OPEN_HOURS=1): every flow's schedules are open around the
    # clock in this process, so calls and chats reach agents at any hour. The flow files are
    # not changed; an operator never sets this.
    demo_open_hours: bool = False
    itr: ItrConfig = field(default_factory=ItrConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    fastagi: FastAgiConfig = field(default_factory=FastAgiConfig)
    asterisk: AsteriskConfig = field(default_factory=AsteriskConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    cti: CtiConfig = field(default_factory=CtiConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    callback: CallbackConfig = field(default_factory=CallbackConfig)
    tags: TagsConfig = field(default_factory=TagsConfig)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'hotline.db'}"

    @property
    def prompt_cache_dir(self) -> Path:
        return Path(self.prompts.cache_dir or Path(self.data_dir) / "prompts")

    @property
    def sandbox_dir(self) -> Path:
        default = Path.home() / ".cache" / "hotline" / "asterisk-sid"
        return Path(self.asterisk.sandbox_dir or default)


def _coerce(value: Any, current: Any, name: str) -> Any:
    """Turn a TOML or environment value into the type of the default it replaces."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if isinstance(current, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(current, dict):
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        # env form: "k1=v1,k2=v2"
        pairs = [p.split("=", 1) for p in str(value).split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError(f"{name}: expected key=value pairs, got {value!r}")
        return {k.strip(): v.strip() for k, v in pairs}
    if isinstance(current, tuple):
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        return tuple(v.strip() for v in str(value).split(",") if v.strip())
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected text, got {value!r}")
    return value


def _merge(obj: Any, values: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown setting {name!r}")
        current = getattr(obj, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a table")
            changes[key] = _merge(current, value, f"{name}.")
        else:
            changes[key] = _coerce(value, current, name)
    return replace(obj, **changes)


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    defaults = Config()
    sections = {f.name for f in fields(Config)
                if hasattr(getattr(defaults, f.name), "__dataclass_fields__")}
    for key, value in env.items():
        if not key.startswith("HOTLINE_") or key == "HOTLINE_CONFIG" or \
                key.startswith("HOTLINE_TEST_"):
            continue
        if key == "HOTLINE_SANDBOX_DIR":  # the name asterisk_conf/sandbox.sh reads too
            out.setdefault("asterisk", {})["sandbox_dir"] = value
            continue
        rest = key[len("HOTLINE_") :].lower()
        section, _, sub = rest.partition("_")
        if section in sections and sub:
            out.setdefault(section, {})[sub] = value
        else:
            out[rest] = value
    return out


def load_config(path: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (``path`` or $HOTLINE_CONFIG), then HOTLINE_* variables."""
    env = dict(os.environ if env is None else env)
    cfg = Config()
    path = path or env.get("HOTLINE_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        cfg = _merge(cfg, data, "")
    return _merge(cfg, _env_overrides(env), "env:")


def _secret_from_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def ensure_secrets(cfg: Config) -> Config:
    """Fill unset secrets from files under data_dir, creating random ones on first run."""
    data = Path(cfg.data_dir)
    if not cfg.secret_key:
        cfg = replace(cfg, secret_key=_secret_from_file(data / "secret.key"))
    if not cfg.cti.api_token:
        cfg = replace(cfg, cti=replace(cfg.cti, api_token=_secret_from_file(data / "api.token")))
    if not cfg.asterisk.ami_secret:
        ami = replace(cfg.asterisk, ami_secret=_secret_from_file(data / "ami.secret"))
        cfg = replace(cfg, asterisk=ami)
    return cfg
