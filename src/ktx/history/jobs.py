"""Query history from warehouses that log every job with its raw SQL: BigQuery
(`region-<location>.INFORMATION_SCHEMA.JOBS_BY_PROJECT`) and Snowflake (`SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY`).

Raw statements carry literals, so each is normalized first (every literal becomes `?`, with sqlglot; a regex
when it does not parse) and statements with the same normalized text form one template — which also keeps
literal values out of everything that follows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from ktx.errors import KtxError
from ktx.history.postgres import HistoryUnavailable, Template

MAX_JOBS = 200_000
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_NUMBER = re.compile(r"(?<![\w.$])-?\d+(?:\.\d+)?(?![\w.])")


def normalize(sql: str, dialect: str) -> str:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        for literal in list(tree.find_all(exp.Literal)):
            literal.replace(exp.Placeholder())
        return tree.sql(dialect=dialect, comments=True)
    except (SqlglotError, RecursionError, ValueError):
        return _NUMBER.sub("?", _STRING.sub("?", sql))


def fingerprint(normalized: str) -> str:
    return hashlib.sha256(" ".join(normalized.lower().split()).encode()).hexdigest()[:16]


def group_jobs(
    jobs: Iterable[tuple[str, str | None, bool, float | None, str | None]], dialect: str, min_executions: int
) -> list[Template]:
    """(sql, user, failed, elapsed ms, time) rows → templates with at least `min_executions` runs."""
    by_id: dict[str, Template] = {}
    elapsed: dict[str, list[float]] = {}
    for sql, user, failed, ms, when in jobs:
        if not sql:
            continue
        normalized = normalize(sql, dialect)
        key = fingerprint(normalized)
        template = by_id.get(key)
        if template is None:
            template = by_id[key] = Template(key, normalized, 0, first_seen=when, last_seen=when)
        template.executions += 1
        name = user or "unknown"
        template.users[name] = template.users.get(name, 0) + 1
        template.errors += 1 if failed else 0
        if ms is not None:
            elapsed.setdefault(key, []).append(float(ms))
        if when:
            template.first_seen = min(template.first_seen or when, when)
            template.last_seen = max(template.last_seen or when, when)
    out = []
    for key, template in by_id.items():
        if template.executions < min_executions:
            continue
        times = sorted(elapsed.get(key, []))
        template.mean_ms = times[int(0.95 * (len(times) - 1))] if times else None  # p95
        out.append(template)
    return sorted(out, key=lambda t: (-t.executions, t.id))


def _read(connector: Any, sql: str, *, hint: str, what: str) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in connector.execute(sql).rows]
    except KtxError as exc:
        raise HistoryUnavailable(f"{what} cannot be read: {exc.message}", hint=hint) from None


def bigquery_templates(connector: Any, conn_cfg: Any, *, window_days: int, min_executions: int) -> list[Template]:
    location = (getattr(conn_cfg, "location", None) or "us").lower()
    view = f"`region-{location}`.INFORMATION_SCHEMA.JOBS_BY_PROJECT"
    sql = (
        "SELECT query, user_email, error_result IS NOT NULL AS failed, "
        "TIMESTAMP_DIFF(end_time, start_time, MILLISECOND) AS elapsed_ms, CAST(creation_time AS STRING) AS created "
        f"FROM {view} WHERE job_type = 'QUERY' AND statement_type = 'SELECT' "
        f"AND creation_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {int(window_days)} DAY) "
        f"ORDER BY creation_time DESC LIMIT {MAX_JOBS}"
    )
    rows = _read(
        connector,
        sql,
        what=f"BigQuery job history ({view})",
        hint="Grant the service account roles/bigquery.resourceViewer (bigquery.jobs.listAll) on the project, "
        "and set the connection's location to the region its jobs run in.",
    )
    return group_jobs(((r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows), "bigquery", min_executions)


def snowflake_templates(connector: Any, conn_cfg: Any, *, window_days: int, min_executions: int) -> list[Template]:
    sql = (
        "SELECT query_text, user_name, execution_status <> 'SUCCESS' AS failed, total_elapsed_time, "
        "TO_VARCHAR(start_time) FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY "
        f"WHERE query_type = 'SELECT' AND start_time >= DATEADD(day, -{int(window_days)}, CURRENT_TIMESTAMP()) "
        f"ORDER BY start_time DESC LIMIT {MAX_JOBS}"
    )
    role = getattr(conn_cfg, "role", None) or "<role>"
    rows = _read(
        connector,
        sql,
        what="Snowflake query history (SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY)",
        hint=f"Run `GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE {role};` as ACCOUNTADMIN.",
    )
    return group_jobs(((r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows), "snowflake", min_executions)
