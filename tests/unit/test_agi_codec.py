"""The AGI codec: environment and replies as Asterisk 22 sends them; commands that can never
carry a second command, whatever the value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.agi_codec import AgiArgumentError, Reply, ReplyReader

ENV = """agi_network: yes
agi_network_script: demo_400
agi_request: agi://127.0.0.1:4573/demo_400
agi_channel: PJSIP/caller-00000001
agi_language: en
agi_type: PJSIP
agi_uniqueid: 1718000000.1
agi_version: 22.10.0
agi_callerid: 13800138000
agi_calleridname: Zhang: "San"
agi_dnid: 4008001234
agi_arg_1:

200 result=0
""".splitlines()


def test_environment_stops_at_the_blank_line_and_keeps_colons_in_values() -> None:
    env = agi.parse_env(ENV)
    assert env["agi_network_script"] == "demo_400"
    assert env["agi_calleridname"] == 'Zhang: "San"'
    assert env["agi_arg_1"] == ""
    assert "200 result" not in " ".join(env)


def test_environment_reader_reports_completion_once_blank_line_arrives() -> None:
    reader = agi.EnvReader()
    assert not reader.feed("agi_callerid: 1001\r")
    assert reader.feed("")
    assert reader.done and reader.env == {"agi_callerid": "1001"}


@pytest.mark.parametrize("line, kind, result, data, endpos", [
    ("200 result=1234", "ok", "1234", "", None),
    ("200 result= (timeout)", "ok", "", "timeout", None),
    ("200 result=12 (timeout)", "ok", "12", "timeout", None),
    ("200 result=49 endpos=8160", "ok", "49", "", 8160),
    ("200 result=0 endpos=16000", "ok", "0", "", 16000),
    ("200 result=-1", "ok", "-1", "", None),
    ("200 result=1", "ok", "1", "", None),
])
def test_success_replies_are_parsed(line: str, kind: str, result: str, data: str,
                                    endpos: int | None) -> None:
    reply = agi.parse_reply(line)
    assert (reply.kind, reply.code, reply.result, reply.data, reply.endpos) == \
        (kind, 200, result, data, endpos)


def test_stream_file_interrupted_by_a_key_reports_that_key() -> None:
    assert agi.parse_reply("200 result=49 endpos=8160").digit == "1"
    assert agi.parse_reply("200 result=35 endpos=100").digit == "#"
    assert agi.parse_reply("200 result=0 endpos=16000").digit == ""
    assert agi.parse_reply("200 result=-1").digit == ""


@pytest.mark.parametrize("line, kind, code", [
    ("510 Invalid or unknown command", "invalid", 510),
    ("511 Command Not Permitted on a dead channel or intercept routine", "dead", 511),
    ("HANGUP", "hangup", 0),
    ("999 what", "error", 999),
    ("garbage", "error", 0),
])
def test_failure_replies_are_parsed(line: str, kind: str, code: int) -> None:
    reply = agi.parse_reply(line)
    assert (reply.kind, reply.code) == (kind, code)


@pytest.mark.parametrize("line, gone", [
    ("200 result=-1", True), ("HANGUP", True),
    ("511 Command Not Permitted on a dead channel or intercept routine", True),
    ("200 result=0", False), ("510 Invalid or unknown command", False),
])
def test_every_form_of_hang_up_means_the_caller_is_gone(line: str, gone: bool) -> None:
    assert agi.parse_reply(line).gone is gone
    assert Reply.closed().gone


def test_usage_reply_spans_lines_until_the_520_end_line() -> None:
    reader = ReplyReader()
    assert reader.feed("520-Invalid command syntax.  Proper usage follows:") is None
    assert reader.feed(" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]") is None
    reply = reader.feed("520 End of proper usage.")
    assert reply is not None and reply.kind == "usage" and "GET DATA" in reply.text
    assert reader.feed("200 result=1") == Reply("ok", 200, "1")


def test_commands_are_formatted_as_asterisk_expects() -> None:
    assert agi.stream_file("demo-congrats", "0123456789") == \
        'STREAM FILE demo-congrats "0123456789"'
    assert agi.stream_file("/var/p/tts/en/ab12", "") == 'STREAM FILE /var/p/tts/en/ab12 ""'
    assert agi.get_data("beep", 5000, 4) == "GET DATA beep 5000 4"
    assert agi.wait_for_digit(3000) == "WAIT FOR DIGIT 3000"
    assert agi.say_digits("12345678", "1*") == 'SAY DIGITS 12345678 "1*"'
    assert agi.say_number(42) == 'SAY NUMBER 42 ""'
    assert agi.say_alpha("AB12") == 'SAY ALPHA AB12 ""'
    assert agi.set_variable("HOTLINE_DONE", "1") == 'SET VARIABLE HOTLINE_DONE "1"'
    assert agi.exec_("Dial", ["PJSIP/agent1001", "30"]) == 'EXEC Dial "PJSIP/agent1001,30"'
    assert agi.verbose("hi", 3) == 'VERBOSE "hi" 3'
    assert agi.answer() == "ANSWER" and agi.hangup() == "HANGUP"


def test_escape_digits_are_deduplicated() -> None:
    assert agi.stream_file("x", "1121") == 'STREAM FILE x "12"'


@pytest.mark.parametrize("name", [
    "", "a b", 'a"b', "a&b", "a\nb", "../etc/passwd", "/var/../etc/x", "a;b", "${X}",
    "x" * 600, "文件",
])
def test_unsafe_file_names_are_refused(name: str) -> None:
    with pytest.raises(AgiArgumentError) as err:
        agi.stream_file(name)
    assert err.value.code == "bad_file"


@pytest.mark.parametrize("call", [
    lambda: agi.stream_file("x", '1"'),
    lambda: agi.say_digits("12a"),
    lambda: agi.say_digits(""),
    lambda: agi.say_number("1.5"),
    lambda: agi.say_alpha("a b"),
    lambda: agi.set_variable("lower", "x"),
    lambda: agi.set_variable("A B", "x"),
    lambda: agi.set_variable("X\nHANGUP", "x"),
    lambda: agi.get_data("beep", -5, 4),
    lambda: agi.get_data("beep", 5000, 0),
    lambda: agi.wait_for_digit(10**9),
    lambda: agi.exec_("Dial", ["PJSIP/1&PJSIP/2"]),
    lambda: agi.exec_("Dial", ["a,b"]),
    lambda: agi.exec_("Dial", ["${EVIL}"]),
    lambda: agi.exec_("Dial App", []),
    lambda: agi.verbose("x", 9),
])
def test_unsafe_arguments_raise_a_clear_error(call: object) -> None:
    with pytest.raises(AgiArgumentError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("value, spoken", [
    ('say "hi"', 'say "hi"'),
    ("back\\slash", "back\\slash"),
    ("a\nHANGUP\n", "aHANGUP"),
    ("a\r\nEXEC Dial PJSIP/x", "aEXEC Dial PJSIP/x"),
    ("nul\x00byte", "nulbyte"),
    ("c1\x85\x9bchars", "c1chars"),
    ("line\u2028sep", "linesep"),
    ("${CHANNEL} , | & ;", "${CHANNEL} , | & ;"),
    ("张三", "张三"),
])
def test_set_variable_value_is_one_quoted_argument_that_round_trips(value: str,
                                                                    spoken: str) -> None:
    line = agi.set_variable("HOTLINE_X", value)
    assert "\n" not in line and "\r" not in line
    assert agi.split_args(line) == ["SET", "VARIABLE", "HOTLINE_X", spoken]


def test_invalid_utf8_is_replaced_not_passed_through() -> None:
    line = agi.set_variable("HOTLINE_X", b"ok\xff\xfe\n200")
    assert agi.split_args(line)[3] == "ok\ufffd\ufffd200"
    surrogate = agi.set_variable("HOTLINE_X", "a\udc80b")
    assert surrogate.encode("utf-8")  # encodable: no lone surrogate left


def test_long_values_are_capped_below_asterisks_line_buffer() -> None:
    line = agi.set_variable("HOTLINE_X", "x" * 8192)
    assert len(line.encode()) <= agi.MAX_LINE_BYTES
    quotes = agi.set_variable("HOTLINE_X", '"' * 8192)
    assert len(quotes.encode()) <= agi.MAX_LINE_BYTES
    assert set(agi.split_args(quotes)[3]) == {'"'}
    wide = agi.set_variable("HOTLINE_X", "张" * 4000)
    assert len(wide.encode()) <= agi.MAX_LINE_BYTES


@settings(max_examples=400)
@given(st.text(max_size=3000))
def test_any_value_makes_exactly_one_line_with_the_cleaned_value_recoverable(value: str) -> None:
    line = agi.set_variable("HOTLINE_VALUE", value)
    assert len(line.splitlines()) == 1 and not line.endswith(("\n", "\r"))
    assert len(line.encode("utf-8")) <= agi.MAX_LINE_BYTES
    args = agi.split_args(line)
    assert args[:3] == ["SET", "VARIABLE", "HOTLINE_VALUE"] and len(args) == 4
    assert args[3] == agi.clean_text(value)
    assert agi.unquote(line.split(" ", 3)[3]) == args[3]


@given(st.binary(max_size=2000))
def test_any_bytes_make_exactly_one_line(value: bytes) -> None:
    line = agi.set_variable("HOTLINE_VALUE", value)
    assert len(line.splitlines()) == 1
    assert len(agi.split_args(line)) == 4


@given(st.text(max_size=200))
def test_any_text_is_either_a_safe_file_name_or_refused(name: str) -> None:
    try:
        line = agi.stream_file(name, "1")
    except AgiArgumentError:
        return
    assert agi.split_args(line) == ["STREAM", "FILE", name, "1"]
    assert "&" not in name and len(line.splitlines()) == 1
