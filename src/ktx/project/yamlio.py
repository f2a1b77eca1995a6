"""Round-trip YAML editing: change one key, keep comments, order, quoting and unknown keys."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from ktx.errors import ConfigError

_MISSING = object()

# Limits for every YAML/JSON document ktx reads: a hostile file gets a message naming it, never a hang.
# ktx.yaml: a real one is a few KB; the cap keeps every command's parse of a hostile one well under a second.
MAX_CONFIG_CHARS = 256 << 10
MAX_DOCUMENT_CHARS = 16 << 20  # a semantic-layer file or a query file
MAX_FRONTMATTER_CHARS = 64 << 10  # a wiki page's frontmatter
MAX_DEPTH = 64
MAX_VALUES = 2_000_000  # values after alias expansion (a "billion laughs" file expands past this)


class DocumentLimitError(YAMLError):
    """A document is too large, too deep, or expands (through aliases) past what ktx reads."""


def check_document(text: str, max_chars: int) -> None:
    """Size and nesting depth, checked before the parser sees the text: a deep `[[[…` is slow to parse and then
    recurses, and deep block nesting (`- - - - …` on one line, or ever deeper indentation) crashes the C parser
    outright (SIGSEGV) — a server must never die from a file in the project."""
    if len(text) > max_chars:
        raise DocumentLimitError(f"the file is {len(text) / (1 << 20):.1f} MB; ktx reads at most {_mb(max_chars)}")
    if _block_depth(text) > MAX_DEPTH * 4:
        raise DocumentLimitError(f"it is nested more than {MAX_DEPTH} levels deep")
    if text.count("[") + text.count("{") > MAX_DEPTH:
        depth = deepest = 0
        for char in text:
            if char in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif char in "]}":
                depth = max(depth - 1, 0)
        # Brackets inside strings count too: a generous bound, still far below what recursion allows.
        if deepest > MAX_DEPTH * 4:
            raise DocumentLimitError(f"it is nested more than {MAX_DEPTH} levels deep")


_BLOCK_INDICATORS = re.compile(r"(?:[-?:](?:[ \t]+|$))+")
_INDICATOR = re.compile(r"[-?:](?=[ \t]|$)")


def _block_depth(text: str) -> int:
    """An upper bound on block nesting: the open indentation levels of each line plus the block indicators that
    open a level at its start (`- - - x`, `? - x`). Generous — lines inside block scalars count too — and linear."""
    if "\n" not in text and len(text) < 1000:
        return 0
    deepest = 0
    open_indents: list[int] = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        while open_indents and open_indents[-1] >= indent:
            open_indents.pop()
        open_indents.append(indent)
        prefix = _BLOCK_INDICATORS.match(body)
        inline = len(_INDICATOR.findall(prefix.group())) if prefix else 0
        deepest = max(deepest, len(open_indents) + inline)
    return deepest


def check_shape(data: Any) -> None:
    """Size after alias expansion and depth, computed once per distinct container (a "billion laughs" file
    is measured without being expanded) and without recursion; a container that contains itself is refused."""
    sizes: dict[int, tuple[int, int]] = {}  # id → (values when expanded, depth)
    open_now: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if finished:
            size, depth = 1, 0
            for child in children:
                child_size, child_depth = sizes.get(id(child), (1, -1)) if isinstance(child, dict | list) else (1, -1)
                size += child_size
                depth = max(depth, child_depth + 1)
            open_now.discard(key)
            sizes[key] = (size, depth)
            if size > MAX_VALUES:
                raise DocumentLimitError(f"it expands to more than {MAX_VALUES:,} values (YAML aliases?)")
            if depth > MAX_DEPTH:
                raise DocumentLimitError(f"it is nested more than {MAX_DEPTH} levels deep")
            continue
        if key in sizes:
            continue
        if key in open_now:
            raise DocumentLimitError("it contains itself (a recursive YAML alias)")
        open_now.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, dict | list) and id(c) not in sizes)


def _mb(chars: int) -> str:
    return f"{chars >> 20} MB" if chars >= 1 << 20 else f"{chars >> 10} KB"


def _bounded_load(load: Any, text: str, max_chars: int) -> Any:
    check_document(text, max_chars)
    try:
        data = load(text)
    except RecursionError:
        raise DocumentLimitError(f"it is nested more than {MAX_DEPTH} levels deep") from None
    check_shape(data)
    return data


def load_json(text: str, max_chars: int = MAX_DOCUMENT_CHARS) -> Any:
    """json.loads with the same limits; raises DocumentLimitError or json.JSONDecodeError."""
    import json

    return _bounded_load(json.loads, text, max_chars)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never wrap long values
    return yaml


_local = threading.local()


def safe_load(text: str, max_chars: int = MAX_DOCUMENT_CHARS) -> Any:
    """Plain dicts and lists (no round-trip data), for files that are only read. One reader per thread:
    building one costs about as much as parsing a small file, and a reader is not thread-safe.
    Size, depth and alias expansion are limited (DocumentLimitError, a YAMLError)."""
    reader = getattr(_local, "safe", None)
    if reader is None:
        from ruamel.yaml import YAML

        reader = _local.safe = YAML(typ="safe")
    return _bounded_load(reader.load, text, max_chars)


def safe_load_all(text: str, max_chars: int = MAX_DOCUMENT_CHARS) -> list[Any]:
    """Every document of a multi-document YAML stream (`---` separated: MetricFlow writes one `semantic_model:`
    or `metric:` per document), plain data, same limits."""
    from ruamel.yaml import YAML

    def load(source: str) -> list[Any]:
        return list(YAML(typ="safe").load_all(source))

    documents = _bounded_load(load, text, max_chars)
    return [d for d in documents if d is not None]


def safe_load_last_wins(text: str, max_chars: int = MAX_DOCUMENT_CHARS) -> tuple[Any, list[tuple[str, int]]]:
    """safe_load for files whose tools accept a repeated mapping key and keep its last value (dbt reads YAML with
    PyYAML, which does): returns the data and each repeated key with the line it repeats on. Same limits."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    repeated: list[tuple[str, int]] = []

    def last_wins(node: Any) -> None:
        if isinstance(node, MappingNode):
            last: dict[str, int] = {}
            for i, (key, _value) in enumerate(node.value):
                name = getattr(key, "value", None)
                if isinstance(name, str):
                    if name in last:
                        repeated.append((name, key.start_mark.line + 1))
                    last[name] = i
            kept = set(last.values())
            node.value = [pair for i, pair in enumerate(node.value) if not isinstance(pair[0].value, str) or i in kept]
            for _key, value in node.value:
                last_wins(value)
        elif isinstance(node, SequenceNode):
            for value in node.value:
                last_wins(value)

    def load(source: str) -> Any:
        reader = YAML(typ="safe", pure=True)
        node = reader.compose(source)
        if node is None:
            return None
        last_wins(node)
        return reader.constructor.construct_document(node)

    return _bounded_load(load, text, max_chars), repeated


