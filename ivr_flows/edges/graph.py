"""Draw a flow as a picture (SVG or PNG) with Graphviz.

Each node is a box shaped and coloured by its kind; edges carry the key or outcome that
leads along them (``ivr_flows.core.model.successors``). Labels are Graphviz HTML-like labels
built here from escaped text, so prompt text may hold quotes, braces, ``<``/``>``,
backslashes or newlines without breaking the picture or injecting markup.

This is an edge module (it runs the ``dot`` program); the flow model stays pure.
"""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path
from typing import Final

import graphviz

from ivr_flows.core import model as m

FONT: Final = "Noto Sans CJK SC, DejaVu Sans, sans-serif"
PROMPT_WIDTH: Final = 28  # display columns per label line (a CJK character counts 2)
PROMPT_LINES: Final = 3
FORMATS: Final = {".svg": "svg", ".png": "png"}
_SAFE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# kind -> Graphviz node attributes
KIND_STYLE: Final[dict[str, dict[str, str]]] = {
    "menu": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "collect": {
        "shape": "box",
        "style": "rounded,filled,dashed",
        "fillcolor": "#ede9fe",
        "color": "#6d28d9",
    },
    "say": {"shape": "note", "style": "filled", "fillcolor": "#f3f4f6", "color": "#4b5563"},
    "action": {"shape": "component", "style": "filled", "fillcolor": "#fef3c7", "color": "#b45309"},
    "branch": {"shape": "diamond", "style": "filled", "fillcolor": "#fde68a", "color": "#92400e"},
    "hours": {"shape": "hexagon", "style": "filled", "fillcolor": "#fce7f3", "color": "#be185d"},
    "send_link": {"shape": "cds", "style": "filled", "fillcolor": "#e0e7ff", "color": "#4338ca"},
    "queue": {
        "shape": "box",
        "style": "filled,bold",
        "peripheries": "2",
        "fillcolor": "#dcfce7",
        "color": "#15803d",
    },
    "callback": {
        "shape": "box",
        "style": "filled,bold",
        "peripheries": "2",
        "fillcolor": "#ccfbf1",
        "color": "#0f766e",
    },
    "transfer": {
        "shape": "box",
        "style": "filled,bold",
        "peripheries": "2",
        "fillcolor": "#ffedd5",
        "color": "#c2410c",
    },
    "hangup": {
        "shape": "octagon",
        "style": "filled,bold",
        "fillcolor": "#fee2e2",
        "color": "#b91c1c",
    },
}


class GraphError(RuntimeError):
    """Graphviz could not draw the flow (``dot`` missing or failing)."""

    code = "graph_failed"


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _tokens(text: str, width: int) -> list[str]:
    """Words, with every wide (CJK) character and every over-long word split into characters."""
    out: list[str] = []
    for word in text.split(" "):
        if any(_width(c) == 2 for c in word) or sum(map(_width, word)) > width:
            out.extend(word)
        else:
            out.append(word)
        out.append(" ")
    return out[:-1]


