"""Round-trip YAML editing: change one key, keep comments, order, quoting and unknown keys."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

from ktx.errors import ConfigError

_MISSING = object()


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never wrap long values
    return yaml


_local = threading.local()


def safe_load(text: str) -> Any:
    """Plain dicts and lists (no round-trip data), for files that are only read. One reader per thread:
    building one costs about as much as parsing a small file, and a reader is not thread-safe."""
    reader = getattr(_local, "safe", None)
    if reader is None:
        from ruamel.yaml import YAML

        reader = _local.safe = YAML(typ="safe")
    return reader.load(text)


def yaml_problem(exc: Exception) -> str:
    """One line for a YAML syntax error: the problem and where it is."""
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{exc.problem or exc.context or 'invalid YAML'}{where}"
    return str(exc).splitlines()[0] if str(exc) else "invalid YAML"


def parse_yaml(text: str, *, label: str = "ktx.yaml") -> Any:
    """Parse YAML text into ruamel's commented containers; syntax errors become one clear line."""
    from ruamel.yaml.error import YAMLError

    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise ConfigError(f"{label} parse error: {yaml_problem(exc)}") from None


def dump_yaml(document: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()


def new_document() -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap()


def get_path(document: Any, path: Sequence[str], default: Any = None) -> Any:
    node = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def set_path(document: Any, path: Sequence[str], value: Any) -> None:
    """Set `path` to `value`, creating intermediate mappings; existing siblings keep their place."""
    from ruamel.yaml.comments import CommentedMap

    if not path:
        raise ValueError("empty path")
    node = document
    _block_style(node)
    for key in path[:-1]:
        child = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        if not isinstance(child, dict):
            child = CommentedMap()
            node[key] = child
        node = child
        _block_style(node)
    node[path[-1]] = _to_commented(value)


def _block_style(node: Any) -> None:
    # An empty `{}` written by hand stays flow style when filled; block style reads better in review.
    fa = getattr(node, "fa", None)
    if fa is not None and fa.flow_style():
        fa.set_block_style()


def delete_path(document: Any, path: Sequence[str]) -> bool:
    parent = get_path(document, path[:-1]) if len(path) > 1 else document
    if isinstance(parent, dict) and path[-1] in parent:
        del parent[path[-1]]
        return True
    return False


def _to_commented(value: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _to_commented(item)
        return out
    if isinstance(value, list | tuple) and not isinstance(value, CommentedSeq):
        return CommentedSeq(_to_commented(v) for v in value)
    return value
