"""The warehouse driver registry: one entry per driver, and everything else derives from it.

ktx.yaml's connection schema, the connector a connection opens, the SQL dialect the semantic compiler and the
read-only gate use, and the `ktx status` connection check all read this table. Adding a driver is one entry here,
its config model in `ktx/project/config.py` and its connector module under `ktx/warehouse/drivers/`.
Import-light on purpose: the compile-only path reads dialects without loading pydantic or any driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How `ktx status` checks an entry without connecting: a file path, a server URL/host, a Snowflake account,
# or a BigQuery credentials reference.
Location = Literal["file", "server", "account", "credentials"]


@dataclass(frozen=True)
class DriverSpec:
    name: str
    connector: str  # "module:Class"
    dialect: str  # sqlglot dialect
    config_model: str  # the connection model's class name in ktx.project.config
    location: Location
    secret_fields: tuple[str, ...]  # keys that hold credentials (env:/file: references; never printed)
    extra: str  # the pip extra that installs the driver's package ("" when built in)
    scope_key: str | None = None  # the list key that limits a scan to schemas (datasets, databases)
    dialect_aliases: tuple[str, ...] = ()  # other names the compiler accepts for this dialect


WAREHOUSE_DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        DriverSpec(
            "duckdb",
            "ktx.warehouse.drivers.duckdb:DuckDBConnector",
            "duckdb",
            "DuckDBConnection",
            "file",
            (),
            "",
            scope_key="schemas",
        ),
        DriverSpec(
            "sqlite", "ktx.warehouse.drivers.sqlite:SQLiteConnector", "sqlite", "SQLiteConnection", "file", (), ""
        ),
        DriverSpec(
            "postgres",
            "ktx.warehouse.drivers.postgres:PostgresConnector",
            "postgres",
            "PostgresConnection",
            "server",
            ("url", "password"),
            "postgres",
            dialect_aliases=("postgresql",),
            scope_key="schemas",
        ),
        DriverSpec(
            "mysql",
            "ktx.warehouse.drivers.mysql:MySQLConnector",
            "mysql",
            "MySQLConnection",
            "server",
            ("url", "password"),
            "mysql",
            dialect_aliases=("mariadb",),
            scope_key="schemas",
        ),
        DriverSpec(
            "clickhouse",
            "ktx.warehouse.drivers.clickhouse:ClickHouseConnector",
            "clickhouse",
            "ClickHouseConnection",
            "server",
            ("url", "password"),
            "clickhouse",
            scope_key="databases",
        ),
        DriverSpec(
            "snowflake",
            "ktx.warehouse.drivers.snowflake:SnowflakeConnector",
            "snowflake",
            "SnowflakeConnection",
            "account",
            ("url", "password", "private_key_path"),
            "snowflake",
            scope_key="schema_names",
        ),
        DriverSpec(
            "bigquery",
            "ktx.warehouse.drivers.bigquery:BigQueryConnector",
            "bigquery",
            "BigQueryConnection",
            "credentials",
            ("credentials_json",),
            "bigquery",
            scope_key="dataset_ids",
        ),
        DriverSpec(
            "sqlserver",
            "ktx.warehouse.drivers.sqlserver:SQLServerConnector",
            "tsql",
            "SQLServerConnection",
            "server",
            ("url", "password"),
            "sqlserver",
            scope_key="schemas",
        ),
    )
}

# Driver (or alias) → sqlglot dialect, for compiling without a configured connection.
DRIVER_DIALECTS: dict[str, str] = {
    name: spec.dialect for spec in WAREHOUSE_DRIVERS.values() for name in (spec.name, *spec.dialect_aliases)
}


def driver_spec(driver: str) -> DriverSpec | None:
    return WAREHOUSE_DRIVERS.get(driver)
