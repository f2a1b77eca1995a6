"""One query-history collection inside a database ingest run: probe, read, stage against the scanned catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ktx.errors import KtxError
from ktx.history.stage import Staged, stage
from ktx.history.usage import fetched_now
from ktx.scan.snapshot import Snapshot, content_hash

SUPPORTED = ("postgres", "bigquery", "snowflake")
DIALECTS = {"postgres": "postgres", "bigquery": "bigquery", "snowflake": "snowflake"}
RAW_DIR = "raw-sources/{conn}/historic-sql/snapshot"


@dataclass
class HistoryRun:
    staged: Staged
    fetched_at: str
    keys: dict[str, str]  # "schema.table" (lower case) → source key
    columns: dict[str, dict[str, str]]  # source key → lower-case column name → real name
    template_count: int
    warnings: list[str] = field(default_factory=list)
    dialect: str = "postgres"
    window: str = "cumulative since the last pg_stat_statements reset"

    def fingerprint(self) -> str:
        return content_hash(
            [(t.id, t.executions, sorted(t.users)) for t in self.staged.templates]
            + [sorted(self.staged.dropped.items())]
        )


def history_config(conn_cfg: Any) -> Any:
    from ktx.project.config.connections import QueryHistoryConfig

    context = getattr(conn_cfg, "context", None)
    configured = context.queryHistory if context is not None else None
    return configured or QueryHistoryConfig(enabled=True)


def collect(connector: Any, conn_cfg: Any, snapshot: Snapshot, *, window_days: int | None = None) -> HistoryRun:
    """Raises HistoryUnavailable (with the fix) when history cannot be read."""
    from ktx.history import postgres

    if conn_cfg.driver not in SUPPORTED:
        raise KtxError(
            f"Query history is not available for {conn_cfg.driver} connections in this version of ktx "
            f"(supported: {', '.join(SUPPORTED)})."
        )
    config = history_config(conn_cfg)
    if window_days is not None:
        config = config.model_copy(update={"windowDays": window_days})
    warnings: list[str] = []
    if conn_cfg.driver == "postgres":
        warnings = postgres.probe(connector)
        if window_days is not None:
            warnings.append(
                "query_history_no_window:pg_stat_statements keeps cumulative counts since its last reset; "
                "--query-history-window-days does not apply to PostgreSQL"
            )
        templates = postgres.read_templates(connector, min_executions=config.minExecutions)
    else:
        from ktx.history import jobs

        read = jobs.bigquery_templates if conn_cfg.driver == "bigquery" else jobs.snowflake_templates
        templates = read(connector, conn_cfg, window_days=config.windowDays, min_executions=config.minExecutions)
    keys = {f"{table.schema}.{table.name}".lower(): key for key, table in snapshot.tables.items()}
    catalog = {
        f"{table.schema}.{table.name}".lower(): {c.name.lower() for c in table.columns}
        for table in snapshot.tables.values()
    }
    columns = {key: {c.name.lower(): c.name for c in table.columns} for key, table in snapshot.tables.items()}
    staged = stage(
        templates,
        config,
        dialect=DIALECTS[conn_cfg.driver],
        catalog=catalog,
        default_schema=_default_schema(conn_cfg, snapshot),
    )
    window = (
        "cumulative since the last pg_stat_statements reset"
        if conn_cfg.driver == "postgres"
        else f"last {config.windowDays} days"
    )
    return HistoryRun(
        staged,
        fetched_now(),
        keys,
        columns,
        len(templates),
        warnings + staged.warnings,
        DIALECTS[conn_cfg.driver],
        window,
    )


def _default_schema(conn_cfg: Any, snapshot: Snapshot) -> str | None:
    return default_schema(conn_cfg, {t.schema for t in snapshot.tables.values() if t.schema})


def default_schema(conn_cfg: Any, scanned_schemas: Iterable[str]) -> str | None:
    """Where an unqualified table name in a query resolves (search_path, default dataset or schema), given the
    schemas the scan saw."""
    schemas = sorted(set(scanned_schemas))
    if conn_cfg.driver == "postgres":
        return "public" if "public" in schemas else (schemas[0] if len(schemas) == 1 else None)
    configured = getattr(conn_cfg, "schema_name", None) or getattr(conn_cfg, "dataset_id", None)
    return configured or (schemas[0] if len(schemas) == 1 else None)
