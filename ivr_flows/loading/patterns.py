"""Is a collect node's ``pattern`` safe to run? Python's ``re`` backtracks, and the pattern is
matched against every input on the reactor thread: ``(0*)*1`` takes seconds on 25 zeros.

The check is syntactic and conservative (it reads the pattern text, not ``re``'s private
parser), for a pattern that already compiles:

- a group repeated more than once (``*``, ``+``, ``{2,}``, ``{3}``...) may not contain a
  variable quantifier (``*``, ``+``, ``?``, ``{m,n}``) or an alternation (``|``): those are
  the nested quantifiers and overlapping alternatives that backtrack exponentially;
- at most ``MAX_VARIABLE_QUANTIFIERS`` variable quantifiers in all (``[0-9]*`` eight times
  in a row is polynomial, but 32 digits already take a third of a second);
- at most ``MAX_PATTERN_CHARS`` characters, and no verbose mode (``(?x)`` changes what the
  characters mean).

DTMF patterns are short (``^[0-9]{6}$``, ``^1[3-9][0-9]{9}$``): none of this limits them. The
input is bounded too: the interpreter matches only digit strings within the node's
``max_digits`` (at most 32).
"""

from __future__ import annotations

import re

MAX_PATTERN_CHARS = 200
MAX_VARIABLE_QUANTIFIERS = 5
_BRACES = re.compile(r"\{(\d*)(,\d*)?\}")
_UNBOUNDED = 1 << 30


def _class_end(p: str, i: int) -> int:
    """Index just after the character class that opens at ``p[i] == '['``."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":  # a ']' first is a literal
        j += 1
    while j < len(p):
        if p[j] == "\\":
            j += 2
        elif p[j] == "]":
            return j + 1
        else:
            j += 1
    return j


def _quantifier(p: str, i: int) -> tuple[int, int, int] | None:
    """(min, max, index after it) of the quantifier at ``p[i]``, or None if there is none."""
    c = p[i] if i < len(p) else ""
    if c in ("*", "+", "?"):
        lo, hi, end = {"*": 0, "+": 1, "?": 0}[c], (1 if c == "?" else _UNBOUNDED), i + 1
    elif c == "{" and (m := _BRACES.match(p, i)) and m.group(0) != "{}":
        lo = int(m.group(1) or 0)
        if m.group(2) is None:
            hi = lo
        else:
            hi = int(m.group(2)[1:]) if m.group(2)[1:] else _UNBOUNDED
        end = m.end()
    else:
        return None
    if end < len(p) and p[end] in ("?", "+"):  # lazy or possessive: the same repetition
        end += 1
    return lo, hi, end


def _group_start(p: str, i: int) -> tuple[int, bool]:
    """At ``p[i] == '('``: (index of the group's content, whether it opens a group at all);
    ``(?#...)``, ``(?P=name)`` and ``(?i)`` open none and are skipped whole."""
    if not p.startswith("(?", i):
        return i + 1, True
    rest = p[i + 2:i + 3]
    if rest in (":", "=", "!", ">"):
        return i + 3, True
    if p.startswith("(?<=", i) or p.startswith("(?<!", i):
        return i + 4, True
    if p.startswith("(?P<", i) or p.startswith("(?<", i):
        return p.index(">", i) + 1, True
    if p.startswith("(?P=", i) or rest == "#":
        return p.index(")", i) + 1, False
    if rest == "(":  # a conditional (?(name)yes|no): the condition, then the branches
        return p.index(")", i + 3) + 1, True
    j = i + 2  # inline flags: (?i) sets them for the whole pattern, (?i:...) for a group
    while j < len(p) and p[j] not in (":", ")"):
        j += 1
    return (j + 1, True) if p[j:j + 1] == ":" else (j + 1, False)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` (one that compiles) may backtrack without bound, or None if it is safe."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is {len(pattern)} characters long (at most {MAX_PATTERN_CHARS})"
    if re.compile(pattern).flags & re.VERBOSE:
        return "uses verbose mode (?x), which is not supported in a pattern"
    # One entry per open group: does its content hold a variable quantifier or a '|'?
    ambiguous = [False]
    variable = 0
    after_group: bool | None = None  # the atom just read: None, or a group (is it ambiguous?)
    i = 0
    while i < len(pattern):
        c = pattern[i]
        quant = _quantifier(pattern, i)
        if quant is not None:
            lo, hi, i = quant
            if after_group and hi > 1:
                return (f"repeats a group that itself repeats or has alternatives "
                        f"(at {pattern[:i]!r}): this backtracks exponentially; write it "
                        "with a character class, e.g. [0-9]* instead of ([0-9]+)*")
            if lo != hi:
                variable += 1
                ambiguous[-1] = True
            after_group = None
            continue
        after_group = None
        if c == "\\":
            i += 2
        elif c == "[":
            i = _class_end(pattern, i)
        elif c == "(":
            i, opens = _group_start(pattern, i)
            if opens:
                ambiguous.append(False)
        elif c == ")" and len(ambiguous) > 1:
            inner = ambiguous.pop()
            ambiguous[-1] = ambiguous[-1] or inner
            after_group = inner
            i += 1
        else:
            if c == "|":
                ambiguous[-1] = True
            i += 1
    if variable > MAX_VARIABLE_QUANTIFIERS:
        return (f"has {variable} variable quantifiers (*, +, ?, {{m,n}}); at most "
                f"{MAX_VARIABLE_QUANTIFIERS}, as each multiplies the backtracking")
    return None
