"""Fetching a result within a byte budget as well as a row cap.

A row cap alone does not bound memory: twenty rows of `repeat('x', 20000000)` are 400 MB. Rows are fetched in small
batches and measured as they arrive; a cell larger than the per-cell limit is cut with a marker, and fetching stops
once the result holds `max_bytes`, so what is in memory never grows much past the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_BATCH_ROWS = 1024
DEFAULT_MAX_RESULT_BYTES = 64 << 20


@dataclass
class Fetched:
    rows: list[tuple[Any, ...]]
    bytes_truncated: bool = False  # fetching stopped at the byte budget
    cells_cut: int = 0  # cells shortened to the per-cell limit


def cell_limit(max_bytes: int) -> int:
    """The largest single cell kept whole: a sixteenth of the budget, at least 64 KB."""
    return max(max_bytes // 16, 64 << 10)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, list | tuple | dict):
        return len(repr(value))
    return 8


def _cut(value: Any, limit: int) -> Any:
    marker = f"…[truncated by ktx: {_size(value) - limit} more bytes]"
    if isinstance(value, str):
        return value[:limit] + marker
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[:limit]) + marker.encode()
    return value


def fetch_bounded(fetchmany: Callable[[int], Sequence[Any]], max_rows: int | None, max_bytes: int) -> Fetched:
    """Up to `max_rows` rows (all when None) through `fetchmany`, stopping once `max_bytes` are held. The batch
    starts at one row and grows only while rows are small, so a streaming engine never hands over more than a
    fraction of the budget at once."""
    limit = cell_limit(max_bytes)
    out = Fetched([])
    held = 0
    batch_size = 1
    while max_rows is None or len(out.rows) < max_rows:
        want = batch_size if max_rows is None else min(batch_size, max_rows - len(out.rows))
        batch = fetchmany(want)
        if not batch:
            break
        arrived = 0
        for row in batch:
            cells = list(row)
            for i, cell in enumerate(cells):
                size = _size(cell)
                arrived += size
                if size > limit and isinstance(cell, str | bytes | bytearray | memoryview):
                    cells[i] = _cut(cell, limit)
                    out.cells_cut += 1
            held += sum(_size(c) for c in cells)
            out.rows.append(tuple(cells))
            if held >= max_bytes:
                out.bytes_truncated = True
                return out
        if len(batch) < want:
            break
        average = max(arrived // len(batch), 1)
        batch_size = max(1, min(MAX_BATCH_ROWS, (max_bytes - held) // average // 4))
    return out
