"""Hostile or broken flow files are refused with file:line, in bounded time and memory: YAML
aliases (the "billion laughs" bomb, a self-referencing anchor), nesting too deep for the
recursive composer, files too large. Never a RecursionError or MemoryError."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from ivr_flows.core.errors import FlowInvalid
from ivr_flows.loading.loader import MAX_FILE_BYTES, load_flow_file, load_flows_dir, parse_flow
from ivr_flows.loading.yaml_lines import MAX_DEPTH

SHIPPED = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows"


def alias_bomb(levels: int = 6, width: int = 9) -> str:
    """``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ...: ``width ** levels`` values once
    expanded (kept to a few hundred thousand here, so that a regression fails the test
    instead of exhausting the machine; the probe's 600-byte file had 9 levels)."""
    names = [chr(ord("a") + i) for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * width)}]"]
    for prev, name in pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * width)}]")
    return "flow: bomb\n" + "\n".join(lines) + "\n"


def refusal(text: str, source: str = "hostile.yaml") -> tuple[int, str, str]:
    """(line, code, message) of the one error ``text`` is refused with."""
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, source)
    assert len(info.value.errors) == 1, info.value.errors
    error = info.value.errors[0]
    assert str(error).startswith(f"{source}:{error.line}: ")
    return error.line, error.code, error.message


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    line, code, message = refusal(alias_bomb())
    assert (line, code) == (2, "alias")
    assert "anchors and aliases" in message


def test_a_self_referencing_anchor_is_refused_not_a_recursion_error() -> None:
    assert refusal("flow: loop\nnodes: &n {a: *n}\n")[:2] == (2, "alias")
    assert refusal("flow: loop\nnodes:\n  a: &n [*n]\n")[:2] == (3, "alias")


def test_an_alias_alone_is_refused_where_it_is_used() -> None:
    # no anchor before it: PyYAML would say "undefined alias"; the flow rule comes first
    assert refusal("flow: x\nstart: *nowhere\n")[:2] == (2, "alias")


@pytest.mark.parametrize("text, line", [
    ("[" * 900, 1),  # flow style, not even closed
    ("flow: deep\nnodes: " + "{a: " * 900 + "x" + "}" * 900 + "\n", 2),
    ("flow: deep\nnodes:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(900)),
     MAX_DEPTH + 1),
    ("- " * 900 + "x\n", 1),
])
def test_nesting_deeper_than_the_bound_is_refused_with_its_line(text: str, line: int) -> None:
    got_line, code, message = refusal(text)
    assert (got_line, code) == (line, "depth")
    assert f"more than {MAX_DEPTH} levels deep" in message


def test_nesting_within_the_bound_is_not_a_depth_error() -> None:
    text = "flow: deep\nextra: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "deep.yaml")
    assert "depth" not in {e.code for e in info.value.errors}  # other problems, not this one


def test_the_shipped_flows_use_no_anchors_and_stay_within_the_bounds() -> None:
    assert load_flows_dir(SHIPPED)


def test_a_file_over_the_size_bound_is_refused_unparsed(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"flow: big\n" + b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(FlowInvalid) as info:
        load_flow_file(big)
    assert [(e.line, e.code) for e in info.value.errors] == [(1, "size")]
    assert str(info.value).startswith(f"{big}:1: ")


def test_a_hostile_file_in_a_folder_is_one_located_error_among_the_others(
        tmp_path: Path) -> None:
    (tmp_path / "demo_400.yaml").write_text((SHIPPED / "demo_400.yaml").read_text("utf-8"),
                                            encoding="utf-8")
    (tmp_path / "bomb.yaml").write_text(alias_bomb(), encoding="utf-8")
    (tmp_path / "deep.yaml").write_text("[" * 900, encoding="utf-8")
    with pytest.raises(FlowInvalid) as info:
        load_flows_dir(tmp_path)
    assert sorted((Path(e.source).name, e.code) for e in info.value.errors) == [
        ("bomb.yaml", "alias"), ("deep.yaml", "depth")]
