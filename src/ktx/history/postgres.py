"""Read query history from PostgreSQL's `pg_stat_statements`, after probing that it can be read at all.

Every probe failure is a clear error with the fix (install the extension, preload the library, grant the role);
soft problems (`track = none`, a small `max`) become warnings. The aggregate is cumulative since the last
`pg_stat_statements_reset()`; PostgreSQL keeps no time window."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ktx.errors import KtxError

MIN_VERSION = 140000


class HistoryUnavailable(KtxError):
    """Query history cannot be read from this connection; the message says how to fix it."""


@dataclass
class Template:
    id: str
    sql: str
    executions: int
    users: dict[str, int] = field(default_factory=dict)
    mean_ms: float | None = None
    rows: int | None = None
    errors: int = 0
    first_seen: str | None = None
    last_seen: str | None = None


_TEMPLATES = """
SELECT s.queryid::text, s.query, sum(s.calls)::bigint, sum(s.rows)::bigint,
       CASE WHEN sum(s.calls) > 0 THEN sum(s.total_exec_time) / sum(s.calls) END,
       json_agg(json_build_object('user', coalesce(r.rolname, s.userid::text), 'executions', s.calls))::text
FROM pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.toplevel AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY s.queryid, s.query
HAVING sum(s.calls) >= {min_executions}
ORDER BY sum(s.total_exec_time) DESC
LIMIT {limit}
"""


def _one(connector: Any, sql: str) -> Any:
    rows = connector.execute(sql).rows
    return rows[0][0] if rows else None


def probe(connector: Any) -> list[str]:
    """Raise HistoryUnavailable with the remediation, or return warnings."""
    version = int(_one(connector, "SELECT current_setting('server_version_num')::int"))
    if version < MIN_VERSION:
        raise HistoryUnavailable(
            f"Query history needs PostgreSQL 14 or newer (server reports {version // 10000}).",
            hint="Upgrade the server, or disable connections.<id>.context.queryHistory.",
        )
    try:
        connector.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
    except KtxError as exc:
        raise HistoryUnavailable(
            f"pg_stat_statements cannot be read: {exc.message}",
            hint=(
                "Add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart the server, then "
                "run `CREATE EXTENSION pg_stat_statements;` in this database."
            ),
        ) from None
    role_ok = _one(
        connector,
        "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') OR "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
    )
    if not role_ok:
        user = _one(connector, "SELECT current_user")
        raise HistoryUnavailable(
            f"Role {user} may not read other roles' statements in pg_stat_statements.",
            hint=f"Run `GRANT pg_read_all_stats TO {user};` as a superuser.",
        )
    warnings = []
    track = _one(connector, "SELECT current_setting('pg_stat_statements.track', true)")
    if track == "none":
        warnings.append(
            "query_history_track_none:pg_stat_statements.track is none: no statements are being recorded "
            "(set it to top)"
        )
    maximum = _one(connector, "SELECT current_setting('pg_stat_statements.max', true)")
    if maximum is not None and int(maximum) < 5000:
        warnings.append(
            f"query_history_small_max:pg_stat_statements.max is {maximum}: rarely run statements may be evicted "
            "(5000 or more is recommended)"
        )
    return warnings


def read_templates(connector: Any, *, min_executions: int, limit: int = 200_000) -> list[Template]:
    first_seen = _one(connector, "SELECT stats_reset::text FROM pg_stat_statements_info")
    now = datetime.now(UTC).isoformat()
    rows = connector.execute(_TEMPLATES.format(min_executions=int(min_executions), limit=int(limit))).rows
    templates = []
    for queryid, query, calls, total_rows, mean_ms, users_json in rows:
        users: dict[str, int] = {}
        for entry in json.loads(users_json or "[]"):
            users[str(entry["user"])] = users.get(str(entry["user"]), 0) + int(entry["executions"])
        templates.append(
            Template(
                id=str(queryid),
                sql=str(query),
                executions=int(calls),
                users=users,
                mean_ms=float(mean_ms) if mean_ms is not None else None,
                rows=int(total_rows) if total_rows is not None else None,
                first_seen=first_seen,
                last_seen=now,
            )
        )
    return templates
