"""The voice benchmark's written result: the ``<!-- voice:start -->`` section of
bench/RESULTS.md (figures, floors, every step, and what was measured how)."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence

from bench.voice.measure import Cpu, Latency, Step, percentile
from bench.voice.plan import CLASSIC, FASTAGI, FLOORS, NATIVE, RESULTS, VARIANTS, Plan
from bench.voice.search import (
    Interval,
    Outcome,
    interval,
    passing_ratio,
    ratio_bounds,
)


def outcomes(steps: Sequence[Step], variant: str) -> list[Outcome]:
    return [Outcome(s.rate, s.passed) for s in steps if s.variant == variant]


def best_rate(steps: Sequence[Step], variant: str) -> float:
    """The variant's highest passing rate (0.0: none passed)."""
    return max((o.rate for o in outcomes(steps, variant) if o.passed), default=0.0)


def intervals(steps: Sequence[Step], plan: Plan) -> dict[str, Interval]:
    """Where each variant's maximum lies, from its steps and its search (for the cap)."""
    return {v.name: interval(plan.classic if v is CLASSIC else plan.fast,
                             outcomes(steps, v.name)) for v in VARIANTS}


def _bound(x: float, digits: int) -> str:
    return "0" if x == 0 else "∞" if math.isinf(x) else f"{x:.{digits}f}"


def ratio_floor(names: tuple[str, str], num: Interval, den: Interval, floor: float,
                digits: int, unit: str = "") -> str:
    """A floor line: the ratio of the passing rates against ``floor``, with the interval the
    ratio of the maxima lies in (num.lo / den.hi .. num.hi / den.lo)."""
    head = f"- {names[0]} / {names[1]} calls/s (highest passing rates)"
    for name, iv in zip(names, (num, den), strict=True):
        if not iv.measured:
            return f"{head}: not measured, {name} did not run"
    if not den.lo:
        return f"{head}: not measured, {names[1]} passed no rate tried"
    if num.capped and den.capped:
        return (f"{head} = {num.lo:g} / {den.lo:g}: not measured, both passed the cap of "
                f"{num.lo:g} calls/s")
    value = passing_ratio(num, den)
    low, high = ratio_bounds(num, den)
    ok = value >= floor
    undecided = low < floor <= high
    return (f"{head} = {num.lo:g} / {den.lo:g} = {value:.{digits}f}{unit}; the maxima's ratio "
            f"lies in {_bound(low, digits)} .. {_bound(high, digits)}{unit} (floor {floor:g}"
            f"{unit}): {'met' if ok else '**MISSED**'}"
            + (" (the floor lies inside that interval: within the search's resolution)"
               if undecided else ""))


def search_trace(steps: Sequence[Step], variant: str) -> str:
    return " ".join(f"{o.rate:g} {'✓' if o.passed else '✗'}" for o in outcomes(steps, variant))


def method(plan: Plan) -> list[str]:
    return [
        f"How the maxima were found: FastAGI and native {plan.fast.describe()}; "
        f"{plan.step_s:g} s of calls per step. The two alternate step by step (who goes "
        "first alternates every round; while both ramp up they run the same rates), and one "
        "whose search has ended leaves the other to go on alone. pyst2 runs first, alone: "
        f"{plan.classic.describe()}; {plan.classic_step_s:g} s steps. A variant's maximum lies "
        "between its highest passing and its lowest failing rate.",
    ]


def cpu_per_call(steps: Sequence[Step], variant: str) -> tuple[float, Cpu]:
    """Total CPU / completed calls over the variant's passing steps (ms, and the parts in ms)."""
    chosen = [s for s in steps if s.variant == variant and s.passed]
    calls = sum(s.done for s in chosen)
    if not calls:
        return float("nan"), Cpu()
    # Native runs without Hotline: the server's CPU during native steps (its AMI client
    # following those calls) is shown per step but not charged to the native variant. The
    # back-end process answers every variant's lookups: charged to all three.
    server = 0.0 if variant == NATIVE.name else sum(s.cpu.server for s in chosen)
    parts = Cpu(sum(s.cpu.ast for s in chosen), sum(s.cpu.ast_children for s in chosen),
                server, sum(s.cpu.backend for s in chosen)).per_call(calls)
    return parts.total, parts


