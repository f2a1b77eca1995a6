"""Comparing an answer's rows with the expected ones: numbers within a relative tolerance, everything else exactly
(dates as ISO text, booleans as 0/1), in order or as multisets, columns by position or by name."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

MAX_DIFFS = 3


@dataclass
class Comparison:
    equal: bool
    diffs: list[str] = field(default_factory=list)  # the first differing rows, in words


def normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 19 and value.endswith(" 00:00:00") and value[4] == "-":
        return value[:10]
    return value


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(float(a)) or math.isnan(float(b)):
            return math.isnan(float(a)) and math.isnan(float(b))
        return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))
    if (isinstance(a, int | float) and isinstance(b, str)) or (isinstance(b, int | float) and isinstance(a, str)):
        try:  # a pinned "12.5" against a warehouse's 12.5
            return _same(float(a), float(b), tolerance)
        except ValueError:
            return False
    return a == b


def _row_same(a: list[Any], b: list[Any], tolerance: float) -> bool:
    return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b, strict=True))


def _key(row: list[Any]) -> tuple:
    """Sort key for unordered comparison: NULLs last, numbers by value rounded so near-equal ones meet."""
    out = []
    for v in row:
        if v is None:
            out.append((2, ""))
        elif isinstance(v, int | float):
            out.append((0, f"{float(v):.6g}" if not math.isnan(float(v)) else "nan"))
        else:
            out.append((1, str(v)))
    return tuple(out)


def _show(row: list[Any] | None) -> str:
    return "(none)" if row is None else "[" + ", ".join("NULL" if v is None else repr(v) for v in row) + "]"


def compare_rows(actual: list[list[Any]], expected: list[list[Any]], *, ordered: bool, tolerance: float) -> Comparison:
    got = [[normal(v) for v in row] for row in actual]
    want = [[normal(v) for v in row] for row in expected]
    if got and want and len(got[0]) != len(want[0]):
        return Comparison(False, [f"column count: expected {len(want[0])}, got {len(got[0])}"])
    if not ordered:
        got, want = sorted(got, key=_key), sorted(want, key=_key)
    diffs = []
    for index in range(max(len(got), len(want))):
        a = got[index] if index < len(got) else None
        b = want[index] if index < len(want) else None
        if a is None or b is None or not _row_same(a, b, tolerance):
            diffs.append(f"row {index + 1}: expected {_show(b)}, got {_show(a)}")
            if len(diffs) >= MAX_DIFFS:
                break
    if len(got) != len(want) and not diffs:
        diffs.append(f"row count: expected {len(want)}, got {len(got)}")
    return Comparison(not diffs, diffs)


def by_name(headers: list[str], rows: list[list[Any]], wanted: list[str]) -> list[list[Any]]:
    """Reorder an answer's columns to the expected headers (case-insensitive); a missing one is an error."""
    index = {h.lower(): i for i, h in enumerate(headers)}
    missing = [h for h in wanted if h.lower() not in index]
    if missing:
        raise ValueError(f"the answer has no column {', '.join(missing)} (it has {', '.join(headers)})")
    order = [index[h.lower()] for h in wanted]
    return [[row[i] for i in order] for row in rows]
