"""Truncating a time dimension to a granularity, per dialect. Weeks start on Monday everywhere."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

_SQLITE = {
    "year": "DATE({f}, 'start of year')",
    "quarter": "DATE({f}, 'start of month', PRINTF('-%d months', (CAST(STRFTIME('%m', {f}) AS INTEGER) - 1) % 3))",
    "month": "DATE({f}, 'start of month')",
    "week": "DATE({f}, '-6 days', 'weekday 1')",
    "day": "DATE({f})",
    "hour": "STRFTIME('%Y-%m-%d %H:00:00', {f})",
    "minute": "STRFTIME('%Y-%m-%d %H:%M:00', {f})",
    "second": "STRFTIME('%Y-%m-%d %H:%M:%S', {f})",
}
_MYSQL = {
    "year": "DATE(DATE_FORMAT({f}, '%Y-01-01'))",
    "quarter": "DATE(CONCAT(YEAR({f}), '-', LPAD((QUARTER({f}) - 1) * 3 + 1, 2, '0'), '-01'))",
    "month": "DATE(DATE_FORMAT({f}, '%Y-%m-01'))",
    "week": "DATE(DATE_SUB({f}, INTERVAL WEEKDAY({f}) DAY))",
    "day": "DATE({f})",
    "hour": "TIMESTAMP(DATE_FORMAT({f}, '%Y-%m-%d %H:00:00'))",
    "minute": "TIMESTAMP(DATE_FORMAT({f}, '%Y-%m-%d %H:%i:00'))",
    "second": "TIMESTAMP(DATE_FORMAT({f}, '%Y-%m-%d %H:%i:%s'))",
}
_PLACEHOLDER = "__ktx_time_field__"


def truncate(field: exp.Expression, granularity: str, dialect: str) -> exp.Expression:
    templates = {"sqlite": _SQLITE, "mysql": _MYSQL}.get(dialect)
    if templates is not None:
        template = sqlglot.parse_one(templates[granularity].format(f=_PLACEHOLDER), read=dialect)
        return template.transform(
            lambda n: field.copy() if isinstance(n, exp.Column) and n.name == _PLACEHOLDER else n, copy=False
        )
    if dialect == "bigquery":
        unit = "WEEK(MONDAY)" if granularity == "week" else granularity.upper()
        return exp.Anonymous(this="DATE_TRUNC", expressions=[field.copy(), exp.var(unit)])
    if dialect == "tsql":
        unit = "ISO_WEEK" if granularity == "week" else granularity.upper()
        return exp.Anonymous(this="DATETRUNC", expressions=[exp.var(unit), field.copy()])
    return exp.DateTrunc(this=field.copy(), unit=exp.Literal.string(granularity))


def shift_back(field: exp.Expression, count: int, unit: str, dialect: str) -> exp.Expression:
    """`field` moved `count` units earlier, per dialect (weeks as 7 days, quarters as 3 months)."""
    if unit == "week":
        count, unit = count * 7, "day"
    elif unit == "quarter":
        count, unit = count * 3, "month"
    if dialect == "sqlite":
        if unit in ("hour", "minute", "second"):  # in the text form truncation to them gives
            fmt = exp.Literal.string("%Y-%m-%d %H:%M:%S")
            shift = exp.Literal.string(f"-{count} {unit}s")
            return exp.Anonymous(this="STRFTIME", expressions=[fmt, field.copy(), shift])
        return exp.Anonymous(this="DATE", expressions=[field.copy(), exp.Literal.string(f"-{count} {unit}s")])
    if dialect == "tsql":
        return exp.Anonymous(
            this="DATEADD", expressions=[exp.var(unit.upper()), exp.Literal.number(-count), field.copy()]
        )
    return exp.DateSub(this=field.copy(), expression=exp.Literal.number(count), unit=exp.var(unit.upper()))
