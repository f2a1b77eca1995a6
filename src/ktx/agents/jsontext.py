"""Set and delete one key in a JSON file's text without touching the rest of it.

Agent config files (`.mcp.json`, `~/.claude.json`, `.cursor/mcp.json`, Claude Desktop's config) belong to the user
and are often committed: re-serialising them would re-indent every line. ktx edits the text instead — one member
inserted first in its object, with the file's own indentation, and on removal exactly that member cut out again —
so install followed by remove gives back the file byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


class JsonTextError(ValueError):
    pass


@dataclass(frozen=True)
class Member:
    key: str
    start: int  # the key's opening quote
    value_start: int
    value_end: int  # one past the value


@dataclass(frozen=True)
class ObjectSpan:
    start: int  # the '{'
    end: int  # one past the '}'
    members: tuple[Member, ...]


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _value_end(text: str, pos: int) -> int:
    """One past the JSON value starting at pos (which is not whitespace)."""
    if pos >= len(text):
        raise JsonTextError("unexpected end of text")
    char = text[pos]
    if char == "{":
        return parse_object(text, pos).end
    if char == "[":
        pos = _skip_ws(text, pos + 1)
        if text.startswith("]", pos):
            return pos + 1
        while True:
            pos = _skip_ws(text, _value_end(text, pos))
            if text.startswith("]", pos):
                return pos + 1
            if not text.startswith(",", pos):
                raise JsonTextError(f"expected ',' or ']' at offset {pos}")
            pos = _skip_ws(text, pos + 1)
    match = _STRING.match(text, pos) if char == '"' else _SCALAR.match(text, pos)
    if not match:
        raise JsonTextError(f"unexpected character at offset {pos}")
    return match.end()


def parse_object(text: str, pos: int) -> ObjectSpan:
    if not text.startswith("{", pos):
        raise JsonTextError(f"expected an object at offset {pos}")
    start, members = pos, []
    pos = _skip_ws(text, pos + 1)
    if text.startswith("}", pos):
        return ObjectSpan(start, pos + 1, ())
    while True:
        key_match = _STRING.match(text, pos)
        if not key_match:
            raise JsonTextError(f"expected a key at offset {pos}")
        colon = _skip_ws(text, key_match.end())
        if not text.startswith(":", colon):
            raise JsonTextError(f"expected ':' at offset {colon}")
        value_start = _skip_ws(text, colon + 1)
        value_end = _value_end(text, value_start)
        members.append(Member(json.loads(key_match.group()), pos, value_start, value_end))
        pos = _skip_ws(text, value_end)
        if text.startswith("}", pos):
            return ObjectSpan(start, pos + 1, tuple(members))
        if not text.startswith(",", pos):
            raise JsonTextError(f"expected ',' or '}}' at offset {pos}")
        pos = _skip_ws(text, pos + 1)


def _root(text: str) -> ObjectSpan:
    start = _skip_ws(text, 0)
    root = parse_object(text, start)
    if _skip_ws(text, root.end) != len(text):
        raise JsonTextError("text after the top-level object")
    return root


def _member(obj: ObjectSpan, key: str) -> Member | None:
    # JSON's last duplicate wins when parsed, so the last member is the one that counts.
    found = [m for m in obj.members if m.key == key]
    return found[-1] if found else None


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    return _WS.match(text, line_start).group().replace("\n", "").replace("\r", "")  # type: ignore[union-attr]


def _indent_unit(text: str) -> str:
    match = re.search(r"\n([ \t]+)\S", text)
    return match.group(1) if match else "  "


def _render(value: Any, indent: str, unit: str) -> str:
    lines = json.dumps(value, indent=unit, ensure_ascii=False).split("\n")
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])


def set_key(text: str, path: tuple[str, ...], value: Any) -> tuple[str, tuple[str, ...]]:
    """The text with `path` set to `value`, and the prefix of `path` this edit created (empty when every
    object on the path existed). Missing objects on the way are created; a non-object on the way is an error."""
    if not text.strip():
        text = "{}\n"
    unit = _indent_unit(text)
    obj = _root(text)
    for depth, key in enumerate(path):
        member = _member(obj, key)
        if member is None:
            rest = path[depth:]
            nested: Any = value
            for part in reversed(rest[1:]):
                nested = {part: nested}
            return _insert_member(text, obj, key, nested, unit), path[: depth + 1]
        if depth == len(path) - 1:
            indent = _line_indent(text, member.start)
            rendered = _render(value, indent, unit)
            return text[: member.value_start] + rendered + text[member.value_end :], ()
        if not text.startswith("{", member.value_start):
            raise JsonTextError(f"'{key}' is not an object")
        obj = parse_object(text, member.value_start)
    raise JsonTextError("empty path")


def _insert_member(text: str, obj: ObjectSpan, key: str, value: Any, unit: str) -> str:
    """Insert `"key": value` first in the object, separated the way its first member is."""
    if obj.members:
        first = obj.members[0]
        leading = text[obj.start + 1 : first.start]  # e.g. "\n  "
        indent = _line_indent(text, first.start) if "\n" in leading else ""
        member = f"{json.dumps(key, ensure_ascii=False)}: {_render(value, indent, unit)}"
        return text[: obj.start + 1] + leading + member + "," + text[obj.start + 1 :]
    outer = _line_indent(text, obj.start)
    indent = outer + unit
    member = f"{json.dumps(key, ensure_ascii=False)}: {_render(value, indent, unit)}"
    return text[: obj.start + 1] + "\n" + indent + member + "\n" + outer + text[obj.end - 1 :]


def delete_key(text: str, path: tuple[str, ...]) -> str | None:
    """The text without the member at `path` (and the separator that went with it), or None when absent."""
    obj = _root(text)
    for depth, key in enumerate(path):
        member = _member(obj, key)
        if member is None:
            return None
        if depth == len(path) - 1:
            return _cut_member(text, obj, member)
        if not text.startswith("{", member.value_start):
            return None
        obj = parse_object(text, member.value_start)
    return None


def _cut_member(text: str, obj: ObjectSpan, member: Member) -> str:
    index = obj.members.index(member)
    if len(obj.members) == 1:
        return text[: obj.start + 1] + text[obj.end - 1 :]
    if index == 0:
        # "{<ws>member,<ws>next": cut through the comma, the inverse of _insert_member.
        comma = text.index(",", member.value_end)
        return text[: obj.start + 1] + text[comma + 1 :]
    previous = obj.members[index - 1]
    return text[: previous.value_end] + text[member.value_end :]


def get_key(text: str, path: tuple[str, ...]) -> Any:
    node: Any = json.loads(text) if text.strip() else {}
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