_FILE_CACHE_MIN_CHARS = 64 << 10
_FILE_CACHE_MAX_CHARS = 48 << 20  # text size of the documents kept (their parse is several times larger)
_file_cache: dict[bytes, tuple[int, Any]] = {}  # content digest → (text size, parsed document)
_file_cache_lock = threading.Lock()


def _digest(text: str) -> bytes:
    import hashlib

    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).digest()


def _keep(digest: bytes, text: str, data: Any) -> None:
    with _file_cache_lock:
        while _file_cache and sum(size for size, _ in _file_cache.values()) + len(text) > _FILE_CACHE_MAX_CHARS:
            del _file_cache[next(iter(_file_cache))]  # the oldest entry
        _file_cache[digest] = (len(text), data)


def remember_parsed(text: str, data: Any) -> None:
    """Tell the file cache what `text` parses to, when ktx itself just wrote `text` from `data`: the ingest that
    writes a 1,000-table shard then checks the layer it makes without parsing its own output again. The writer's
    round trip is tested (`tests/unit/test_scan_names_and_manifest.py`)."""
    if len(text) >= _FILE_CACHE_MIN_CHARS:
        _keep(_digest(text), text, data)


def safe_load_file(path: Path) -> Any:
    """safe_load of a file that is only read, with large documents shared within the process by content: ingest
    checks a 1000-table manifest shard in a temporary copy of the layer, then search reads the written file —
    seconds of parsing each, for the same text. Callers must not mutate the result."""
    text = path.read_text(encoding="utf-8")
    if len(text) < _FILE_CACHE_MIN_CHARS:
        return safe_load(text)
    digest = _digest(text)
    with _file_cache_lock:
        if digest in _file_cache:
            return _file_cache[digest][1]
    data = safe_load(text)
    _keep(digest, text, data)
    return data


def roundtrip_load(text: str, max_chars: int) -> Any:
    """ruamel's commented containers (comments and order kept), with the same limits as safe_load."""
    return _bounded_load(_yaml().load, text, max_chars)


def yaml_problem(exc: Exception) -> str:
    """One line for a YAML syntax error: the problem and where it is."""
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{exc.problem or exc.context or 'invalid YAML'}{where}"
    return str(exc).splitlines()[0] if str(exc) else "invalid YAML"


def parse_yaml(text: str, *, label: str = "ktx.yaml") -> Any:
    """Parse YAML text into ruamel's commented containers (for editing it in place, comments kept); syntax errors
    become one clear line."""
    return _config_document(roundtrip_load, text, label)


def read_config_yaml(text: str, *, label: str = "ktx.yaml") -> Any:
    """Parse YAML text into plain data, with the C parser (every command reads ktx.yaml; only edits need the
    round-trip loader, which is several times slower); the same limits and messages as `parse_yaml`."""
    return _config_document(safe_load, text, label)


def _config_document(load: Any, text: str, label: str) -> Any:
    try:
        return load(text, MAX_CONFIG_CHARS)
    except DocumentLimitError as exc:
        raise ConfigError(f"{label}: {exc}") from None
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
