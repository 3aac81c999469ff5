"""What the voice benchmark runs: its variants, rates, ports and fixed inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asterisk_conf.render import CLASSIC_AGI_PREFIX

VOICE = Path(__file__).resolve().parent  # the bench flow (bench_menu.yaml), native.conf
RESULTS = VOICE.parent / "RESULTS.md"
LOOPBACK = "127.0.0.1"
INSTANCE = "bench"
SIP_PORT, AMI_PORT, FASTAGI_PORT = 17060, 17038, 17573
ITR_PORT, CONSOLE_PORT, BACKEND_PORT, CTI_API_PORT = 17080, 17090, 17081, 17070
RTP_START, RTP_END = 30000, 39999
BACKEND_URL = f"http://{LOOPBACK}:{BACKEND_PORT}"
# The Hotline server and the back-end run in sessions of their own, as services do (and as
# asterisk_conf/sandbox.sh starts Asterisk): with the kernel's autogroup scheduling
# (/proc/sys/kernel/sched_autogroup_enabled) or systemd's per-service cgroups, a saturated
# machine shares its CPU per service, not per thread. SIPp stays in the bench's session.
SERVICE_SESSIONS = True
# Loaded for the bench instance only (native.conf's lookup), not in asterisk_conf/templates.
BENCH_MODULES = ("res_curl.so", "func_curl.so", "func_json.so")
FLOW = "bench_menu"
FASTAGI_DID = "4008007001"
CLASSIC_DID = CLASSIC_AGI_PREFIX + FASTAGI_DID
# The native menu (native.conf): rendered only into the bench's instance, as its extra
# dialplan (asterisk_conf.render.ExtraDialplan), never into a production render.
NATIVE_DID = "4008009999"
NATIVE_CONTEXT = "bench-native"
KEY, DIGITS = "1", "5678"
PROMPTS = {"menu_file": "Press 1.", "code_file": "Enter code.", "result_file": "Result"}
CACHE = Path.home() / ".cache" / "hotline" / "bench"
FLOORS = {"vs_native": 0.8, "vs_classic": 10.0, "added_p95_ms": 20.0}
# After the last digit an idle machine has said the result and hung up within ~2.4 s (lookup,
# "Result", "two five"); a call whose BYE has not come 5 s after the last digit left its
# caller in silence for more than ~2.5 s extra: it fails. (With a loose bound, a step at
# several times the machine's capacity "passes" for native dialplan, whose calls only get
# later, while AGI loses keys: that measures how big a burst a variant absorbs, not calls/s.)
BYE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    did: str
    done_marker: str  # a log line per finished call


FASTAGI = Variant("fastagi", "Hotline FastAGI", FASTAGI_DID,
                  "HOTLINE after-flow flow=bench_menu agistatus=SUCCESS done=1 exit=hangup")
CLASSIC = Variant("classic", "Hotline pyst2 AGI (process per call)", CLASSIC_DID,
                  "HOTLINE after-flow flow=bench_menu agistatus=SUCCESS done=1 exit=hangup")
NATIVE = Variant("native", "Native dialplan", NATIVE_DID, "BENCH native done")
VARIANTS = (FASTAGI, CLASSIC, NATIVE)


@dataclass(frozen=True)
class Plan:
    fast_rates: tuple[float, ...]  # FastAGI and native
    classic_rates: tuple[float, ...]
    step_s: float  # seconds of calls per FastAGI/native step
    latency_rate: float
    latency_s: float
    classic_step_s: float = 15.0  # pyst2 fails far below the others; short steps suffice


# A minute of calls per step: the machine must keep up with a rate, not absorb a burst (a
# 15 s step with 6-10 s calls let either variant "pass" well above what it can sustain,
# its calls only getting later). Finer rates where the two variants run out of CPU.
FULL = Plan((10, 30, 50, 55, 60, 65, 70, 75, 80, 90), (1, 2, 4, 6, 8, 12, 16), 60.0, 5.0, 15.0)
QUICK = Plan((20, 60, 100), (1, 2, 4), 6.0, 5.0, 6.0, 6.0)
