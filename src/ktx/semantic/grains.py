"""Time grains and the `source.column:grain` dimension spelling, without the compiler (the CLI reads them first)."""

from __future__ import annotations

import re
from typing import Literal

from ktx.errors import KtxError

Granularity = Literal["second", "minute", "hour", "day", "week", "month", "quarter", "year"]
GRANULARITIES: tuple[str, ...] = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
# A custom granularity's name (`fiscal_quarter`): what a time spine may add to the grains above.
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")

# Grains finer than a second, as MetricFlow names them: a column declared at one is placed in seconds.
SUB_SECOND_GRAINS: tuple[str, ...] = ("nanosecond", "microsecond", "millisecond")


class UnknownGranularity(KtxError):
    pass


def parse_dimension(raw: str) -> str | dict[str, str]:
    """`orders.ordered_at:month` → a dimension with its granularity. A suffix that is an identifier may be a
    custom granularity of the layer's time spine (`:fiscal_quarter`), which the compiler checks; any other is
    refused by name (a column name never holds a colon), instead of surfacing as a missing column."""
    field, sep, suffix = raw.rpartition(":")
    if not sep or not field:
        return raw
    grain = suffix.strip()
    if grain.lower() in GRANULARITIES:
        return {"field": field, "granularity": grain.lower()}
    if IDENTIFIER.fullmatch(grain):
        return {"field": field, "granularity": grain}
    raise UnknownGranularity(unknown_granularity(grain, raw, []))


def unknown_granularity(grain: str, dimension: str, custom: list[str]) -> str:
    more = f", or a custom granularity of the time spine: {', '.join(custom)}" if custom else ""
    return f"Unknown granularity '{grain}' in dimension '{dimension}'. Use one of: {', '.join(GRANULARITIES)}{more}."