def report(steps: Sequence[Step], lats: Sequence[Latency], command: str, started: float,
           plan: Plan, quick: bool, load_before: float) -> str:
    found = intervals(steps, plan)
    lat = {x.variant: x for x in lats}
    nat = lat.get(NATIVE.name)
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} "
        f"({'quick' if quick else 'full'}, {(time.time() - started) / 60:.1f} min), "
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, 1-minute load average just "
        f"before the run {load_before:.2f}"
        + (" (other jobs were sharing the CPUs: noisy figures)." if load_before > 0.5 else "."),
        "",
        f"Command: `{command}`",
        "",
        "| Variant | Max calls/s with 0 failed or late calls | CPU/call (Asterisk + AGI children"
        " + Hotline + back-end) |"
        " DTMF->prompt menu p50/p95 | DTMF->prompt after lookup p50/p95 |",
        "|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        total, parts = cpu_per_call(steps, v.name)
        x = lat.get(v.name)
        menu = f"{percentile(x.menu_ms, 50):.1f} / {percentile(x.menu_ms, 95):.1f} ms" if x \
            else "-"
        coll = f"{percentile(x.collect_ms, 50):.1f} / {percentile(x.collect_ms, 95):.1f} ms" \
            if x else "-"
        lines.append(f"| {v.label} | {found[v.name].text} | {total:.1f} ms ({parts.ast:.1f} + "
                     f"{parts.ast_children:.1f} + {parts.server:.1f} + {parts.backend:.1f}) |"
                     f" {menu} | {coll} |")
    lines.append("")
    lines += method(plan)
    lines += ["", "Searches (rate tried in calls/s, ✓ passed, ✗ failed, in the order run):"]
    lines += [f"- {v.label}: {search_trace(steps, v.name) or 'not run'}" for v in VARIANTS]
    lines.append("")
    fa, na, cl = found[FASTAGI.name], found[NATIVE.name], found[CLASSIC.name]
    vs_native = passing_ratio(fa, na)
    added: dict[str, float] = {}
    if nat and FASTAGI.name in lat:
        f = lat[FASTAGI.name]
        added["menu"] = percentile(f.menu_ms, 95) - percentile(nat.menu_ms, 95)
        added["lookup"] = percentile(f.collect_ms, 95) - percentile(nat.collect_ms, 95)

    def verdict(ok: bool) -> str:
        return "met" if ok else "**MISSED**"

    lines += [
        "Floors:",
        ratio_floor(("FastAGI", "native"), fa, na, FLOORS["vs_native"], 2),
        ratio_floor(("FastAGI", "pyst2 process-per-call"), fa, cl, FLOORS["vs_classic"], 1,
                    "x"),
    ]
    for step_name, value in added.items():
        lines.append(f"- p95 added latency vs native, {step_name} step = {value:.1f} ms (floor "
                     f"< {FLOORS['added_p95_ms']:g} ms): "
                     f"{verdict(value < FLOORS['added_p95_ms'])}"
                     + (" (this step includes the HTTP lookup, for both)"
                        if step_name == "lookup" else ""))
    fa_cpu, fa_parts = cpu_per_call(steps, FASTAGI.name)
    na_cpu, _ = cpu_per_call(steps, NATIVE.name)
    if vs_native < FLOORS["vs_native"] and fa_cpu == fa_cpu and na_cpu == na_cpu:
        first_fail = next((s for s in steps if s.variant == FASTAGI.name and not s.passed
                           and s.rate == fa.hi), None)
        lines.append(
            f"- Why the calls/s ratio: CPU per call FastAGI {fa_cpu:.1f} ms (Asterisk "
            f"{fa_parts.ast:.1f}, Hotline server {fa_parts.server:.1f}, back-end "
            f"{fa_parts.backend:.1f}) vs native {na_cpu:.1f} ms;"
            f" on a CPU-bound machine that alone caps the ratio near {na_cpu / fa_cpu:.2f}."
            + (f" At {first_fail.rate:g}/s FastAGI failed: {first_fail.note or 'see steps'}"
               f" (server CPU-starved: its replies came late, and AGI drops keys pressed "
               f"between commands)." if first_fail else ""))
    lines += ["", "Steps (rate, calls, SIPp ok/failed, flows finished per Asterisk's log, "
              "lookups the back-end answered, CPU per finished call):", "",
              "| Variant | Rate/s | Calls | OK | Failed | Done | Server done | Lookups |"
              " Mean call s | CPU/call ms (ast+children+hotline+backend) | Note |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        per = s.cpu.per_call(s.done)
        server = "-" if s.server_done is None else str(s.server_done)
        lines.append(f"| {s.variant} | {s.rate:g} | {s.calls} | {s.ok} | {s.failed} | {s.done} |"
                     f" {server} | {s.lookups} |"
                     f" {'-' if s.call_s is None else f'{s.call_s:.1f}'} |"
                     f" {per.total:.1f} ({per.ast:.1f}+{per.ast_children:.1f}+"
                     f"{per.server:.1f}+{per.backend:.1f}) |"
                     f" {'pass' if s.passed else 'FAIL'} {s.note} |")
    lines.append("")
    lines.append("Latency samples (calls parsed): " + ", ".join(
        f"{x.variant} {x.calls} (menu {len(x.menu_ms)}, lookup {len(x.collect_ms)})"
        for x in lats))
    return "\n".join(lines)


NOTES = """\
What is measured (bench/voice/, its caller from bench/sipp/):

- One call: INVITE, menu prompt, key 1 by SIP INFO, 4 digits (5678), a lookup, "Result" +
  SayDigits/SAY DIGITS (25), Asterisk hangs up. Same prompt files (espeak-ng, 8 kHz WAV) for
  all three. Flow: bench/voice/bench_menu.yaml; dialplan: bench/voice/native.conf; caller:
  bench/sipp/scenarios/uac_call.xml (SIPp, `-buff_size 4194304`, bounded `-m`/`-timeout`).
- All three do the same real lookup: GET /orders/1234{code} over HTTP on 127.0.0.1 against
  one demo back-end process (bench/voice/backend.py: cti/demo/backend.py's Flask app on the
  server's stack, Twisted `Site(WSGIResource)` + a thread pool), started once for the run.
  The Hotline server runs with its in-process demo back-end off (`HOTLINE_BACKEND_DEMO=false`)
  and its action runner calls that process; the pyst2 scripts read the same base URL from the
  rendered hotline-agi.toml; the native dialplan calls it with `CURL()` (func_curl + res_curl,
  `CURLOPT` httptimeout 3 s and failurecodes 404,500, loaded for the bench instance only) and
  reads `status` and `eta.day` with `JSON_DECODE()` (func_json). Nobody's lookup is free: the
  back-end's CPU is charged to every variant, and "Lookups" in the steps table counts the
  requests its access log shows per step (one per call).
- A call is successful for SIPp when Asterisk hangs up (the result said) within 5 s of the
  caller's last digit (`--bye-timeout-s`); on an idle machine that takes ~2.4 s. A later BYE
  is a failed call: its caller sat through more than ~2.5 s of extra silence. "Mean call s"
  in the steps table is SIPp's mean call length (6.4 s on an idle machine). Why the bound:
  with the earlier 20 s one, the native dialplan "passed" 110 calls/s in a 15 s step with a
  mean call of 14.9 s (8.5 s late, SIPp's own achieved rate 51/s), which measures how large
  a burst a variant absorbs, not how many calls per second it serves; FastAGI passed 70 with
  a mean call of 8.3 s (that run's full table: git history of this file, 2026-11-29 16:53).
- Steps are a minute of calls at their rate (15 s for pyst2): long enough that a variant must
  keep up with the rate rather than absorb it as a burst. (With 15 s steps, the two runs of
  2026-11-29 16:53 and 17:10 in this file's history, both variants "passed" rates above
  their CPU capacity, native further above it: its late calls lose no key.)
- A rate passes when SIPp counts every call successful and Asterisk's log shows every flow
  finished (`HOTLINE after-flow ... done=1 exit=hangup`, i.e. the Hotline server set
  HOTLINE_DONE=1 after the lookup said "ok"; `BENCH native done` for the dialplan, after
  `JSON_DECODE()` found the ETA day in the back-end's reply). For
  throughput runs the bench instance logs no verbose output, only these lines (the rendered
  after-flow `Verbose(1, ...)` is turned into `Log(NOTICE, ...)` with the same text). For
  FastAGI the server's own record (`<data_dir>/calls.jsonl`: ended=exit, exit kind hangup)
  must count every call too ("Server done").
- Each variant's maximum is searched for, not read off a fixed list of rates (bench/voice/
  search.py, pure and unit-tested; the run's own parameters are in "How the maxima were
  found" above). A ramp: from a low rate, the rate grows by a fixed factor after every
  passing step; the first failing step ends it, then bisection (geometric midpoint, whole
  calls/s) between the highest passing and the lowest failing rate until the two are within
  5 % (10 % for pyst2, whose floor is far off and whose steps are short). A failure at the
  very first rate walks down by the same factor first. The result is an interval, "passed
  118, failed 124: max in [118, 124)"; a ratio of two maxima is then an interval too
  (lo_a / hi_b .. hi_a / lo_b), and floors are checked on the passing rates. A variant that
  passes the cap (400 calls/s: 10,000 RTP ports, two per call, calls up to ~12.5 s long
  when the machine is saturated) reports "max ≥ 400": above it the port range, not the
  variant, would fail. FastAGI and native alternate step by step (who goes first alternates
  every round, and while both ramp up they run the same rates); once one's search has ended
  the other goes on alone. pyst2 runs first, alone, with its own small rates and 15 s steps.
  `--rates` / `--classic-rates` replace the searches with a fixed list (in order, up to the
  first failure); `--start-rate` and `--cap` set the FastAGI/native ramp's start and cap.
  (Until 2026-12 the bench walked a fixed list up to 90 calls/s; on a faster machine both
  variants passed all of it and the ratio said nothing.)
- CPU/call: /proc/<pid>/stat deltas over each passing step: Asterisk utime+stime, Asterisk's
  reaped children cutime+cstime (the process-per-call AGI scripts, Python 3.13 in the chroot),
  the Hotline server (reactor + thread pools + its CTI/AMI client; no back-end inside) and the
  back-end process (utime+stime), for all three variants. SIPp is not counted. The native
  figure leaves the Hotline server out (it is not part of that variant; the steps table still
  shows what the idle server spent following those calls over AMI).
- Latency (a separate run at moderate load with verbose 3, millisecond timestamps and
  `agi set debug on`; throughput runs log one line per call): AGI variants from `AGI Tx >>
  200 result=1` (key 1, the menu's GET DATA) / `200 result=5678` to the next `AGI Rx << GET
  DATA/STREAM FILE/SAY`;
  native from the first dialplan step after `Read()` to `Read()`/`Playback()` starting. The
  "after lookup" step includes the HTTP lookup for all of them (native: `CURL()` +
  `JSON_DECODE()` run between those two log lines).
- How a Hotline variant fails: Asterisk's AGI discards DTMF that arrives while no AGI command
  is running. The caller presses keys at fixed times (3 s after the answer, then 0.5 s after
  the menu key). A menu's prompt and its wait for the key are one GET DATA, so the first key
  only needs the call's first command to have started; the digits need the reply to the menu
  key to reach the handler and its GET DATA to come back within 0.5 s. When the handler is
  slow (a CPU-starved server, an AGI process still starting), a key is lost and the flow takes
  its failure branch (a transfer to a missing endpoint, so the dialplan fallback holds the
  call: a failed SIPp call, "flows ended in their failure branch" in the step notes). Native
  dialplan loses no key when it is late (`Read()` picks up keys that arrived before it ran):
  on a saturated machine it gets slower, where AGI gets failures.
- Processes and the scheduler: Asterisk runs in a session of its own (asterisk_conf/sandbox.sh
  starts it with `setsid`, as the daemon it normally is), and so do the Hotline server and the
  back-end (`start_new_session`); SIPp stays in the bench's session. With the kernel's
  autogroup scheduling (on here) or systemd's per-service cgroups, a saturated machine shares
  the CPU per service rather than per thread, as on a real server. In one shared session
  Asterisk's hundreds of channel threads out-vote the Hotline server's one reactor thread
  under saturation: measured 2026-11-29 with the same server code, FastAGI at 70 calls/s lost
  473 of 1,050 calls in one shared session and 57 with separate sessions (native passed 70
  both times).
- The classic AGI variant is the project's own: `AGI(hotline-agi,bench_menu,--config=...)`
  as rendered by asterisk_conf/render.py, i.e. pyst2 in a Python 3.13 venv inside the chroot,
  one process per call, reading the rendered hotline-agi.toml and the bind-mounted flows,
  prompt cache and data dir.
"""


def write_results(section: str) -> None:
    start, end = "<!-- voice:start -->", "<!-- voice:end -->"
    title = "## Voice: FastAGI vs pyst2 AGI vs native dialplan"
    body = f"{start}\n{title}\n\n{section}\n\n{NOTES}{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in text and end in text:
        pre, rest = text.split(start, 1)
        post = rest.split(end, 1)[1]
        text = pre + body + post
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    RESULTS.write_text(text)
