"""Time grains and the `source.column:grain` dimension spelling, without the compiler (the CLI reads them first)."""

from __future__ import annotations

from typing import Literal

from ktx.errors import KtxError

Granularity = Literal["hour", "day", "week", "month", "quarter", "year"]
GRANULARITIES: tuple[str, ...] = ("hour", "day", "week", "month", "quarter", "year")
# Day and coarser, finest first: what a time spine and a time window are counted in.
WINDOW_GRAINS: tuple[str, ...] = GRANULARITIES[1:]


class UnknownGranularity(KtxError):
    pass


def parse_dimension(raw: str) -> str | dict[str, str]:
    """`orders.ordered_at:month` → a dimension with its granularity; a suffix that is no granularity is refused
    by name (a column name never holds a colon), instead of surfacing as a missing column `ordered_at:fortnight`."""
    field, sep, suffix = raw.rpartition(":")
    if not sep or not field:
        return raw
    if suffix.strip().lower() in GRANULARITIES:
        return {"field": field, "granularity": suffix.strip().lower()}
    raise UnknownGranularity(
        f"Unknown granularity '{suffix}' in dimension '{raw}'. Use one of: {', '.join(GRANULARITIES)}."
    )
