"""The AGI wire format, as pure functions: no sockets, no Twisted, no pyst2.

Reading: ``EnvReader`` collects the ``agi_*: value`` block that opens every AGI session;
``ReplyReader`` turns reply lines into typed ``Reply`` values, including the multi-line
``520-`` usage reply and the bare ``HANGUP`` line Asterisk sends when the caller hangs up.

Writing: one function per command we use. Every argument is validated or escaped here, so a
caller-controlled value (a caller ID name, a back-end answer, recognised speech) can never
become a second command. Asterisk's AGI argument parser (``res_agi.c: parse_args``) splits on
spaces and tabs, groups with double quotes and treats backslash as an escape for the next
character; a command is one line of at most 2047 bytes (``AGI_BUF_LEN``), longer lines are cut
and the rest read as another command. So: names and digit strings are whitelisted, free text
is quoted with ``\\`` and ``"`` escaped, control characters dropped and the length capped,
and a formatted line that would still be too long is refused with ``AgiArgumentError``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

MAX_LINE_BYTES = 2000  # Asterisk reads at most 2047 bytes per command line
MAX_VALUE_BYTES = 1024  # a SET VARIABLE value, after escaping
MAX_FILE_CHARS = 512
MAX_TIMEOUT_MS = 600_000
MAX_GET_DATA_DIGITS = 1024  # Asterisk's own limit

_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.+-]*|/[A-Za-z0-9_/.+-]+")
_DTMF = re.compile(r"[0-9*#]*")
_DIGITS = re.compile(r"[0-9*#]+")
_NUMBER = re.compile(r"-?[0-9]{1,15}")
_ALPHA = re.compile(r"[A-Za-z0-9.@_+-]+")
_VAR_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,79}")
_APP = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_APP_ARG = re.compile(r"[A-Za-z0-9_@/.:+=*#-]*")
_ENV_LINE = re.compile(r"(agi_[A-Za-z0-9_]+):\s?(.*)")
_REPLY_200 = re.compile(r"200 result=(-?[0-9*#A-Za-z]*)\s*(?:\(([^)]*)\))?\s*(?:endpos=(-?\d+))?")


class AgiArgumentError(ValueError):
    """A command argument cannot be made safe. ``code`` is stable, ``argument`` names it."""

    def __init__(self, code: str, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.code = code
        self.argument = argument


# ---------------------------------------------------------------- reading


class EnvReader:
    """Feed the opening lines of a session; ``done`` once the blank line arrives."""

    MAX_LINES = 200

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.done = False
        self._lines = 0

    def feed(self, line: str) -> bool:
        """Take one line (without its newline); True when the block is complete."""
        line = line.rstrip("\r\n")
        self._lines += 1
        if line.strip() == "" or self._lines > self.MAX_LINES:
            self.done = True
            return True
        m = _ENV_LINE.fullmatch(line)
        if m:
            self.env[m.group(1)] = m.group(2).strip()
        return False


def parse_env(lines: Iterable[str]) -> dict[str, str]:
    """The environment from an iterable of lines (stops at the first blank line)."""
    reader = EnvReader()
    for line in lines:
        if reader.feed(line):
            break
    return reader.env


ReplyKind = Literal["ok", "hangup", "dead", "invalid", "usage", "closed", "error"]


@dataclass(frozen=True)
class Reply:
    """One answer from Asterisk.

    ``kind``: ``ok`` (200), ``hangup`` (the bare HANGUP line), ``dead`` (511: the channel is
    gone), ``invalid`` (510), ``usage`` (520, ``text`` holds the usage), ``closed`` (the
    connection ended; made by a transport, never read from the wire), ``error`` (anything else).
    """

    kind: ReplyKind
    code: int = 0
    result: str = ""
    data: str = ""  # the parenthesised part: "timeout", "dtmf", ...
    endpos: int | None = None
    text: str = ""

    @property
    def gone(self) -> bool:
        """The caller is gone: a hang-up line, a dead channel, a closed connection or -1."""
        return self.kind in ("hangup", "dead", "closed") or (self.kind == "ok"
                                                             and self.result == "-1")

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def digit(self) -> str:
        """The key of a STREAM FILE / WAIT FOR DIGIT / SAY reply ("" when none was pressed)."""
        if self.kind != "ok" or not self.result.isdigit():
            return ""
        code = int(self.result)
        return chr(code) if 0 < code < 128 and chr(code) in "0123456789*#ABCD" else ""

    @classmethod
    def closed(cls, why: str = "connection closed") -> Reply:
        return cls("closed", text=why)


class ReplyReader:
    """Feed reply lines one by one; ``feed`` returns a ``Reply`` when one is complete."""

    MAX_USAGE_LINES = 200

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    def feed(self, line: str) -> Reply | None:
        line = line.rstrip("\r\n")
        if self._usage is not None:
            if line.startswith("520 ") or line == "520" or \
                    len(self._usage) >= self.MAX_USAGE_LINES:
                usage, self._usage = self._usage, None
                return Reply("usage", 520, text="\n".join(usage))
            self._usage.append(line)
            return None
        if line.startswith("520-"):
            self._usage = [line[4:]]
            return None
        return parse_reply(line)


def parse_reply(line: str) -> Reply:
    """One single-line reply (a ``520-`` usage block needs ``ReplyReader``)."""
    line = line.strip()
    if line == "HANGUP":
        return Reply("hangup")
    if line.startswith("200"):
        m = _REPLY_200.match(line)
        if not m:
            return Reply("error", 200, text=line)
        endpos = int(m.group(3)) if m.group(3) is not None else None
        return Reply("ok", 200, m.group(1), m.group(2) or "", endpos)
    code_text, _, rest = line.partition(" ")
    code = int(code_text) if code_text.isdigit() else 0
    kind: ReplyKind = {510: "invalid", 511: "dead", 520: "usage"}.get(code, "error")  # type: ignore[assignment]
    return Reply(kind, code, text=rest)


# ---------------------------------------------------------------- writing


def _check_line(line: str) -> str:
    if len(line.encode("utf-8")) > MAX_LINE_BYTES:
        raise AgiArgumentError("line_too_long", "command", f"longer than {MAX_LINE_BYTES} bytes")
    if any(ch in line for ch in "\r\n\0"):
        raise AgiArgumentError("line_break", "command", "contains a line break")
    return line


def check_file(name: str) -> str:
    """A sound file name as Asterisk wants it (no extension); no spaces, quotes or ``&``."""
    if not name or len(name) > MAX_FILE_CHARS or not _FILE.fullmatch(name) \
            or ".." in name.split("/"):
        raise AgiArgumentError("bad_file", "file", f"not a safe sound file name: {name[:80]!r}")
    return name


def check_escape(digits: str) -> str:
    if not _DTMF.fullmatch(digits):
        raise AgiArgumentError("bad_escape", "escape_digits", f"not DTMF keys: {digits[:20]!r}")
    return "".join(dict.fromkeys(digits))  # each key once, order kept


def _timeout(ms: int, argument: str) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int) or not -1 <= ms <= MAX_TIMEOUT_MS:
        raise AgiArgumentError("bad_timeout", argument, f"not a timeout in ms: {ms!r}")
    return ms


def check_var_name(name: str) -> str:
    if not _VAR_NAME.fullmatch(name):
        raise AgiArgumentError("bad_variable", "name", f"not a variable name [A-Z0-9_]: "
                               f"{name[:40]!r}")
    return name


def clean_text(value: str | bytes, max_bytes: int = MAX_VALUE_BYTES) -> str:
    """Text made safe for one quoted AGI argument, *before* escaping: valid UTF-8, NFC, no
    control characters (C0, C1, DEL, line/paragraph separators), cut so the escaped form fits
    in ``max_bytes``."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    value = unicodedata.normalize("NFC", value)
    kept = []
    size = 0
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in "\x85\u2028\u2029":
            continue
        cost = len(ch.encode("utf-8")) + (1 if ch in '"\\' else 0)
        if size + cost > max_bytes:
            break
        kept.append(ch)
        size += cost
    return "".join(kept)