def shorten(text: str, width: int = PROMPT_WIDTH, lines: int = PROMPT_LINES) -> list[str]:
    """Wrap text into at most ``lines`` lines of ``width`` display columns, with an ellipsis."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    out: list[str] = []
    line = ""
    for tok in _tokens(text, width):
        if sum(map(_width, line + tok)) <= width:
            line += tok
            continue
        out.append(line.rstrip())
        line = "" if tok == " " else tok
        if len(out) == lines:
            last = out[-1]
            while last and sum(map(_width, last)) + 1 > width:
                last = last[:-1]
            out[-1] = last.rstrip() + "…"
            return out
    if line.strip():
        out.append(line.rstrip())
    return out


def esc(text: str) -> str:
    """Text made safe for a Graphviz HTML-like label (entities, no control characters)."""
    return html.escape(_CONTROL.sub(" ", text), quote=True)


def _prompt_of(node: m.Node) -> m.Prompt | None:
    return getattr(node, "prompt", None)


def _detail(node: m.Node) -> str:
    match node:
        case m.CollectNode():
            return f"collect → {node.var} ({node.min_digits}-{node.max_digits} digits)"
        case m.ActionNode():
            return f"action: {node.action}"
        case m.BranchNode():
            return f"branch on {node.var}"
        case m.HoursNode():
            return f"hours: {node.schedule}"
        case m.QueueNode():
            return f"queue: {node.queue} (priority {node.priority})"
        case m.CallbackNode():
            return f"callback: {node.queue}"
        case m.TransferNode():
            return f"transfer to {node.to}"
        case m.SendLinkNode():
            return f"send link (resume at {node.resume})"
        case _:
            return node.kind


def node_label(node: m.Node, lang: str) -> str:
    """The HTML-like label of a node: bold id, its kind/detail, a short prompt."""
    rows = [
        f"<B>{esc(node.id)}</B>",
        f'<FONT POINT-SIZE="9" COLOR="#374151">{esc(_detail(node))}</FONT>',
    ]
    prompt = _prompt_of(node)
    if prompt is not None:
        text = prompt.text.get(lang) or next(iter(prompt.text.values()), "")
        rows.extend(f'<FONT POINT-SIZE="10">{esc(line)}</FONT>' for line in shorten(text))
    return "<" + "<BR/>".join(rows) + ">"


def _edge_label(node: m.Node, target: str, how: str, lang: str) -> str:
    text = how
    if isinstance(node, m.MenuNode):
        for opt in node.options:
            if opt.goto == target and opt.key == how:
                label = opt.label.get(lang) or next(iter(opt.label.values()), "")
                text = f"{how} {shorten(label, 16, 1)[0]}" if label else how
                break
    return f'<<FONT POINT-SIZE="9">{esc(text)}</FONT>>' if text else ""


def build_graph(flow: m.Flow, lang: str | None = None) -> graphviz.Digraph:
    """The Graphviz description of a flow (no rendering yet)."""
    lang = lang or flow.default_language
    names = {nid: nid if _SAFE_ID.match(nid) else f"n{i}" for i, nid in enumerate(flow.nodes)}
    title = flow.title.get(lang) or flow.name
    g = graphviz.Digraph(name=flow.name if _SAFE_ID.match(flow.name) else "flow", engine="dot")
    g.attr(
        rankdir="TB",
        fontname=FONT,
        labelloc="t",
        nodesep="0.3",
        ranksep="0.45",
        label=f'<<B>{esc(title)}</B> <FONT POINT-SIZE="10">({esc(flow.name)})</FONT>>',
    )
    g.attr("node", fontname=FONT, fontsize="11", margin="0.12,0.06")
    g.attr("edge", fontname=FONT, fontsize="9", color="#6b7280", arrowsize="0.7")
    g.node(
        "__start__",
        label="",
        shape="circle",
        style="filled",
        fillcolor="#111827",
        width="0.2",
        fixedsize="true",
        tooltip="start",
    )
    if flow.start in names:
        g.edge("__start__", names[flow.start])
    for nid, node in flow.nodes.items():
        g.node(
            names[nid],
            label=node_label(node, lang),
            tooltip=f"{names[nid]} ({node.kind})",
            id=f"node-{names[nid]}",
            **KIND_STYLE.get(node.kind, {}),
        )
    for nid, node in flow.nodes.items():
        for target, how in m.successors(node).items():
            if target not in names:
                continue  # only drawn for valid flows; a dangling goto has nothing to point at
            style = "dashed" if how in ("fallback", "error", "closed", "else") else "solid"
            g.edge(
                names[nid], names[target], label=_edge_label(node, target, how, lang), style=style
            )
    return g


def _render(flow: m.Flow, fmt: str) -> bytes:
    try:
        data: bytes = build_graph(flow).pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise GraphError("Graphviz 'dot' is not installed (Debian package graphviz)") from exc
    except graphviz.CalledProcessError as exc:
        raise GraphError(f"Graphviz failed to draw flow {flow.name!r}: {exc}") from exc
    return data


def render_flow_svg(flow: m.Flow) -> str:
    """The flow as SVG text."""
    return _render(flow, "svg").decode("utf-8")


def write_graph(flow: m.Flow, out_path: str | Path) -> Path:
    """Write the flow's picture; the format follows the suffix (.svg or .png)."""
    out = Path(out_path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: unknown picture format {out.suffix!r} (use .svg or .png)")
    data = _render(flow, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
