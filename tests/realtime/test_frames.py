"""Frames, fields, the token bucket, Origin and Cookie parsing: pure, no sockets."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.realtime.core.frames import (
    MAX_SAFE_INT,
    FrameError,
    TokenBucket,
    encode_frame,
    error_frame,
    id_field,
    int_field,
    parse_frame,
    text_field,
)
from cti.realtime.core.handshake import normalize_origin, normalize_origins, parse_cookies

MAX = 16384


def code_of(payload: bytes, **kw: Any) -> str:
    with pytest.raises(FrameError) as caught:
        parse_frame(payload, max_bytes=kw.pop("max_bytes", MAX), **kw)
    return caught.value.code


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


# --- parse_frame / encode_frame -------------------------------------------------------------


def test_a_hello_frame_parses_to_its_object() -> None:
    payload = '{"t":"hello","role":"customer","visitor":null,"resume":{"c1":3},"lang":"zh"}'
    assert parse_frame(payload.encode(), max_bytes=MAX) == {
        "t": "hello",
        "role": "customer",
        "visitor": None,
        "resume": {"c1": 3},
        "lang": "zh",
    }


def test_encoding_is_compact_utf8_json_and_parses_back() -> None:
    frame = {"t": "msg", "text": "你好 👋", "seq": 1, "file": None}
    payload = encode_frame(frame)
    assert payload == '{"t":"msg","text":"你好 👋","seq":1,"file":null}'.encode()
    assert parse_frame(payload, max_bytes=MAX) == frame


def test_encoding_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode_frame({"t": "x", "n": float("nan")})
    with pytest.raises(TypeError):
        encode_frame({"t": "x", "o": object()})


def test_a_frame_over_the_size_limit_is_too_big_whatever_it_holds() -> None:
    assert code_of(b"x" * (MAX + 1)) == "frame_too_big"
    body = b'{"t":"send","text":"' + b"a" * (MAX - 22) + b'"}'
    assert len(body) == MAX
    assert parse_frame(body, max_bytes=MAX)["t"] == "send"
    assert code_of(body + b" ") == "frame_too_big"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe{}",  # not UTF-8
        b'{"t":"send"',  # not JSON
        b"",
        b"[1,2]",  # not an object
        b'"hello"',
        b"null",
        b'{"role":"agent"}',  # no "t"
        b'{"t":1}',
        b'{"t":""}',
        b'{"t":"Hello"}',
        b'{"t":"' + b"a" * 33 + b'"}',
        b'{"t":"hello\\n"}',
        b'{"t":"x","n":NaN}',  # not JSON, though Python's decoder would take it
        b'{"t":"x","n":Infinity}',
        b'{"t":"x","n":1e999}',  # a float that overflows
        b'{"t":"x","s":"\\ud800"}',  # a lone surrogate
        b'{"t":"x","\\udc00":1}',
        b'{"t":"x","s":"unterminated}',
        b'{"t":"x","n":' + b"9" * 5000 + b"}",  # more digits than int() takes
    ],
)
def test_malformed_frames_are_bad_frames(payload: bytes) -> None:
    assert code_of(payload) == "bad_frame"


def test_a_surrogate_pair_is_one_character_not_an_error() -> None:
    assert parse_frame(b'{"t":"x","s":"\\ud83d\\ude00"}', max_bytes=MAX)["s"] == "😀"


def test_nesting_is_bounded_at_four_and_brackets_in_strings_do_not_count() -> None:
    four = b'{"t":"x","a":{"b":[{"c":1}]}}'
    assert parse_frame(four, max_bytes=MAX)["a"] == {"b": [{"c": 1}]}
    assert code_of(b'{"t":"x","a":{"b":[{"c":[]}]}}') == "bad_frame"
    assert code_of(four, max_depth=3) == "bad_frame"
    quoted = b'{"t":"x","s":"[[[[{{{{\\"[[[["}'
    assert parse_frame(quoted, max_bytes=MAX)["s"] == '[[[[{{{{"[[[['


def test_nesting_far_past_the_recursion_limit_is_a_bad_frame_not_a_crash() -> None:
    assert code_of(b"[" * MAX, max_bytes=MAX) == "bad_frame"
    assert code_of(b'{"t":"x","a":' * 1000 + b"1" + b"}" * 1000, max_bytes=MAX) == "bad_frame"


@pytest.mark.parametrize("payload", [b'"\\"' * 5000, b'"\\\\' * 5000, b'"' * MAX, b"[]" * 8000])
def test_hostile_payloads_are_answered_quickly(payload: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(FrameError):
        parse_frame(payload[:MAX], max_bytes=MAX)
    assert time.perf_counter() - started < 0.1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_frame_or_a_frame_error(payload: bytes) -> None:
    try:
        frame = parse_frame(payload, max_bytes=200)
    except FrameError as error:
        assert error.code in {"frame_too_big", "bad_frame"}
    else:
        assert isinstance(frame, dict) and isinstance(frame["t"], str)


@settings(max_examples=400)
@given(st.text(alphabet='{}[]":,\\ tx01.e-nul', max_size=120))
def test_json_looking_text_gives_a_frame_or_a_frame_error(text: str) -> None:
    try:
        frame = parse_frame(text.encode(), max_bytes=MAX)
    except FrameError as error:
        assert error.code == "bad_frame"
    else:
        assert depth(frame) <= 4


@settings(max_examples=200)
@given(st.text(alphabet='[]{}"\\ ,:1u', max_size=3000), st.integers(min_value=1, max_value=5))
def test_bracket_soup_inside_a_frame_never_gets_past_the_depth_bound(
    soup: str, max_depth: int
) -> None:
    payload = ('{"t":"x","v":[' + "[" * len(soup) + soup + "]}").encode()
    try:
        frame = parse_frame(payload, max_bytes=1 << 20, max_depth=max_depth)
    except FrameError as error:  # never a RecursionError
        assert error.code == "bad_frame"
    else:
        assert depth(frame) <= max_depth


@settings(max_examples=300)
@given(json_values, st.integers(min_value=1, max_value=6))
def test_any_json_object_is_accepted_exactly_when_within_the_depth_bound(
    value: Any, max_depth: int
) -> None:
    frame = {**value, "t": "x"} if isinstance(value, dict) else {"t": "x", "v": value}
    payload = json.dumps(frame, ensure_ascii=False).encode()
    try:
        parsed = parse_frame(payload, max_bytes=1 << 20, max_depth=max_depth)
    except FrameError as error:
        assert error.code == "bad_frame"
        assert depth(frame) > max_depth
    else:
        assert depth(frame) <= max_depth
        assert parsed == frame
        assert parse_frame(encode_frame(parsed), max_bytes=1 << 20, max_depth=max_depth) == frame


@given(json_values, st.integers(min_value=10, max_value=200))
def test_nothing_over_the_size_bound_is_accepted(value: Any, max_bytes: int) -> None:
    payload = json.dumps({"t": "x", "v": value}).encode()
    try:
        parse_frame(payload, max_bytes=max_bytes, max_depth=100)
    except FrameError as error:
        assert (error.code == "frame_too_big") == (len(payload) > max_bytes)
    else:
        assert len(payload) <= max_bytes


def test_a_frame_error_becomes_an_error_frame_with_its_ref() -> None:
    error = FrameError("bad_field", "cid: required")
    assert error.to_frame() == {
        "t": "error",
        "code": "bad_field",
        "message": "cid: required",
        "ref": None,
    }
    assert error.with_ref("m-1").to_frame()["ref"] == "m-1"
    assert error_frame("internal", "x", "r") == {
        "t": "error",
        "code": "internal",
        "message": "x",
        "ref": "r",
    }


# --- fields ---------------------------------------------------------------------------------


def field_error(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(FrameError) as caught:
        fn(*args, **kw)
    assert caught.value.code == "bad_field"
    return caught.value.message


def test_text_field_takes_text_up_to_its_length_in_characters() -> None:
    frame = {"text": "你好\n世界\t!", "name": "Ann", "empty": "", "null": None, "n": 5}
    assert text_field(frame, "text", 7) == "你好\n世界\t!"
    assert "at most 6" in field_error(text_field, frame, "text", 6)
    assert text_field(frame, "empty", 10) == ""
    assert "at least 1" in field_error(text_field, frame, "empty", 10, min_len=1)
    assert "required" in field_error(text_field, frame, "missing", 10)
    assert "required" in field_error(text_field, frame, "null", 10)
    assert text_field(frame, "missing", 10, required=False) is None
    assert text_field(frame, "null", 10, False) is None
    assert "string" in field_error(text_field, frame, "n", 10)


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\x7f", "\ud800", "a\x0cb"])
def test_text_field_refuses_control_characters_and_lone_surrogates(value: str) -> None:
    field_error(text_field, {"text": value}, "text", 100)


def test_a_single_line_text_field_refuses_line_breaks_and_tabs() -> None:
    for value in ("a\nb", "a\rb", "a\tb"):
        assert text_field({"v": value}, "v", 10) == value
        field_error(text_field, {"v": value}, "v", 10, multiline=False)


def test_int_field_takes_whole_numbers_in_range_only() -> None:
    frame = {"seq": 3, "neg": -1, "flag": True, "real": 3.0, "text": "3", "big": MAX_SAFE_INT + 1}
    assert int_field(frame, "seq") == 3
    assert int_field(frame, "seq", 0, 10**9) == 3
    assert "from 4 to 9" in field_error(int_field, frame, "seq", 4, 9)
    assert int_field(frame, "neg", -5) == -1
    for name in ("neg", "big"):
        field_error(int_field, frame, name)
    for name in ("flag", "real", "text"):
        assert "integer" in field_error(int_field, frame, name)
    assert "required" in field_error(int_field, frame, "missing")
    assert int_field(frame, "missing", required=False) is None


@pytest.mark.parametrize("value", ["c1", "conv:2024-01.x_y", "A" * 64, "0"])
def test_id_field_takes_identifiers(value: str) -> None:
    assert id_field({"id": value}, "id") == value


@pytest.mark.parametrize("value", ["", "A" * 65, "a b", "a/b", "abc\n", "é", 7, None, ["a"]])
def test_id_field_refuses_anything_else(value: Any) -> None:
    field_error(id_field, {"id": value}, "id")


def test_an_optional_id_may_be_absent_or_null() -> None:
    assert id_field({"conv": None}, "conv", required=False) is None
    assert id_field({}, "conv", False) is None


# --- token bucket ---------------------------------------------------------------------------


def test_the_bucket_gives_a_burst_then_the_sustained_rate() -> None:
    bucket = TokenBucket(rate=10, burst=30)
    assert [bucket.take(100.0) for _ in range(31)] == [True] * 30 + [False]
    assert bucket.take(100.05) is False  # half a token
    assert bucket.take(100.1) is True
    assert bucket.take(100.1) is False
    assert sum(bucket.take(200.0) for _ in range(40)) == 30  # refills to the burst, no more


def test_a_clock_stepping_back_refills_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(50.0) is True
    assert bucket.take(10.0) is False
    assert bucket.take(50.5) is False
    assert bucket.take(51.0) is True


def test_a_bucket_needs_a_positive_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 5)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)


@given(
    st.floats(min_value=0.1, max_value=50),
    st.integers(min_value=1, max_value=40),
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200),
)
def test_the_bucket_never_gives_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[float]
) -> None:
    bucket, now, taken = TokenBucket(rate, burst), 1000.0, 0
    start = now
    for step in steps:
        now += step
        taken += bucket.take(now)
    assert taken <= burst + rate * (now - start) + 1e-6


# --- handshake: Origin and Cookie -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Hotline.Example", "https://hotline.example:443"),
        ("https://hotline.example:443", "https://hotline.example:443"),
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
        ("http://localhost", "http://localhost:80"),
        ("http://[::1]:8090", "http://[::1]:8090"),
        ("https://hotline.example/", "https://hotline.example:443"),
        (None, None),
        ("", None),
        ("null", None),
        ("file://", None),
        ("ftp://hotline.example", None),
        ("https://hotline.example/path", None),
        ("https://user@hotline.example", None),
        ("https://hotline.example:99999", None),
        ("https://hotline.example:0", None),
        ("https://hotline.example?x=1", None),
        ("https://hotline.example\nX: y", None),
    ],
)
def test_origins_are_normalized_or_refused(value: str | None, expected: str | None) -> None:
    assert normalize_origin(value) == expected


def test_a_malformed_configured_origin_is_a_configuration_error() -> None:
    assert normalize_origins(["https://a.example", "https://a.example:443"]) == {
        "https://a.example:443"
    }
    with pytest.raises(ValueError, match="not an origin"):
        normalize_origins(["a.example"])


def test_cookies_are_parsed_first_name_winning() -> None:
    header = 'hotline_desk=abc.def; theme="dark"; hotline_desk=second; junk; =x; a=b=c'
    assert parse_cookies(header) == {"hotline_desk": "abc.def", "theme": "dark", "a": "b=c"}
    assert parse_cookies("a=1, b=2") == {"a": "1", "b": "2"}  # two Cookie headers joined
    assert parse_cookies(None) == {} == parse_cookies("")


@given(st.text(max_size=200))
def test_any_cookie_header_parses_to_a_bounded_dict(header: str) -> None:
    cookies = parse_cookies(header)
    assert len(cookies) <= 64
    assert all(";" not in k + v and "," not in k + v for k, v in cookies.items())