def quote(value: str | bytes, max_bytes: int = MAX_VALUE_BYTES) -> str:
    """``"..."`` with ``\\`` and ``"`` escaped, after ``clean_text``."""
    text = clean_text(value, max_bytes)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(arg: str) -> str:
    """Undo ``quote`` the way Asterisk's parser does (for tests and recorded traffic)."""
    if len(arg) < 2 or arg[0] != '"' or arg[-1] != '"':
        raise ValueError("not a quoted argument")
    out: list[str] = []
    escaped = False
    for ch in arg[1:-1]:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise ValueError("unescaped quote inside a quoted argument")
        else:
            out.append(ch)
    return "".join(out)


def split_args(line: str) -> list[str]:
    """Split a command line like ``res_agi.c: parse_args`` does (quotes, backslash escapes)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return args


def answer() -> str:
    return "ANSWER"


def hangup() -> str:
    return "HANGUP"


def stream_file(name: str, escape_digits: str = "") -> str:
    return _check_line(f'STREAM FILE {check_file(name)} "{check_escape(escape_digits)}"')


def get_data(file: str, timeout_ms: int, max_digits: int) -> str:
    if isinstance(max_digits, bool) or not 1 <= max_digits <= MAX_GET_DATA_DIGITS:
        raise AgiArgumentError("bad_max_digits", "max_digits", f"1..{MAX_GET_DATA_DIGITS}")
    return _check_line(f"GET DATA {check_file(file)} {_timeout(timeout_ms, 'timeout_ms')} "
                       f"{max_digits}")


def wait_for_digit(timeout_ms: int) -> str:
    return f"WAIT FOR DIGIT {_timeout(timeout_ms, 'timeout_ms')}"


def say_digits(digits: str, escape_digits: str = "") -> str:
    if not _DIGITS.fullmatch(digits) or len(digits) > 64:
        raise AgiArgumentError("bad_digits", "digits", "not 1 to 64 DTMF digits")
    return f'SAY DIGITS {digits} "{check_escape(escape_digits)}"'


def say_number(number: int | str, escape_digits: str = "") -> str:
    text = str(number)
    if isinstance(number, bool) or not _NUMBER.fullmatch(text):
        raise AgiArgumentError("bad_number", "number", "not an integer of up to 15 digits")
    return f'SAY NUMBER {int(text)} "{check_escape(escape_digits)}"'


def say_alpha(text: str, escape_digits: str = "") -> str:
    if not _ALPHA.fullmatch(text) or len(text) > 64:
        raise AgiArgumentError("bad_alpha", "text", "not 1 to 64 letters/digits")
    return f'SAY ALPHA {text} "{check_escape(escape_digits)}"'


def set_variable(name: str, value: str | bytes) -> str:
    return _check_line(f"SET VARIABLE {check_var_name(name)} {quote(value)}")


def verbose(message: str | bytes, level: int = 1) -> str:
    if isinstance(level, bool) or level not in (1, 2, 3, 4):
        raise AgiArgumentError("bad_level", "level", "1 to 4")
    return _check_line(f"VERBOSE {quote(message, 512)} {level}")


def exec_(app: str, args: Sequence[str] = ()) -> str:
    """``EXEC app "a,b,c"``: the application name and each argument are whitelisted (no
    commas, pipes, ``&``, ``$``, braces or quotes inside an argument)."""
    if not _APP.fullmatch(app):
        raise AgiArgumentError("bad_application", "app", f"not an application name: {app[:40]!r}")
    for arg in args:
        if not _APP_ARG.fullmatch(arg) or len(arg) > 256:
            raise AgiArgumentError("bad_application_argument", "args",
                                   f"unsafe application argument: {arg[:40]!r}")
    return _check_line(f'EXEC {app} "{",".join(args)}"')


def get_variable(name: str) -> str:
    """``GET VARIABLE NAME``: the reply is ``200 result=1 (value)`` or ``200 result=0``."""
    return f"GET VARIABLE {check_var_name(name)}"
