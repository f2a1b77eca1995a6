"""Connection entries: one model per warehouse driver (the union comes from the driver registry) and source."""

from __future__ import annotations

import functools
import operator
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ktx.project.config.base import CONNECTION_ID_PATTERN, Loose, NonEmptyStr, Strict
from ktx.warehouse.registry import WAREHOUSE_DRIVERS

# --- connections ------------------------------------------------------------------------------


class ServiceAccountFilter(Strict):
    patterns: list[str] = Field(default_factory=list)
    mode: Literal["exclude", "include", "mark-only"] = "exclude"


class OrchestratorFilter(Strict):
    mode: Literal["exclude", "include", "mark-only"] = "mark-only"


class DropFailedBelow(Strict):
    errorRate: float = Field(ge=0, le=1)
    executions: int = Field(ge=0)


class QueryHistoryFilters(Strict):
    serviceAccounts: ServiceAccountFilter = Field(default_factory=ServiceAccountFilter)
    orchestrators: OrchestratorFilter = Field(default_factory=OrchestratorFilter)
    dropTrivialProbes: bool = True
    dropFailedBelow: DropFailedBelow | None = None


class QueryHistoryConfig(Strict):
    enabled: bool = False
    minExecutions: int = Field(5, ge=1)
    windowDays: int = Field(90, ge=1)
    filters: QueryHistoryFilters = Field(default_factory=QueryHistoryFilters)
    redactionPatterns: list[str] = Field(default_factory=list)
    staleArchiveAfterDays: int = Field(90, ge=1)
    enabledTables: list[str] | None = None
    enabledSchemas: list[str] | None = None

    @field_validator("redactionPatterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            body = pattern[4:] if pattern.startswith("(?i)") else pattern
            try:
                re.compile(body)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class ConnectionContext(Strict):
    queryHistory: QueryHistoryConfig | None = None


class WarehouseConnection(Loose):
    url: NonEmptyStr | None = None
    enabled_tables: list[str] | None = None
    maxConnections: int | None = Field(None, ge=1)
    # Every statement ktx sends (user SQL, semantic queries, ingest probes, MCP tools) is cancelled past this.
    statement_timeout_ms: int = Field(60_000, ge=100, le=86_400_000)
    # A user query's result is fetched in batches and cut here (rows and cells), so memory stays bounded.
    max_result_bytes: int = Field(64 << 20, ge=1 << 10, le=1 << 32)
    description: str | None = None
    context: ConnectionContext | None = None


class NetworkWarehouse(WarehouseConnection):
    host: NonEmptyStr | None = None
    port: int | None = Field(None, ge=1, le=65535)
    database: NonEmptyStr | None = None
    user: NonEmptyStr | None = None
    username: NonEmptyStr | None = None
    password: NonEmptyStr | None = None


class DuckDBConnection(WarehouseConnection):
    driver: Literal["duckdb"]
    path: NonEmptyStr | None = None
    schemas: list[str] | None = None
    allow_external_access: bool = False
    # ktx's own read-only DuckDB session: a cap on DuckDB's buffer memory (it spills or fails past it) and on its
    # worker threads, so a scan or an agent's query cannot take the machine. DuckDB's own defaults are 80% of RAM
    # and every core.
    memory_limit: str = Field("1GB", pattern=r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|[kmgt]i?b|B|b|%)\s*$")
    threads: int | None = Field(None, ge=1, le=256)


class SQLiteConnection(WarehouseConnection):
    driver: Literal["sqlite"]
    path: NonEmptyStr | None = None


class PostgresConnection(NetworkWarehouse):
    driver: Literal["postgres"]
    schema_: NonEmptyStr | None = Field(None, alias="schema")
    schemas: list[str] | None = None
    sslmode: NonEmptyStr | None = None


class MySQLConnection(NetworkWarehouse):
    driver: Literal["mysql"]
    schemas: list[str] | None = None


class SQLServerConnection(NetworkWarehouse):
    driver: Literal["sqlserver"]
    schemas: list[str] | None = None


class ClickHouseConnection(NetworkWarehouse):
    driver: Literal["clickhouse"]
    databases: list[str] | None = None
    secure: bool | None = None


class SnowflakeConnection(WarehouseConnection):
    driver: Literal["snowflake"]
    account: NonEmptyStr | None = None
    user: NonEmptyStr | None = None
    password: NonEmptyStr | None = None
    private_key_path: NonEmptyStr | None = None
    warehouse: NonEmptyStr | None = None
    database: NonEmptyStr | None = None
    role: NonEmptyStr | None = None
    schema_name: NonEmptyStr | None = None
    schema_names: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_max_sessions(cls, data: Any) -> Any:
        if isinstance(data, dict) and "maxSessions" in data:
            raise ValueError("maxSessions was renamed to maxConnections")
        return data


class BigQueryConnection(WarehouseConnection):
    driver: Literal["bigquery"]
    credentials_json: NonEmptyStr | None = None
    project_id: NonEmptyStr | None = None
    dataset_id: NonEmptyStr | None = None
    dataset_ids: list[str] | None = None
    location: NonEmptyStr | None = None
    max_bytes_billed: int | None = Field(None, ge=1)
    job_timeout_ms: int | None = Field(None, ge=1)
    api_endpoint: NonEmptyStr | None = None  # an emulator or private endpoint


class GitSourceConnection(Loose):
    repoUrl: NonEmptyStr | None = None
    repo_url: NonEmptyStr | None = None
    branch: NonEmptyStr | None = None
    path: str | None = None
    auth_token_ref: NonEmptyStr | None = None
    source_dir: NonEmptyStr | None = None
    warehouse_connection_id: NonEmptyStr | None = None
    warehouseConnectionId: NonEmptyStr | None = None


class DbtConnection(GitSourceConnection):
    driver: Literal["dbt"]


class MetricFlowConnection(GitSourceConnection):
    driver: Literal["metricflow"]


class LookMLConnection(GitSourceConnection):
    driver: Literal["lookml"]


class LookerConnection(Loose):
    driver: Literal["looker"]
    base_url: NonEmptyStr | None = None
    client_id: NonEmptyStr | None = None
    client_secret: NonEmptyStr | None = None
    client_secret_ref: NonEmptyStr | None = None
    warehouse_connection_id: NonEmptyStr | None = None
    models: list[str] = Field(default_factory=list)  # LookML models to read (all visible ones when empty)


class MetabaseConnection(Loose):
    driver: Literal["metabase"]
    api_url: NonEmptyStr | None = None
    api_key: NonEmptyStr | None = None
    api_key_ref: NonEmptyStr | None = None
    syncEnabled: bool | None = None
    syncMode: Literal["ALL", "ONLY", "EXCEPT"] | None = None
    # Metabase database id → ktx warehouse connection; unlisted databases are matched by engine, host and name.
    database_mappings: dict[str, str] = Field(default_factory=dict)
    # The collections syncMode ONLY/EXCEPT selects ("root" for the root collection).
    collection_ids: list[str | int] = Field(default_factory=list)


class NotionConnection(Loose):
    driver: Literal["notion"]
    auth_token: NonEmptyStr | None = None
    auth_token_ref: NonEmptyStr | None = None
    api_url: NonEmptyStr | None = None  # https://api.notion.com unless a proxy stands in front of it
    warehouse_connection_id: NonEmptyStr | None = None  # the warehouse LLM work units refine against
    crawl_mode: Literal["selected_roots", "all_accessible"] = "selected_roots"
    root_page_ids: list[str] = Field(default_factory=list)
    root_database_ids: list[str] = Field(default_factory=list)
    root_data_source_ids: list[str] = Field(default_factory=list)
    max_pages_per_run: int = Field(1000, ge=1, le=10000)
    max_knowledge_creates_per_run: int = Field(25, ge=0, le=25)
    max_knowledge_updates_per_run: int = Field(20, ge=0, le=100)


# Warehouse connection models come from the driver registry (one entry per driver), sources follow.
_WAREHOUSE_MODELS = functools.reduce(operator.or_, (globals()[s.config_model] for s in WAREHOUSE_DRIVERS.values()))
Connection = Annotated[
    _WAREHOUSE_MODELS  # type: ignore[valid-type]
    | DbtConnection
    | MetricFlowConnection
    | LookMLConnection
    | LookerConnection
    | MetabaseConnection
    | NotionConnection,
    Field(discriminator="driver"),
]


ConnectionId = Annotated[str, Field(pattern=CONNECTION_ID_PATTERN.pattern)]
