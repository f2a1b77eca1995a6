"""Descriptions from what the data shows, for projects without an LLM (`descriptions.profile`).

Short and factual: what a column holds (type, range or typical values), how often it is empty, what it
points at; for a table, its size, key and neighbours. Nothing is invented: a fact the profile lacks is left out.
"""

from __future__ import annotations

from ktx.scan.profile import ColumnStats, TableStats
from ktx.warehouse.catalog import CatalogColumn, CatalogTable

_KIND_WORDS = {"number": "Number", "time": "Date/time", "boolean": "True/false", "string": "Text"}


def _count(n: int) -> str:
    return f"{n:,}"


def _empty(stats: ColumnStats) -> str:
    if not stats.sampled or not stats.null_count:
        return ""
    rate = stats.null_rate
    if rate >= 0.995:
        return "always empty"
    share = f"{rate:.0%}" if rate >= 0.01 else "<1%"
    return f"{share} empty"


def _values(values: list[str], limit: int = 5) -> str:
    shown = [v if len(v) <= 24 else v[:21] + "..." for v in values[:limit]]
    return ", ".join(shown)


def _categorical(stats: ColumnStats) -> bool:
    """Few values that repeat: categories, statuses, flags. Only these are quoted in a description: values of
    unique or high-cardinality columns (names, emails) are data, and descriptions are committed to git."""
    non_null = stats.sampled - stats.null_count
    return 0 < stats.distinct_count <= 12 and non_null >= 2 * stats.distinct_count


def describe_column(
    column: CatalogColumn,
    stats: ColumnStats | None,
    *,
    is_pk: bool,
    points_to: str | None,
) -> str:
    parts: list[str] = []
    if is_pk:
        parts.append("Primary key")
    if points_to:
        parts.append(f"links to {points_to}")
    if stats is None or not stats.sampled:
        if not parts:
            parts.append(_KIND_WORDS.get(column.type, "Text") + f" ({column.native_type.lower()})")
        return _sentence(parts)
    distinct = stats.distinct_count
    if not parts:
        kind = _KIND_WORDS.get(column.type, "Text")
        if stats.null_count == stats.sampled:
            return "Always empty in the sampled rows."
        if column.type == "boolean":
            parts.append(kind)
        elif column.type in ("number", "time") and stats.min_value is not None and stats.max_value is not None:
            if stats.min_value == stats.max_value:
                parts.append(f"{kind}, always {stats.min_value}")
            else:
                parts.append(f"{kind} from {stats.min_value} to {stats.max_value}")
            if column.type == "number" and _categorical(stats) and distinct <= len(stats.top_values):
                parts[-1] += f" ({distinct} values)"
        elif _categorical(stats) and stats.top_values:
            label = "value" if distinct == 1 else "values"
            shown = _values(stats.top_values)
            more = "" if distinct <= len(stats.top_values) else f" and {distinct - len(stats.top_values)} more"
            parts.append(f"{kind}, {distinct} {label}: {shown}{more}")
        elif stats.uniqueness >= 0.98:
            parts.append(f"{kind}, unique per row")
        else:
            parts.append(f"{kind}, {_count(distinct)} distinct values in {_count(stats.sampled)} sampled rows")
    elif not is_pk and stats.null_count == stats.sampled:
        parts.append("always empty in the sample")
    empty = _empty(stats)
    if empty and stats.null_count != stats.sampled:
        parts.append(empty)
    return _sentence(parts)


def _sentence(parts: list[str]) -> str:
    text = "; ".join(p for p in parts if p)
    return (text[0].upper() + text[1:] + ".") if text else ""


def describe_table(
    table: CatalogTable,
    stats: TableStats | None,
    *,
    pk: tuple[str, ...],
    parents: list[str],
    children: list[str],
) -> str:
    parts: list[str] = []
    kind = "View" if table.kind == "view" else "Table"
    if stats is not None and not stats.failed:
        rows = "row" if stats.row_count == 1 else "rows"
        parts.append(f"{kind} of {_count(stats.row_count)} {rows}" if stats.row_count else f"Empty {kind.lower()}")
    else:
        parts.append(f"{kind} of {len(table.columns)} columns")
    if pk:
        parts.append(f"one row per {', '.join(pk)}")
    if parents:
        parts.append("links to " + _list(parents))
    if children:
        parts.append("referenced by " + _list(children))
    return _sentence(parts)


def _list(names: list[str], limit: int = 4) -> str:
    unique = list(dict.fromkeys(names))
    shown = ", ".join(unique[:limit])
    return shown + (f" and {len(unique) - limit} more" if len(unique) > limit else "")
