"""The prompt cache, with a fake tool runner that writes what espeak-ng/ffmpeg would write."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ivr_flows.core.model import Flow, Prompt, SayNode, TextPart
from ivr_flows.voice.prompt_memo import MEMO_SIZE, MEMO_TTL_S, PromptMemo
from ivr_flows.voice.prompt_tools import PromptError, ToolError
from ivr_flows.voice.prompts import PromptStore, build_prompts, flow_prompts


class FakeTools:
    """Same signature as ``run_tool``; records every command; can fail or dawdle."""

    def __init__(self, fail_on: str | None = None, missing: str | None = None,
                 delay: float = 0.0) -> None:
        self.calls: list[tuple[list[str], bytes | None]] = []
        self.fail_on = fail_on
        self.missing = missing
        self.delay = delay
        self.seen_final_before_rename: list[bool] = []
        self._lock = threading.Lock()

    def __call__(self, argv: Sequence[str], stdin: bytes | None = None) -> bytes:
        argv = list(argv)
        with self._lock:
            self.calls.append((argv, stdin))
        if argv[0] == self.missing:
            raise ToolError(argv[0], "not installed (not found on PATH)", missing=True)
        if argv[0] == "espeak-ng" and "--version" in argv:
            return b"eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/espeak-ng-data\n"
        if self.fail_on and stdin and self.fail_on in stdin.decode():
            raise ToolError(argv[0], "exit status 1: boom")
        time.sleep(self.delay)
        if argv[0] == "espeak-ng":
            Path(argv[argv.index("-w") + 1]).write_bytes(b"RIFF-speech")
        elif argv[0] == "ffmpeg":
            Path(argv[-1]).write_bytes(b"RIFF-8k")
        return b""

    def count(self, tool: str) -> int:
        return sum(1 for argv, _ in self.calls if argv[0] == tool and "--version" not in argv)


def make_store(tmp_path: Path, tools: FakeTools, fmt: str = "wav",
               voices: dict[str, str] | None = None, memo_size: int = MEMO_SIZE,
               memo_ttl_s: float = MEMO_TTL_S) -> PromptStore:
    return PromptStore(tmp_path / "cache", fmt, voices or {"en": "en-us", "zh": "cmn"}, tools,
                       memo_size=memo_size, memo_ttl_s=memo_ttl_s)


def test_text_file_is_an_absolute_path_without_extension_to_a_made_file(tmp_path: Path) -> None:
    store = make_store(tmp_path, FakeTools())
    path = store.text_file("en", "Hello.")
    assert Path(path).is_absolute()
    assert Path(path).suffix == ""
    assert Path(path + ".wav").read_bytes() == b"RIFF-8k"
    assert Path(path).is_relative_to((tmp_path / "cache").resolve())


def test_the_same_text_gives_the_same_file_across_stores(tmp_path: Path) -> None:
    first = make_store(tmp_path, FakeTools()).text_file("zh", "您好。")
    again = make_store(tmp_path, FakeTools()).text_file("zh", "您好。")
    assert first == again


def test_changing_text_voice_or_format_changes_the_file(tmp_path: Path) -> None:
    tools = FakeTools()
    base = make_store(tmp_path, tools).text_file("en", "Press 1.")
    assert make_store(tmp_path, tools).text_file("en", "Press 2.") != base
    other_voice = make_store(tmp_path, tools, voices={"en": "en-gb"})
    assert other_voice.text_file("en", "Press 1.") != base
    assert make_store(tmp_path, tools, fmt="gsm").text_file("en", "Press 1.") != base


def test_a_new_engine_version_changes_the_file(tmp_path: Path) -> None:
    old = PromptStore(tmp_path, "wav", None, FakeTools(), engine_tag="espeak-ng 1.51")
    new = PromptStore(tmp_path, "wav", None, FakeTools(), engine_tag="espeak-ng 1.52")
    assert old.text_file("en", "Hi.") != new.text_file("en", "Hi.")


def test_whitespace_and_control_characters_do_not_change_the_file(tmp_path: Path) -> None:
    store = make_store(tmp_path, FakeTools())
    assert store.text_file("en", "  Your order ") == store.text_file("en", "Your\x00 order")


def test_a_cached_prompt_does_not_run_the_tools_again(tmp_path: Path) -> None:
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    store.text_file("en", "Goodbye.")
    assert (tools.count("espeak-ng"), tools.count("ffmpeg")) == (1, 1)
    store.text_file("en", "Goodbye.")
    make_store(tmp_path, tools).text_file("en", "Goodbye.")
    assert (tools.count("espeak-ng"), tools.count("ffmpeg")) == (1, 1)


def test_text_goes_to_espeak_on_stdin_never_in_the_command(tmp_path: Path) -> None:
    tools = FakeTools()
    make_store(tmp_path, tools).text_file("en", "-w /etc/passwd; rm -rf /")
    argv, stdin = next(c for c in tools.calls if c[0][0] == "espeak-ng" and c[1])
    assert stdin == b"-w /etc/passwd; rm -rf /"
    assert not any("passwd" in a for a in argv)
    assert argv[:3] == ["espeak-ng", "-v", "en-us"]


def test_the_configured_voice_is_used_per_language(tmp_path: Path) -> None:
    tools = FakeTools()
    make_store(tmp_path, tools).text_file("zh", "请稍候。")
    argv, _ = next(c for c in tools.calls if c[0][0] == "espeak-ng" and c[1])
    assert argv[1:3] == ["-v", "cmn"]


def test_punctuation_only_text_becomes_a_short_pause_without_speech(tmp_path: Path) -> None:
    tools = FakeTools()
    path = make_store(tmp_path, tools).text_file("zh", "。")
    assert Path(path + ".wav").exists()
    assert tools.count("espeak-ng") == 0
    assert any("anullsrc=r=8000:cl=mono" in argv for argv, _ in tools.calls)


def test_the_file_appears_only_when_complete(tmp_path: Path) -> None:
    store = make_store(tmp_path, FakeTools())
    seen: list[bool] = []

    def watching(argv: Sequence[str], stdin: bytes | None = None) -> bytes:
        out = FakeTools()(argv, stdin)
        if argv[0] == "ffmpeg":  # the converter writes into a temporary folder, not the cache
            seen.append(Path(argv[-1]).parent.name.startswith(".tmp-"))
            seen.extend(p.suffix != ".wav" for p in (tmp_path / "cache").rglob("*")
                        if p.is_file() and ".tmp-" not in str(p))
        return out

    store._run = watching
    path = store.text_file("en", "Atomic.")
    assert seen and all(seen)
    assert Path(path + ".wav").exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp-")]


def test_a_failed_conversion_leaves_no_file_and_no_debris(tmp_path: Path) -> None:
    tools = FakeTools(missing="ffmpeg")
    store = make_store(tmp_path, tools)
    with pytest.raises(PromptError) as err:
        store.text_file("en", "Sorry, we did not hear a key press.")
    assert err.value.code == "tool_missing"
    message = str(err.value)
    assert message.startswith("en ") and "did not hear" in message and "ffmpeg" in message
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_a_missing_espeak_names_language_and_text(tmp_path: Path) -> None:
    store = PromptStore(tmp_path, "wav", None, FakeTools(missing="espeak-ng"))
    with pytest.raises(PromptError) as err:
        store.text_file("zh", "请稍候。")
    assert err.value.code == "tool_missing"
    assert err.value.details["lang"] == "zh" and "请稍候" in str(err.value)


def test_concurrent_requests_for_one_text_synthesise_once(tmp_path: Path) -> None:
    tools = FakeTools(delay=0.05)
    store = make_store(tmp_path, tools)
    paths: list[str] = []
    threads = [threading.Thread(target=lambda: paths.append(store.text_file("en", "Hold on.")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(paths) == 8
    assert tools.count("espeak-ng") == 1


@pytest.mark.parametrize(("lang", "text", "code"), [
    ("fr", "Bonjour.", "unknown_language"),
    ("en", "", "empty_text"),
    ("en", " \x00\x07\n ", "empty_text"),
    ("en", "x" * 2001, "text_too_long"),
])
def test_bad_prompt_input_is_rejected(tmp_path: Path, lang: str, text: str, code: str) -> None:
    tools = FakeTools()
    with pytest.raises(PromptError) as err:
        make_store(tmp_path, tools).text_file(lang, text)
    assert err.value.code == code
    assert tools.count("espeak-ng") == 0


@pytest.mark.parametrize(("fmt", "voices"), [("mp3", None), ("wav", {"en": "-x"}),
                                              ("wav", {"../en": "en-us"})])
def test_bad_settings_are_rejected(tmp_path: Path, fmt: str, voices: dict[str, str] | None) -> None:
    with pytest.raises(PromptError):
        PromptStore(tmp_path, fmt, voices, FakeTools())


def test_say_text_cleans_and_bounds_runtime_values(tmp_path: Path) -> None:
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    store.say_text("en", "Bei\x1b[31mjing\r\n" + "a" * 500)
    stdin = next(s for a, s in tools.calls if a[0] == "espeak-ng" and s)
    assert stdin is not None
    spoken = stdin.decode()
    assert len(spoken) == 200 and "\x1b" not in spoken and "\n" not in spoken
    assert spoken.startswith("Bei[31mjing a")


def test_say_text_shares_the_cache_with_fixed_prompts(tmp_path: Path) -> None:
    store = make_store(tmp_path, FakeTools())
    assert store.say_text("zh", "上海") == store.text_file("zh", "上海")


def test_a_recording_is_keyed_by_its_content(tmp_path: Path) -> None:
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    rec = tmp_path / "hello.mp3"
    rec.write_bytes(b"ID3 first take")
    first = store.recorded_file("zh", rec)
    assert store.recorded_file("zh", rec) == first
    assert tools.count("ffmpeg") == 1
    rec.write_bytes(b"ID3 second take, longer")
    assert store.recorded_file("zh", rec) != first
    assert tools.count("ffmpeg") == 2


def test_a_missing_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError) as err:
        make_store(tmp_path, FakeTools()).recorded_file("en", tmp_path / "nope.wav")
    assert err.value.code == "source_missing" and "nope.wav" in str(err.value)


def unique_texts(flow: Flow) -> set[tuple[str, str]]:
    return {(lang, part.text) for p in flow_prompts(flow) for lang in p.text
            for part in p.parts(lang) if isinstance(part, TextPart)}


def test_building_a_flow_makes_each_prompt_text_once_then_reuses_it(
        tmp_path: Path, demo_flow: Flow) -> None:
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    expected = len(unique_texts(demo_flow))
    cold = store.build_flow(demo_flow)
    assert (cold.built, cold.cached, cold.failed) == (expected, 0, 0)
    assert len(cold.files) == expected
    warm = store.build_flow(demo_flow)
    assert (warm.built, warm.cached, warm.failed) == (0, expected, 0)
    assert tools.count("espeak-ng") + tools.count("ffmpeg") > expected  # pauses skip espeak


def test_flow_prompts_include_retry_prompts_but_not_option_labels(demo_flow: Flow) -> None:
    texts = {t for _, t in unique_texts(demo_flow)}
    assert "Sorry, we did not hear a key press." in texts
    assert "Order status" not in texts


def test_a_failed_prompt_is_counted_and_the_rest_still_build(
        tmp_path: Path, demo_flow: Flow) -> None:
    report = make_store(tmp_path, FakeTools(fail_on="Goodbye")).build_flow(demo_flow)
    assert report.failed == 1 and report.built == len(unique_texts(demo_flow)) - 1
    assert "Goodbye" in report.errors[0]


def test_a_flow_recording_is_found_next_to_the_flow_file(tmp_path: Path, demo_flow: Flow) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "welcome_zh.mp3").write_bytes(b"ID3 recording")
    welcome = demo_flow.nodes["welcome"]
    assert isinstance(welcome, SayNode)
    with_audio = replace(welcome, prompt=Prompt(welcome.prompt.text,
                                                {"zh": "rec/welcome_zh.mp3"}))
    flow = replace(demo_flow, source=str(tmp_path / "demo.yaml"),
                   nodes={**demo_flow.nodes, "welcome": with_audio})
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    report = store.build_flow(flow)
    assert report.failed == 0 and report.built == len(unique_texts(flow)) + 1
    assert any(str(tmp_path / "rec" / "welcome_zh.mp3") in argv for argv, _ in tools.calls)
    rec = store.flow_audio_file(flow, "zh", "rec/welcome_zh.mp3")
    assert rec + ".wav" in report.files


def test_build_prompts_prints_a_summary(tmp_path: Path, demo_flow: Flow,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    store = PromptStore(tmp_path / "prompts", "gsm", None, FakeTools())
    report = build_prompts(store, {"demo_400": demo_flow})
    out = capsys.readouterr().out
    assert f"{report.built} built, 0 cached, 0 failed" in out
    assert all(f.endswith(".gsm") and f.startswith(str(tmp_path / "prompts")) for f in report.files)


def test_memoised_knows_only_files_made_or_found_lately(tmp_path: Path) -> None:
    tools = FakeTools()
    store = make_store(tmp_path, tools)
    assert store.memoised("text", "en", "Hello.") is None  # never asked: the caller asks
    path = store.text_file("en", "Hello.")
    assert store.memoised("text", "en", "Hello.") == path  # no hashing, stat or tools
    assert store.memoised("value", "en", "Hello.") is None  # say_text is another kind
    stale = make_store(tmp_path, tools, memo_ttl_s=-1.0)  # stale at once: look at the disk
    stale.text_file("en", "Hello.")
    assert stale.memoised("text", "en", "Hello.") is None


def test_the_memo_forgets_the_least_recently_used_entry_first() -> None:
    now = [0.0]
    memo = PromptMemo(3, ttl_s=30.0, clock=lambda: now[0])
    for name in "abc":
        memo.put(("text", "en", name), f"/p/{name}")
    assert memo.get(("text", "en", "a")) == "/p/a"  # a is now the most recently used
    memo.put(("text", "en", "d"), "/p/d")
    assert len(memo) == 3
    assert memo.get(("text", "en", "b")) is None  # b went first
    assert [memo.get(("text", "en", n)) for n in "acd"] == ["/p/a", "/p/c", "/p/d"]
    now[0] = 31.0
    assert memo.get(("text", "en", "a")) is None  # too old to trust: the disk decides
    assert len(memo) == 2


def test_the_store_memo_is_bounded_by_its_constructor(tmp_path: Path) -> None:
    store = make_store(tmp_path, FakeTools(), memo_size=2)
    paths = [store.text_file("en", f"Prompt {i}.") for i in range(3)]
    assert store.memoised("text", "en", "Prompt 0.") is None
    assert [store.memoised("text", "en", f"Prompt {i}.") for i in (1, 2)] == paths[1:]
    with pytest.raises(ValueError):
        PromptMemo(0)


def test_the_memo_stays_bounded_and_right_when_hammered_from_threads() -> None:
    bound = 200
    memo = PromptMemo(bound)
    wrong: list[tuple[str, str | None]] = []
    sizes: list[int] = []
    start = threading.Barrier(8)

    def writer(w: int) -> None:
        start.wait()
        for i in range(3000):
            key = ("text", "en", f"{w}-{i % 500}")
            memo.put(key, f"/p/{key[2]}")
            got = memo.get(key)  # just written: present unless 199 others came in between
            if got is not None and got != f"/p/{key[2]}":
                wrong.append((key[2], got))

    def reader() -> None:  # the reactor's side: reads only, never waits on I/O
        start.wait()
        for i in range(20000):
            key = ("text", "en", f"{i % 6}-{i % 500}")
            got = memo.get(key)
            if got is not None and got != f"/p/{key[2]}":
                wrong.append((key[2], got))
            if i % 1000 == 0:
                sizes.append(len(memo))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert wrong == []
    assert max(sizes) <= bound and len(memo) == bound
