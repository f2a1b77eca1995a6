"""Time grains and the `source.column:grain` dimension spelling, without the compiler (the CLI reads them first)."""

from __future__ import annotations

from typing import Literal

from ktx.errors import KtxError

Granularity = Literal["hour", "day", "week", "month", "quarter", "year"]
GRANULARITIES: tuple[str, ...] = ("hour", "day", "week", "month", "quarter", "year")
# What a time spine and a time window are counted in, finest first (every granularity: an hourly spine answers
# windows of hours).
WINDOW_GRAINS: tuple[str, ...] = GRANULARITIES


# Grains finer than an hour, as MetricFlow names them: a column declared at one is placed in hours.
SUB_HOUR_GRAINS: tuple[str, ...] = ("nanosecond", "microsecond", "millisecond", "second", "minute")


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
