"""ClickHouse through clickhouse-connect (HTTP). Introspection reads system.tables and system.columns.

ClickHouse has no enforced keys: its sorting key is not unique, so it is never reported as a
primary key (a wrong grain would silently break fan-out protection downstream).
"""

from __future__ import annotations

from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogTable, attach_column_rows
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import ServerSettingsMixin, sql_string_list

_SYSTEM_DATABASES = ("system", "INFORMATION_SCHEMA", "information_schema")


class ClickHouseConnector(ServerSettingsMixin, Connector):
    driver = "clickhouse"
    url_schemes = ("clickhouse", "http", "https", "clickhouses")
    dialect = "clickhouse"
    default_max_connections = 4
    scope_keys = ("databases",)

    def _connect(self) -> Any:
        clickhouse_connect = require_module("clickhouse_connect", "clickhouse")
        s = self.settings()
        secure = (
            bool(self.config.secure)
            or s.options.get("secure") in ("1", "true")
            or ((self.config.url or "").startswith(("https", "clickhouses")))
        )
        # readonly=2: data and DDL are read-only on the server, while the client may still set
        # per-query settings (readonly=1 would reject the client's own format settings).
        return clickhouse_connect.get_client(
            host=s.host or "localhost",
            port=s.port or (8443 if secure else 8123),
            username=s.user or "default",
            password=s.password or "",
            database=s.database or "default",
            secure=secure,
            compress=False,
            connect_timeout=10,
            settings={"readonly": 2},
        )

    native_timeout = True

    def _is_timeout(self, exc: BaseException) -> bool:
        return "TIMEOUT_EXCEEDED" in str(exc)

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        result = conn.query(sql, settings={"max_execution_time": max(1, round(timeout_ms / 1000))})
        rows = iter(result.result_rows)
        fetched = self._fetch(
            lambda n: [tuple(r) for _, r in zip(range(n), rows, strict=False)],
            lambda: [tuple(r) for r in rows],
            max_rows,
            max_bytes,
        )
        return self._raw(list(result.column_names), [t.name for t in result.column_types], fetched)

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        if scope.schemas:
            where = f"database IN ({sql_string_list(scope.schemas, backslash_escapes=True)})"
        else:
            where = f"database NOT IN ({sql_string_list(_SYSTEM_DATABASES, backslash_escapes=True)})"
        relations = self.execute(
            f"SELECT database, name, engine, comment, total_rows FROM system.tables WHERE {where} "
            "AND NOT is_temporary ORDER BY database, name"
        ).rows
        columns = self.execute(
            "SELECT database, table, name, type, comment, position FROM system.columns "
            f"WHERE {where} ORDER BY database, table, position"
        ).rows
        tables: dict[tuple[str, str], CatalogTable] = {}
        for database, name, engine, comment, total_rows in relations:
            if scope.allows(database, name):
                kind = "view" if "View" in str(engine) else "table"
                estimate = int(total_rows) if total_rows is not None else None
                tables[(database, name)] = CatalogTable(
                    database, name, kind, comment=comment or None, row_estimate=estimate
                )
        attach_column_rows(
            tables, ((d, t, c, ty, str(ty).startswith("Nullable("), cm, o) for d, t, c, ty, cm, o in columns)
        )
        return Catalog(self.connection_id, self.driver, list(tables.values()))
