"""Prompt audio Asterisk can play: espeak-ng speech and operator recordings, cached on disk.

Every file is 8 kHz mono 16-bit WAV (or GSM), the formats Asterisk plays without
transcoding. Files are content-addressed: the name is a hash of everything that shapes the
sound (engine tag, voice, language, text, format), so a prompt is rebuilt only when its text
changes and two flows that say the same sentence share one file.

Pipeline: ``espeak-ng`` (text on stdin, never through a shell) writes a 22 kHz WAV;
``ffmpeg`` trims leading/trailing silence and resamples with soxr (a proper low-pass
filter: a naive decimation would fold a 6 kHz tone down to 2 kHz). Recordings skip the
speech step. Each result is written to a temporary file in the cache and renamed into
place, so concurrent callers never see half a file.

Synthesis blocks (tens of milliseconds per prompt): call it from a thread, not the reactor.
What a call needs lately is remembered in a bounded memo (``prompt_memo``) that the reactor
thread reads without I/O. The external tools and their errors are ``prompt_tools``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from ivr_flows.core.model import CollectNode, Flow, MenuNode, Prompt, TextPart
from ivr_flows.voice.prompt_memo import MEMO_SIZE, MEMO_TTL_S, PromptMemo
from ivr_flows.voice.prompt_tools import (
    PromptError,
    Runner,
    ToolError,
    clean_text,
    is_pause,
    run_tool,
)

logger = logging.getLogger(__name__)

FORMATS = {"wav": "wav", "gsm": "gsm"}  # config name -> file extension Asterisk knows
PIPELINE_TAG = "ffmpeg-soxr-8k-trim/1"  # bump when the conversion below changes the sound
MAX_PROMPT_CHARS = 2000
MAX_SAY_CHARS = 200
PAUSE_SECONDS = 0.25  # what punctuation-only text ("。", ".") becomes
ENGINE_TAG_FILE = "engine.tag"  # the speech engine that filled this cache (for readers without it)
_LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*$")
_TRIM = (
    "silenceremove=start_periods=1:start_silence=0.05:start_threshold=-50dB,areverse,"
    "silenceremove=start_periods=1:start_silence=0.1:start_threshold=-50dB,areverse,"
)
_FF = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
_TO_8K = "aresample=osr=8000:resampler=soxr:ocl=mono:osf=s16"


@dataclass
class BuildReport:
    built: int = 0
    cached: int = 0
    failed: int = 0
    files: list[str] = field(default_factory=list)  # full file paths, with extension
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_bytes(self) -> int:
        return sum(os.path.getsize(f) for f in self.files if os.path.exists(f))

    def add(self, other: BuildReport) -> None:
        self.built += other.built
        self.cached += other.cached
        self.failed += other.failed
        self.files.extend(f for f in other.files if f not in self.files)
        self.errors.extend(other.errors)
        self.seconds += other.seconds

    def summary(self) -> str:
        return (f"prompts: {self.built} built, {self.cached} cached, {self.failed} failed; "
                f"{len(self.files)} files, {self.total_bytes / 1024:.0f} KiB, "
                f"{self.seconds:.2f} s")


class PromptStore:
    """The prompt cache: ``text_file`` / ``say_text`` / ``recorded_file`` return the path
    Asterisk's STREAM FILE wants (absolute, without extension), making the file if missing."""

    def __init__(self, cache_dir: Path, fmt: str = "wav", voices: Mapping[str, str] | None = None,
                 runner: Runner = run_tool, engine_tag: str | None = None, *,
                 memo_size: int = MEMO_SIZE, memo_ttl_s: float = MEMO_TTL_S) -> None:
        if fmt not in FORMATS:
            raise PromptError("bad_format", f"prompt format {fmt!r} is not one of "
                              f"{', '.join(FORMATS)}", format=fmt)
        voices = dict(voices if voices is not None else {"en": "en-us", "zh": "cmn"})
        for lang, voice in voices.items():
            if not _LANG.fullmatch(lang) or not _VOICE.fullmatch(voice):
                raise PromptError("bad_voice", f"bad voice setting {lang!r} = {voice!r}",
                                  lang=lang, voice=voice)
        self.cache_dir = Path(cache_dir).resolve()
        self.fmt = fmt
        self.ext = FORMATS[fmt]
        self.voices = voices
        self._run = runner
        self._engine_tag = engine_tag
        self._locks = [threading.Lock() for _ in range(64)]
        self._tag_lock = threading.Lock()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._tag_unsaved = False
        # (kind, lang, text) -> path: lets a call find its prompts without hashing,
        # stat()ing or a thread hop (``memoised``). Written from pool threads, read on the
        # reactor thread: bounded and locked (``PromptMemo``).
        self._memo = PromptMemo(memo_size, memo_ttl_s)

    # ------------------------------------------------------------------ public API

    def text_file(self, lang: str, text: str) -> str:
        """The file for one fixed prompt text (speech, or a pause for punctuation only)."""
        path = self._text(lang, text, MAX_PROMPT_CHARS, strict=True)[0]
        self._memo.put(("text", lang, text), path)
        return path

    def say_text(self, lang: str, text: str) -> str:
        """The file for a run-time value (a city from the back-end): cleaned, cut to 200 chars."""
        path = self._text(lang, text, MAX_SAY_CHARS, strict=False)[0]
        self._memo.put(("value", lang, text), path)
        return path

    def memoised(self, kind: str, lang: str, text: str) -> str | None:
        """What ``text_file`` (kind ``text``) or ``say_text`` (``value``) returned for this
        text lately, without any I/O: safe on the reactor thread. None when unknown or when
        the file was last seen more than ``memo_ttl_s`` ago (the blocking call checks the
        file again, and rebuilds it if the cache was cleared meanwhile)."""
        return self._memo.get((kind, lang, text))

    def recorded_file(self, lang: str, source_audio_path: str | Path) -> str:
        """An operator recording (WAV, MP3, anything ffmpeg reads) converted for Asterisk."""
        return self._recorded(lang, Path(source_audio_path))[0]

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str:
        """A recording named in a flow's ``prompt.audio`` (relative to the flow file's folder)."""
        return self.recorded_file(lang, Path(flow.source).parent / audio)

    def build_flow(self, flow: Flow, workers: int | None = None) -> BuildReport:
        """Every fixed text of every prompt in every language, plus the flow's recordings.

        Files are made by ``workers`` threads (default: one per CPU, at most 8); the work
        happens in espeak-ng/ffmpeg processes."""
        started = time.monotonic()
        jobs: dict[tuple[str, str], Callable[[], tuple[str, bool]]] = {}
        for prompt in flow_prompts(flow):
            for lang in prompt.text:
                for part in prompt.parts(lang):
                    if isinstance(part, TextPart):
                        jobs.setdefault((lang, part.text), partial(
                            self._text, lang, part.text, MAX_PROMPT_CHARS, True))
            for lang, audio in prompt.audio.items():
                src = Path(flow.source).parent / audio
                jobs.setdefault((lang, f"\0{src}"), partial(self._recorded, lang, src))
        report = BuildReport()
        with ThreadPoolExecutor(max_workers=max(1, workers or min(8, os.cpu_count() or 1))) as pool:
            for outcome in pool.map(_attempt, jobs.values()):
                self._count(report, outcome)
        report.seconds = time.monotonic() - started
        return report

    def build_all(self, flows: Iterable[Flow], workers: int | None = None) -> BuildReport:
        report = BuildReport()
        for flow in flows:
            report.add(self.build_flow(flow, workers))
        return report

    # ------------------------------------------------------------------ internals

    def _count(self, report: BuildReport, outcome: tuple[str, bool] | PromptError) -> None:
        if isinstance(outcome, PromptError):
            report.failed += 1
            report.errors.append(str(outcome))
            logger.warning("prompt not built: %s", outcome)
            return
        path, built = outcome
        report.built += built
        report.cached += not built
        file = f"{path}.{self.ext}"
        if file not in report.files:
            report.files.append(file)

    def _text(self, lang: str, text: str, limit: int, strict: bool) -> tuple[str, bool]:
        voice = self.voices.get(lang)
        if voice is None:
            raise PromptError("unknown_language", f"no voice configured for language {lang!r} "
                              f"(text {text[:60]!r})", lang=lang, text=text[:60])
        if strict and len(text) > limit:
            raise PromptError("text_too_long", f"{lang} prompt of {len(text)} characters "
                              f"(limit {limit}): {text[:60]!r}...", lang=lang, text=text[:60])
        clean = clean_text(text, limit)
        if not clean:
            raise PromptError("empty_text", f"{lang} prompt text is empty: {text!r}",
                              lang=lang, text=text[:60])
        tag = self.engine_tag(lang, clean)
        digest = _digest([tag, voice, lang, clean, self.fmt])
        target = self.cache_dir / "tts" / lang / digest

        def make(tmp: Path, out: Path) -> None:
            if is_pause(clean):
                self._tool(["ffmpeg", *_FF, "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                            "-t", f"{PAUSE_SECONDS}", *self._encode(out)], lang, clean)
                return
            raw = tmp / "speech.wav"
            self._tool(["espeak-ng", "-v", voice, "-b", "1", "-w", str(raw), "--stdin"],
                       lang, clean, stdin=clean.encode("utf-8"))
            self._tool(["ffmpeg", *_FF, "-i", str(raw), "-af", _TRIM + _TO_8K,
                        *self._encode(out)], lang, clean)

        result = self._ensure(target, digest, make)
        if self._tag_unsaved and self._engine_tag:
            self._tag_unsaved = False
            _write_tag(self.cache_dir / ENGINE_TAG_FILE, self._engine_tag)
        return result

    def _recorded(self, lang: str, src: Path) -> tuple[str, bool]:
        if not _LANG.fullmatch(lang):
            raise PromptError("bad_language", f"bad language code {lang!r} for recording {src}",
                              lang=lang, text=str(src))
        try:
            content = self._file_digest(src)
        except OSError as exc:
            raise PromptError("source_missing", f"{lang} recording {src}: cannot read it "
                              f"({exc.strerror})", lang=lang, text=str(src)) from None
        digest = _digest([PIPELINE_TAG, "recording", lang, content, self.fmt])
        target = self.cache_dir / "rec" / lang / digest

        def make(tmp: Path, out: Path) -> None:
            self._tool(["ffmpeg", *_FF, "-i", str(src), "-vn", "-af", _TO_8K,
                        *self._encode(out)], lang, str(src))

        return self._ensure(target, digest, make)

    def _ensure(self, target: Path, digest: str, make: _Maker) -> tuple[str, bool]:
        """Return (path without extension, built?); build atomically if the file is missing."""
        final = target.with_name(f"{target.name}.{self.ext}")
        if final.exists():
            return str(target), False
        with self._locks[int(digest[:4], 16) % len(self._locks)]:
            if final.exists():  # another thread made it while we waited
                return str(target), False
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.cache_dir))
            try:
                out = tmp / f"out.{self.ext}"
                make(tmp, out)
                os.chmod(out, 0o644)  # Asterisk usually runs as another user
                os.replace(out, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        logger.info("prompt built: %s", final)
        return str(target), True

    def _encode(self, out: Path) -> list[str]:
        codec = ["-c:a", "libgsm", "-f", "gsm"] if self.fmt == "gsm" else \
            ["-c:a", "pcm_s16le", "-f", "wav"]
        return ["-ar", "8000", "-ac", "1", *codec, "-bitexact", "-map_metadata", "-1", str(out)]

    def _tool(self, argv: list[str], lang: str, text: str, stdin: bytes | None = None) -> None:
        try:
            self._run(argv, stdin)
        except ToolError as exc:
            code = "tool_missing" if exc.missing else "tool_failed"
            raise PromptError(code, f"{lang} prompt {text[:60]!r}: {exc}", lang=lang,
                              text=text[:60], tool=exc.tool) from None

    def engine_tag(self, lang: str = "", text: str = "") -> str:
        """``espeak-ng <version>`` plus the conversion pipeline tag (asked once per store)."""
        with self._tag_lock:
            if self._engine_tag is None:
                tag_file = self.cache_dir / ENGINE_TAG_FILE
                try:
                    out = self._run(["espeak-ng", "--version"], None).decode("utf-8", "replace")
                except ToolError as exc:
                    # A reader without espeak-ng (classic AGI inside the Asterisk chroot) uses
                    # the tag of the store that filled this cache, so it finds the same files.
                    recorded = _read_tag(tag_file) if exc.missing else ""
                    if not recorded:
                        code = "tool_missing" if exc.missing else "tool_failed"
                        raise PromptError(code, f"{lang} prompt {text[:60]!r}: {exc}",
                                          lang=lang, text=text[:60], tool=exc.tool) from None
                    self._engine_tag = recorded
                else:
                    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)
                    self._engine_tag = f"espeak-ng {m.group(1) if m else out.strip()[:40]}"
                    self._tag_unsaved = True  # recorded with the first prompt made or found
            return f"{self._engine_tag}; {PIPELINE_TAG}"

    def _file_digest(self, src: Path) -> str:
        st = src.stat()
        key = (str(src.resolve()), st.st_mtime_ns, st.st_size)
        if key not in self._digests:
            h = hashlib.sha256()
            with src.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    h.update(block)
            self._digests[key] = h.hexdigest()
        return self._digests[key]


