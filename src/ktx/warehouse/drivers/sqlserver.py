"""SQL Server through pymssql. Introspection reads INFORMATION_SCHEMA plus sys views for comments
and row counts (four queries).

SQL Server has no read-only session for ordinary connections. Besides the parser gate, every
statement runs inside a transaction that is always rolled back (DDL is transactional there
too); connect with a login that has only db_datareader for full protection.
"""

from __future__ import annotations

from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogTable, apply_key_rows, attach_column_rows
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import ServerSettingsMixin, sql_string_list


class SQLServerConnector(ServerSettingsMixin, Connector):
    driver = "sqlserver"
    url_schemes = ("sqlserver", "mssql")
    dialect = "tsql"
    default_max_connections = 10
    read_only_session = False
    scope_keys = ("schemas",)
    default_schemas = ("dbo",)

    def _connect(self) -> Any:
        pymssql = require_module("pymssql", "sqlserver")
        s = self.settings()
        return pymssql.connect(
            server=s.host or "localhost",
            port=str(s.port or 1433),
            user=s.user,
            password=s.password,
            database=s.database or "",
            login_timeout=10,
            appname="ktx",
            autocommit=False,
        )

    def _cancel(self, conn: Any) -> None:
        getattr(conn, "_conn", conn).cancel()  # pymssql keeps the cancellable _mssql connection inside

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        cursor = conn.cursor()
        try:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN TRANSACTION")
            try:
                cursor.execute(sql)
                description = cursor.description or []
                fetched = self._fetch(cursor.fetchmany, cursor.fetchall, max_rows, max_bytes)
                return self._raw([d[0] for d in description], [str(d[1]) for d in description], fetched)
            finally:
                conn.rollback()
        finally:
            cursor.close()

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        schemas = sql_string_list(scope.schemas or self.default_schemas, national=True)
        relations = self.execute(catalog_queries(schemas)["relations"]).rows
        columns = self.execute(catalog_queries(schemas)["columns"]).rows
        keys = self.execute(catalog_queries(schemas)["keys"]).rows
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, name, ttype, comment, rows in relations:
            if scope.allows(schema, name):
                kind = "view" if "VIEW" in str(ttype).upper() else "table"
                tables[(schema, name)] = CatalogTable(schema, name, kind, comment=comment, row_estimate=rows)
        attach_column_rows(tables, ((s, t, c, ty, n == "YES", cm, o) for s, t, c, ty, n, cm, o in columns))
        apply_key_rows(
            tables,
            (
                (sch, tbl, kind == "PRIMARY KEY", cname, col, rs, rt, rc)
                for sch, tbl, kind, cname, col, rs, rt, rc in keys
            ),
        )
        return Catalog(self.connection_id, self.driver, list(tables.values()))


def catalog_queries(schemas: str) -> dict[str, str]:
    """The catalog SQL, separate so its syntax is checked by tests even without a server."""
    return {
        "relations": (
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, CAST(ep.value AS NVARCHAR(4000)), "
            "(SELECT SUM(ps.row_count) FROM sys.dm_db_partition_stats ps "
            "WHERE ps.object_id = OBJECT_ID(QUOTENAME(t.TABLE_SCHEMA) + '.' + "
            "QUOTENAME(t.TABLE_NAME)) AND ps.index_id IN (0, 1)) "
            "FROM INFORMATION_SCHEMA.TABLES t "
            "LEFT JOIN sys.extended_properties ep ON ep.major_id = OBJECT_ID(QUOTENAME(t.TABLE_SCHEMA) + '.' + "
            "QUOTENAME(t.TABLE_NAME)) AND ep.minor_id = 0 AND ep.name = 'MS_Description' "
            f"WHERE t.TABLE_SCHEMA IN ({schemas}) ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME"
        ),
        "columns": (
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.IS_NULLABLE, "
            "CAST(ep.value AS NVARCHAR(4000)), c.ORDINAL_POSITION FROM INFORMATION_SCHEMA.COLUMNS c "
            "LEFT JOIN sys.extended_properties ep ON ep.major_id = OBJECT_ID(QUOTENAME(c.TABLE_SCHEMA) + '.' + "
            "QUOTENAME(c.TABLE_NAME)) AND ep.minor_id = COLUMNPROPERTY(ep.major_id, c.COLUMN_NAME, 'ColumnId') "
            "AND ep.name = 'MS_Description' "
            f"WHERE c.TABLE_SCHEMA IN ({schemas}) ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION"
        ),
        "keys": (
            "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, tc.CONSTRAINT_TYPE, k.CONSTRAINT_NAME, k.COLUMN_NAME, "
            "r.TABLE_SCHEMA, r.TABLE_NAME, r.COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE k "
            "JOIN INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
            "AND tc.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "LEFT JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
            "AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "LEFT JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE r ON r.CONSTRAINT_SCHEMA = rc.UNIQUE_CONSTRAINT_SCHEMA "
            "AND r.CONSTRAINT_NAME = rc.UNIQUE_CONSTRAINT_NAME AND r.ORDINAL_POSITION = k.ORDINAL_POSITION "
            f"WHERE k.TABLE_SCHEMA IN ({schemas}) AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'FOREIGN KEY') "
            "ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        ),
    }
