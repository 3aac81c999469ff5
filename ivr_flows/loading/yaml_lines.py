"""YAML to plain Python, remembering the line of every value and refusing duplicate keys.

PyYAML's ``safe_load`` silently keeps the last of two equal keys and forgets where things
were; flow authors need "file:line: node 'x': ..." messages, so we compose the node tree and
convert it ourselves.

Composing is bounded before anything is expanded or recursed into: anchors and aliases
(``&a`` / ``*a``) are refused where they appear (a flow never needs them, and an alias is how
a 600-byte "billion laughs" file expands into gigabytes or refers to itself), and so is nesting
deeper than ``MAX_DEPTH`` (PyYAML's composer and our conversion recurse once per level). Both
are located errors like any other, never a ``RecursionError`` or ``MemoryError``.
"""

from __future__ import annotations

from typing import Any

import yaml

from ivr_flows.core.errors import FlowError
from ivr_flows.core.located import Located

MAX_DEPTH = 50  # a flow file nests about 8 levels (nodes > node > options > option > ...)


class _Refused(yaml.YAMLError):
    """Something a flow file may not contain, found while composing: where, what, and a code."""

    def __init__(self, event: yaml.Event, message: str, code: str) -> None:
        super().__init__(message)
        mark = event.start_mark
        self.line = mark.line + 1 if mark is not None else 1
        self.message = message
        self.code = code


class _FlowYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases and deep nesting as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(event, "anchors and aliases (&name, *name) are not allowed in a "
                           "flow file; write the value out where it is used", "alias")
        if self._depth >= MAX_DEPTH:
            raise _Refused(event, f"lists and mappings nest more than {MAX_DEPTH} levels deep "
                           "here; a flow file needs far fewer", "depth")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_located(text: str, source: str) -> tuple[Located | None, list[FlowError]]:
    try:
        root = yaml.compose(text, Loader=_FlowYamlLoader)
    except _Refused as exc:
        return None, [FlowError(source, exc.line, None, exc.message, exc.code)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [FlowError(source, line, None, f"not valid YAML: {problem}", "yaml")]
    if root is None:
        return None, [FlowError(source, 1, None, "the file is empty", "empty")]
    errors: list[FlowError] = []
    lines: dict[tuple[Any, ...], int] = {}
    constructor = yaml.SafeLoader("")

    def convert(node: yaml.Node, path: tuple[Any, ...]) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | bool | float):
                    errors.append(FlowError(source, key_node.start_mark.line + 1, None,
                                            f"a key must be plain text, got {key!r}", "key"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    node_id = path[1] if len(path) >= 2 and path[0] == "nodes" else None
                    if path == ("nodes",):
                        node_id = key
                    errors.append(FlowError(source, key_node.start_mark.line + 1, node_id,
                                            f"duplicate key '{key}'", "duplicate_key"))
                    continue
                out[key] = convert(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(v, (*path, i)) for i, v in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    try:
        value = convert(root, ())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [FlowError(source, line, None, f"not valid YAML: {exc}", "yaml")]
    return Located(value, lines), errors
