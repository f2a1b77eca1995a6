"""Warehouse capabilities the CLI and MCP both call: run read-only SQL, test connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ktx.errors import KtxError
from ktx.project.config import SOURCE_DRIVERS
from ktx.project.project import Project

if TYPE_CHECKING:
    from ktx.services import Services
from ktx.warehouse.connections import connection_config, open_connector
from ktx.warehouse.readonly import DEFAULT_MAX_ROWS, validate_max_rows
from ktx.warehouse.values import json_value

CONNECTION_TYPES = {
    "postgres": "POSTGRESQL",
    "sqlite": "SQLITE",
    "sqlserver": "SQLSERVER",
    "mysql": "MYSQL",
    "clickhouse": "CLICKHOUSE",
    "snowflake": "SNOWFLAKE",
    "bigquery": "BIGQUERY",
    "duckdb": "DUCKDB",
}


def list_connections(project: Project) -> list[dict[str, str]]:
    """Every configured connection (warehouses and context sources), sorted by id, without any settings."""
    out = []
    for connection_id, conn in sorted(project.config.connections.items()):
        driver = str(getattr(conn, "driver", "") or "")
        out.append(
            {
                "id": connection_id,
                "name": connection_id,
                "connectionType": CONNECTION_TYPES.get(driver, driver or "unknown"),
            }
        )
    return out


def run_sql(services: Services, connection_id: str, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> dict[str, Any]:
    """Validate, cap and execute one read-only statement; the result is JSON-ready."""
    validate_max_rows(max_rows)
    result = services.connector(connection_id).query(sql, max_rows=max_rows)
    return {
        "connectionId": connection_id,
        "headers": result.headers,
        "headerTypes": result.header_types,
        "rows": [[json_value(v) for v in row] for row in result.rows],
        "rowCount": result.row_count,
        "truncated": result.truncated,
        "truncatedReason": result.truncated_reason,
        "cellsCut": result.cells_cut,
        "durationMs": round(result.duration_ms, 1),
    }


@dataclass
class ConnectionTest:
    connection_id: str
    driver: str
    ok: bool
    key: str
    detail: str
    duration_ms: float
    warnings: list[str] = field(default_factory=list)
    untested: bool = False  # a context source: nothing to test in this version, and not a failure

    @property
    def failed(self) -> bool:
        return not self.ok and not self.untested

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.connection_id,
            "driver": self.driver,
            "ok": self.ok,
            **({"untested": True} if self.untested else {}),
            ("detail" if not self.ok else self.key.lower()): self.detail,
            "warnings": self.warnings,
            "durationMs": round(self.duration_ms, 1),
        }


LIVE_SOURCES = ("metabase", "notion", "looker")  # context sources with an API to test (see ktx.sources.live)


def check_connection(project: Project, connection_id: str) -> ConnectionTest:
    """Live test of one connection. Never raises for a failed test; the detail says why."""
    conn = connection_config(project, connection_id)
    started = time.perf_counter()
    driver = conn.driver
    if driver in LIVE_SOURCES:
        from ktx.sources.live import check_source

        try:
            detail = check_source(project, connection_id, conn)
        except KtxError as exc:
            return ConnectionTest(
                connection_id, driver, False, "Status", exc.message, (time.perf_counter() - started) * 1000
            )
        return ConnectionTest(connection_id, driver, True, "Status", detail, (time.perf_counter() - started) * 1000)
    if driver in SOURCE_DRIVERS:
        return ConnectionTest(
            connection_id,
            driver,
            False,
            "Status",
            f"{driver} is a context source; testing it is not available in this version of ktx",
            0.0,
            untested=True,
        )
    try:
        # A fresh connector, closed after: a test must open a real connection, not reuse a pooled one.
        with open_connector(project, connection_id) as connector:
            warnings = connector.test()
        elapsed = (time.perf_counter() - started) * 1000
        return ConnectionTest(connection_id, driver, True, "Status", "ok", elapsed, warnings)
    except KtxError as exc:
        return ConnectionTest(
            connection_id, driver, False, "Status", exc.message, (time.perf_counter() - started) * 1000
        )


def check_connections(project: Project, connection_ids: list[str]) -> list[ConnectionTest]:
    """Test several connections concurrently; results keep the requested order."""
    if not connection_ids:
        return []
    _ = project.config  # validate once, before the worker threads share it
    with ThreadPoolExecutor(max_workers=min(8, len(connection_ids))) as pool:
        return list(pool.map(lambda cid: check_connection(project, cid), connection_ids))
