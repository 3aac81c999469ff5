"""What the voice benchmark measures: CPU of its processes, steps, and DTMF -> prompt latency
parsed from Asterisk's own log."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.voice.plan import DIGITS, KEY, NATIVE, NATIVE_CONTEXT, Variant

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    ast: float = 0.0
    ast_children: float = 0.0
    server: float = 0.0
    backend: float = 0.0  # the demo back-end process: every variant's lookups

    @property
    def total(self) -> float:
        return self.ast + self.ast_children + self.server + self.backend

    def per_call(self, calls: int) -> Cpu:
        """These seconds as milliseconds per call."""
        k = 1000 / max(calls, 1)
        return Cpu(self.ast * k, self.ast_children * k, self.server * k, self.backend * k)


@dataclass
class Step:
    variant: str
    rate: float
    calls: int
    ok: int
    failed: int
    done: int
    seconds: float
    cpu: Cpu
    note: str = ""
    server_done: int | None = None  # FastAGI: calls the server recorded as finished
    lookups: int = 0  # GET /orders/... the back-end answered during the step
    call_s: float | None = None  # SIPp's mean call length

    @property
    def passed(self) -> bool:
        server_ok = self.server_done is None or self.server_done == self.calls
        return self.failed == 0 and self.ok == self.calls and self.done == self.calls \
            and server_ok


@dataclass
class Latency:
    variant: str
    calls: int
    menu_ms: list[float] = field(default_factory=list)
    collect_ms: list[float] = field(default_factory=list)



def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own utime+stime, reaped children cutime+cstime) of ``pid``, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return own / CLK_TCK, children / CLK_TCK


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)



def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid``, by OS thread id."""
    out: dict[str, float] = {}
    for task_dir in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = (task_dir / "stat").read_text()
            fields = text[text.rindex(")") + 2:].split()
            out[task_dir.name] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_by_thread_name(before: dict[str, float], after: dict[str, float],
                       raw_profile: str) -> dict[str, float]:
    """CPU seconds spent between two ``thread_cpu`` readings, by Python thread name (a raw
    py-spy profile names the OS threads; a thread it does not name counts as "other")."""
    names = {m[1]: re.sub(r"[-\d]+$", "", m[2])
             for m in re.finditer(r"thread \((\d+)\): ([^;]+);", raw_profile)}
    spent: dict[str, float] = {}
    for tid, cpu in after.items():
        name = names.get(tid, "other")
        spent[name] = spent.get(name, 0.0) + cpu - before.get(tid, 0.0)
    return spent


# ---------------------------------------------------------------- log parsing

_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] \w+\[\d+\](?:\[(C-[0-9a-f]+)\])?"
                   r" [\w.]+: (.*)$")
_AGI = re.compile(r"<(?P<chan>[^>]+)>AGI (?P<dir>Tx >>|Rx <<) (?P<text>.*)$")
_EXEC = re.compile(r"Executing \[(?P<ext>[^@]+)@(?P<ctx>[\w-]+):(?P<prio>\d+)\] (?P<app>\w+)\("
                   r"\"(?P<chan>[^\"]+)\"")
_PROMPT_CMDS = ("STREAM FILE", "GET DATA", "SAY ", "CONTROL STREAM FILE", "GET OPTION")


def _ts(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def parse_latency(variant: Variant, text: str) -> Latency:
    """DTMF -> next prompt per call, from Asterisk's own log (see bench/voice/__init__.py)."""
    per_chan: dict[str, list[tuple[float, str, str]]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        ts, body = _ts(m.group(1)), m.group(3)
        a = _AGI.search(body)
        if a:
            per_chan.setdefault(a["chan"], []).append((ts, a["dir"], a["text"]))
            continue
        e = _EXEC.search(body)
        if e and e["ctx"] == NATIVE_CONTEXT:
            per_chan.setdefault(e["chan"], []).append((ts, "exec", e["app"]))
    lat = Latency(variant.name, 0)
    for events in per_chan.values():
        if variant is NATIVE:
            menu, collect = _native_steps(events)
        else:
            menu, collect = _agi_steps(events)
        if menu is not None or collect is not None:
            lat.calls += 1
        if menu is not None:
            lat.menu_ms.append(menu)
        if collect is not None:
            lat.collect_ms.append(collect)
    return lat


def _next_prompt(events: list[tuple[float, str, str]], start: int) -> float | None:
    for ts, kind, text in events[start + 1:]:
        if kind == "Rx <<" and text.upper().startswith(_PROMPT_CMDS):
            return ts
    return None


def _agi_steps(events: list[tuple[float, str, str]]) -> tuple[float | None, float | None]:
    menu = collect = None
    # the menu key: GET DATA answers the key itself, STREAM FILE / WAIT FOR DIGIT its code
    key_replies = (f"200 result={KEY}", f"200 result={ord(KEY)}")
    for i, (ts, kind, text) in enumerate(events):
        if kind != "Tx >>":
            continue
        if menu is None and any(text == r or text.startswith(r + " ") for r in key_replies):
            nxt = _next_prompt(events, i)
            menu = None if nxt is None else 1000 * (nxt - ts)
        elif collect is None and text.startswith(f"200 result={DIGITS}"):
            nxt = _next_prompt(events, i)
            collect = None if nxt is None else 1000 * (nxt - ts)
    return menu, collect


def _native_steps(events: list[tuple[float, str, str]]) -> tuple[float | None, float | None]:
    """Read(KEY) returns (the next app starts) -> Read(CODE) starts; Read(CODE) returns ->
    Playback(result) starts."""
    apps = [(ts, app) for ts, kind, app in events if kind == "exec"]
    reads = [i for i, (_, app) in enumerate(apps) if app == "Read"]
    menu = collect = None
    if len(reads) >= 2 and reads[0] + 1 < len(apps):
        menu = 1000 * (apps[reads[1]][0] - apps[reads[0] + 1][0])
        after = reads[1] + 1
        play = next((j for j in range(after, len(apps)) if apps[j][1] == "Playback"), None)
        if after < len(apps) and play is not None:
            collect = 1000 * (apps[play][0] - apps[after][0])
    return menu, collect

