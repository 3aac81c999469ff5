"""Flow pictures: every node drawn, labels escaped, Chinese text kept."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr_flows.core.model import Flow
from ivr_flows.edges.graph import build_graph, render_flow_svg, shorten, write_graph
from ivr_flows.loading.loader import parse_flow

TRICKY = r"""
flow: tricky
languages: [en]
start: main
defaults: {fallback: bye, invalid: Sorry., no_input: Sorry.}
nodes:
  main:
    kind: menu
    prompt: "<script>alert(1)</script> say \"hi\" { x } & }{ back\\slash\nnew line"
    options:
      - {key: "1", label: "<b>one</b> \"quoted\"", goto: bye}
      - {key: "*", label: "{ star } & co", goto: main}
  bye:
    kind: hangup
    prompt: "<>"
"""


def svg_text(svg: str) -> str:
    """Every piece of text the SVG shows, joined (after XML parsing, i.e. unescaped)."""
    root = ET.fromstring(svg.encode("utf-8"))
    return "\n".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.fixture(scope="module")
def demo_svg(demo_flow: Flow) -> str:
    return render_flow_svg(demo_flow)


def test_demo_flow_renders_as_svg_with_every_node_id(demo_flow: Flow, demo_svg: str) -> None:
    assert demo_svg.lstrip().startswith("<?xml")
    shown = svg_text(demo_svg)
    for node_id in demo_flow.nodes:
        assert node_id in shown


def test_chinese_prompt_text_is_in_the_picture(demo_svg: str) -> None:
    shown = svg_text(demo_svg)
    assert "优选商城客服热线" in shown  # the title, in the default language (zh)
    assert "您好，欢迎致电优选商城客服热" in shown  # the welcome prompt, wrapped
    assert "查询订单" in shown  # an option label on an edge


def test_edges_carry_keys_and_outcomes(demo_svg: str) -> None:
    shown = svg_text(demo_svg)
    for label in ("not_found", "fallback", "open", "closed", "=shipped", "else", "sent"):
        assert label in shown


def test_tricky_labels_are_escaped_and_still_valid_svg() -> None:
    flow = parse_flow(TRICKY, "tricky.yaml")
    svg = render_flow_svg(flow)
    assert "<script>" not in svg  # escaped, never live markup
    shown = svg_text(svg)  # the XML parses, so nothing broke out of its label
    assert "<script>alert(1)</script>" in shown
    assert '"hi"' in shown and "{ x } & }{" in shown
    assert "<b>one</b>" in shown
    assert "{ star } & co" in shown
    assert "<>" in shown


def test_long_prompts_are_wrapped_and_cut() -> None:
    lines = shorten("您好" * 40, width=10, lines=2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert shorten("short text") == ["short text"]
    assert shorten("") == []


def test_node_kinds_get_their_own_shapes(demo_flow: Flow) -> None:
    source = build_graph(demo_flow).source
    assert re.search(r"hours_check \[.*shape=hexagon", source)
    assert re.search(r"order_branch \[.*shape=diamond", source)
    assert re.search(r"goodbye \[.*shape=octagon", source)


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_write_graph_picks_the_format_from_the_suffix(
    demo_flow: Flow, tmp_path: Path, suffix: str, magic: bytes
) -> None:
    out = write_graph(demo_flow, tmp_path / f"demo{suffix}")
    assert out.read_bytes().startswith(magic)


def test_write_graph_refuses_an_unknown_format(demo_flow: Flow, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown picture format"):
        write_graph(demo_flow, tmp_path / "demo.gif")