def _read_tag(path: Path) -> str:
    try:
        return clean_text(path.read_text(encoding="utf-8"), 80)
    except OSError:
        return ""


def _write_tag(path: Path, tag: str) -> None:
    if _read_tag(path) == tag:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(tag + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("prompt cache %s: engine tag not recorded: %s", path.parent, exc.strerror)


class _Maker(Protocol):
    def __call__(self, tmp: Path, out: Path) -> None: ...


def _attempt(make: Callable[[], tuple[str, bool]]) -> tuple[str, bool] | PromptError:
    try:
        return make()
    except PromptError as exc:
        return exc


def _digest(fields: list[str]) -> str:
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def flow_prompts(flow: Flow) -> list[Prompt]:
    """Every spoken prompt of a flow: node prompts and the invalid/no-input retry prompts."""
    prompts: list[Prompt] = []
    for node in flow.nodes.values():
        prompt = getattr(node, "prompt", None)
        if isinstance(prompt, Prompt):
            prompts.append(prompt)
        if isinstance(node, MenuNode | CollectNode):
            prompts += [node.retry.invalid, node.retry.no_input]
    return prompts


def build_prompts(store: PromptStore,
                  flows: Iterable[Flow] | Mapping[str, Flow]) -> BuildReport:
    """``hotline prompts build``: make every flow's prompt files in ``store`` (built by the
    composition root from the configuration), print one summary line (and one line per
    failure). Exit non-zero from the CLI when ``report.failed``."""
    report = store.build_all(flows.values() if isinstance(flows, Mapping) else flows)
    print(report.summary())
    for err in report.errors:
        print(f"  failed: {err}")
    return report
