"""A generated time spine: one row per day as plain SQL in the warehouse's dialect, for a layer whose project
declares no calendar table (windows, offsets and joins to the spine need one).

The days come from a cross join of five digit tables (0–99,999 days) added to a start date, written once and
transpiled by sqlglot: no generate_series or recursive CTE, which not every engine has (MySQL caps recursion at
1,000 rows)."""

from __future__ import annotations

from datetime import date

START, END = date(2000, 1, 1), date(2040, 12, 31)  # the span MetricFlow's own test spine covers


def spine_sql(dialect: str, start: date = START, end: date = END) -> str:
    import sqlglot

    days = (end - start).days + 1
    if not 0 < days <= 100_000:
        raise ValueError(f"a generated spine spans 1 to 100,000 days, not {days}")
    digits = " UNION ALL ".join(f"SELECT {i} AS n" for i in range(10))
    offset = " + ".join(f"{10**k} * d{k}.n" for k in range(5))
    tables = " CROSS JOIN ".join(f"({digits}) AS d{k}" for k in range(5))
    sql = (
        f"SELECT CAST(DATE_ADD(CAST('{start.isoformat()}' AS DATE), INTERVAL ({offset}) DAY) AS DATE) AS day "
        f"FROM {tables} WHERE {offset} < {days}"
    )
    return sqlglot.transpile(sql, read="mysql", write=dialect)[0]


def spine_source(dialect: str) -> dict[str, object]:
    """The layer source of a generated spine named `ktx_time_spine`, column `day`."""
    return {
        "name": "ktx_time_spine",
        "description": f"A generated calendar: every day from {START.isoformat()} to {END.isoformat()}.",
        "sql": spine_sql(dialect),
        "grain": ["day"],
        "columns": [{"name": "day", "type": "time"}],
        "time_spine": {"column": "day", "granularity": "day"},
    }
