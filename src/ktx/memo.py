"""A bounded memo: a dict that starts over when full (answers repeat; tracking which entry is oldest costs more)."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> V:
    """Keep `value` under `key`, emptying `cache` first when it already holds `limit` entries; returns `value`."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
