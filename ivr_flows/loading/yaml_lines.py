"""YAML to plain Python, remembering the line of every value and refusing duplicate keys.

PyYAML's ``safe_load`` silently keeps the last of two equal keys and forgets where things
were; flow authors need "file:line: node 'x': ..." messages, so we compose the node tree and
convert it ourselves.
"""

from __future__ import annotations

from typing import Any

import yaml

from ivr_flows.core.errors import FlowError
from ivr_flows.core.located import Located


def load_located(text: str, source: str) -> tuple[Located | None, list[FlowError]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
