"""Graph checks on a parsed flow: gotos, reachability, loops without input, references,
reserved action names."""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows.core import model as m
from ivr_flows.core.errors import FlowError
from ivr_flows.core.located import Located

# Variables every call or touch session has before the flow sets any.
BUILTIN_VARS = frozenset({"caller", "did", "lang", "channel"})

# Names a flow's action may not have, and why: each already means something to the
# interpreter's effects or to the renderers that run them. An ``Act`` is only ever one of the
# flow's own actions, and a renderer must never be able to mistake one for something else.
RESERVED_ACTIONS: Mapping[str, str] = {
    "send_link": "texting a link is the send_link node (the SendLink effect), not an action",
    "prompts": "the voice renderer's prompt synthesis goes by this name",
    "recogniser": "the speech menus' recogniser set-up goes by this name",
}


def _produced_vars(flow: m.Flow) -> set[str]:
    out = set(BUILTIN_VARS)
    for spec in flow.actions.values():
        out.update(spec.result)
    for node in flow.nodes.values():
        if isinstance(node, m.CollectNode):
            out.add(node.var)
        if isinstance(node, m.MenuNode):
            for opt in node.options:
                out.update(opt.set)
    return out


def _prompts(node: m.Node) -> list[tuple[str, m.Prompt]]:
    found: list[tuple[str, m.Prompt]] = []
    prompt = getattr(node, "prompt", None)
    if isinstance(prompt, m.Prompt):
        found.append(("prompt", prompt))
    if node.screen is not None:
        found.append(("screen", node.screen))
    retry = getattr(node, "retry", None)
    if isinstance(retry, m.Retry):
        found += [("invalid", retry.invalid), ("no_input", retry.no_input)]
    return found


def _placeholders(template: str) -> set[str]:
    return {p.name for p in m.parse_template(template) if isinstance(p, m.VarPart)}


def _edges_without_input(node: m.Node) -> list[str]:
    """Where a node goes without the caller doing anything (a link's resume is not a move)."""
    if node.kind in m.INPUT_KINDS:
        return []
    targets = m.successors(node)
    if isinstance(node, m.SendLinkNode):
        targets.pop(node.resume, None)
        for t in (node.next, node.on_error):
            targets.setdefault(t, "")
    return list(targets)


def _input_free_cycles(flow: m.Flow) -> list[list[str]]:
    graph = {nid: [t for t in _edges_without_input(n) if t in flow.nodes]
             for nid, n in flow.nodes.items()}
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    cycles: list[list[str]] = []
    for root in graph:
        if color[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = []
        while stack:
            nid, i = stack.pop()
            if i == 0:
                color[nid] = grey
                trail.append(nid)
            if i < len(graph[nid]):
                stack.append((nid, i + 1))
                nxt = graph[nid][i]
                if color[nxt] == grey:
                    cycles.append([*trail[trail.index(nxt):], nxt])
                elif color[nxt] == white:
                    stack.append((nxt, 0))
            else:
                color[nid] = black
                trail.pop()
    return cycles


def validate(flow: m.Flow, doc: Located, declared: frozenset[str] = frozenset()) -> list[FlowError]:
    """Graph checks. ``declared``: node ids in the file, including ones that failed to parse
    (their own error is already reported; pointing at them is not a second error)."""
    errors: list[FlowError] = []
    exists = set(flow.nodes) | set(declared)
    src = flow.source

    def err(node: str | None, path: tuple[object, ...], msg: str, code: str) -> None:
        errors.append(FlowError(src, doc.line(*path), node, msg, code))

    if flow.start and flow.start not in exists:
        err(None, ("start",), f"start node {flow.start!r} does not exist", "goto")

    for name in flow.actions:
        if name in RESERVED_ACTIONS:
            err(None, ("actions", name), f"action name {name!r} is reserved "
                f"({RESERVED_ACTIONS[name]}); give the action another name", "reserved")

    produced = _produced_vars(flow)
    for nid, node in flow.nodes.items():
        path = ("nodes", nid)
        for target, how in m.successors(node).items():
            if target and target not in exists:
                label = f" ({how})" if how else ""
                err(nid, path, f"goes to {target!r}{label}, which is not a node", "goto")
        if isinstance(node, m.ActionNode) and node.action in RESERVED_ACTIONS:
            err(nid, (*path, "action"), f"uses the reserved action name {node.action!r} "
                f"({RESERVED_ACTIONS[node.action]})", "reserved")
        elif isinstance(node, m.ActionNode) and node.action and node.action not in flow.actions:
            err(nid, (*path, "action"), f"unknown action {node.action!r} "
                f"(declared: {', '.join(sorted(flow.actions)) or 'none'})", "action")
        if isinstance(node, m.HoursNode) and node.schedule and node.schedule not in flow.schedules:
            err(nid, (*path, "schedule"), f"unknown schedule {node.schedule!r}", "schedule")
        used: set[str] = set()
        for _what, prompt in _prompts(node):
            for text in prompt.text.values():
                used |= _placeholders(text)
        if isinstance(node, m.ActionNode):
            for a in node.args.values():
                used |= _placeholders(a)
        if isinstance(node, m.QueueNode):
            for a in node.attributes.values():
                used |= _placeholders(a)
        if isinstance(node, m.BranchNode) and node.var:
            used.add(node.var)
        if isinstance(node, m.CallbackNode):
            used.add(node.number_var)
        for var in sorted(used - produced):
            err(nid, path, f"uses variable {var!r}, which nothing in the flow sets", "variable")

    for name, spec in flow.actions.items():
        for var in sorted(_placeholders(spec.url) - produced):
            err(None, ("actions", name, "url"),
                f"action {name!r} url uses variable {var!r}, which nothing sets", "variable")

    reachable: set[str] = set()
    todo = [flow.start] if flow.start in flow.nodes else []
    while todo:
        nid = todo.pop()
        if nid in reachable:
            continue
        reachable.add(nid)
        todo.extend(t for t in m.successors(flow.nodes[nid]) if t in flow.nodes)
    if flow.start in flow.nodes and not set(declared) - set(flow.nodes):
        for nid in flow.nodes:
            if nid not in reachable:
                err(nid, ("nodes", nid), "is unreachable from the start node", "unreachable")

    for cycle in _input_free_cycles(flow):
        err(cycle[0], ("nodes", cycle[0]),
            "loops without waiting for the caller: " + " -> ".join(cycle), "loop")
    return errors
