"""Build the semantic-layer dataclasses from YAML data, reporting every problem with its key path.

Why not pydantic (used for ktx.yaml): importing it and building the schema costs ~120 ms, which alone
would take a third of the 400 ms start-up budget of `ktx sl query` each time a layer file changes. The
source schema uses only a few shapes, so a small checker driven by the dataclass annotations suffices:
str, int, float, bool, Any, Literal[…], X | None, list[X], dict[str, X] and nested dataclasses.
Unknown keys are errors; `__post_init__` checks (ValueError) are reported at the object's path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, Literal


class SchemaError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def require(owner: Any, *names: str) -> None:
    """For `__post_init__`: these text fields must not be empty or blank."""
    for name in names:
        if not str(getattr(owner, name) or "").strip():
            raise ValueError(f"'{name}' must not be empty")


_MISSING = object()
_SCALARS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


@cache
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) per field; `typing.get_type_hints` resolves the postponed annotations."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
        if f.init  # derived fields are not input keys
    )


def build(cls: type, data: Any) -> Any:
    """An instance of dataclass `cls` from `data`, or SchemaError listing every problem."""
    problems: list[str] = []
    value = _convert(cls, data, "", problems)
    if problems:
        raise SchemaError(problems)
    return value


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _describe(kind: Any) -> str:
    if kind in _SCALARS:
        return _SCALARS[kind]
    if dataclasses.is_dataclass(kind):
        return "a mapping"
    origin = typing.get_origin(kind)
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(kind))
    return str(kind)


def _convert(kind: Any, value: Any, path: str, problems: list[str]) -> Any:
    if kind is Any:
        return value
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None) and _matches(option, value):
                return _convert(option, value, path, problems)
        expected = " or ".join(_describe(o) for o in options if o is not type(None))
        problems.append(f"{_where(path)}expected {expected}, got {_show(value)}")
        return None
    if origin is Literal:
        if value not in typing.get_args(kind):
            problems.append(f"{_where(path)}expected {_describe(kind)}, got {_show(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{_where(path)}expected a list, got {_show(value)}")
            return []
        (item,) = typing.get_args(kind)
        return [_convert(item, v, f"{path}.{i}" if path else str(i), problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{_where(path)}expected a mapping, got {_show(value)}")
            return {}
        _, item = typing.get_args(kind)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(f"{_where(path)}keys must be strings, got {_show(k)}")
                continue
            out[k] = _convert(item, v, f"{path}.{k}" if path else k, problems)
        return out
    if dataclasses.is_dataclass(kind):
        return _build_object(kind, value, path, problems)
    if kind in _SCALARS:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            problems.append(f"{_where(path)}expected {_SCALARS[kind]}, got {_show(value)}")
        return value
    raise TypeError(f"unsupported schema type {kind!r}")  # pragma: no cover - a schema authoring error


def _matches(kind: Any, value: Any) -> bool:
    """Whether `value` has the shape of `kind` (to pick a Union member); details are checked later."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return True
    if origin is list:
        return isinstance(value, list)
    if origin is dict or dataclasses.is_dataclass(kind):
        return isinstance(value, dict)
    if origin is Literal:
        return value in typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind) if isinstance(kind, type) else False


def _build_object(cls: type, value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, dict):
        problems.append(f"{_where(path)}expected a mapping, got {_show(value)}")
        return None
    fields = _fields(cls)
    names = {name for name, _, _ in fields}
    before = len(problems)
    for key in value:
        if key not in names:
            problems.append(f"{_where(path)}unknown key '{key}'{did_you_mean(str(key), names)}")
    kwargs = {}
    for name, kind, required in fields:
        raw = value.get(name, _MISSING)
        here = f"{path}.{name}" if path else name
        if raw is _MISSING:
            if required:
                problems.append(f"{here}: required")
            continue
        kwargs[name] = _convert(kind, raw, here, problems)
    if len(problems) > before:
        return None
    try:
        return cls(**kwargs)
    except ValueError as exc:
        problems.append(f"{_where(path)}{exc}")
        return None


def did_you_mean(key: str, names: set[str] | list[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, else the allowed names."""
    import difflib

    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (allowed: {', '.join(sorted(names))})"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
