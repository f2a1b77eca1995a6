"""MySQL and MariaDB through PyMySQL. Introspection reads information_schema (three queries)."""

from __future__ import annotations

from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogTable, apply_key_rows, attach_column_rows
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import ServerSettingsMixin, sql_string_list

_WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "FILE")
_SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")


class MySQLConnector(ServerSettingsMixin, Connector):
    driver = "mysql"
    url_schemes = ("mysql", "mariadb")
    dialect = "mysql"
    default_max_connections = 10
    scope_keys = ("schemas",)

    def _open(self, **options: Any) -> Any:
        pymysql = require_module("pymysql", "mysql")
        s = self.settings()
        return pymysql.connect(
            host=s.host or "localhost", port=s.port or 3306, user=s.user or "root", password=s.password or "", **options
        )

    def _connect(self) -> Any:
        conn = self._open(database=self.settings().database, charset="utf8mb4", connect_timeout=10, autocommit=False)
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        return conn

    native_timeout = True

    def _cancel(self, conn: Any) -> None:
        """KILL QUERY from a second connection: the only way to stop a running MySQL statement."""
        killer = self._open(connect_timeout=5)
        try:
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {int(conn.thread_id())}")
        finally:
            killer.close()

    def privilege_warnings(self) -> list[str]:
        grants = " ".join(str(row[0]).upper() for row in self.execute("SHOW GRANTS").rows)
        if "ALL PRIVILEGES ON *.*" in grants or "SUPER" in grants:
            what = "has all privileges (superuser)"
        elif any(f"{word}," in grants or f"{word} ON" in grants for word in _WRITE_PRIVILEGES):
            what = "can write"
        else:
            return []
        return [
            f"the connection's user {what}; ktx still runs every statement read-only, but a SELECT-only user "
            "is the safer second wall"
        ]

    def _is_timeout(self, exc: BaseException) -> bool:
        # 1969: MariaDB max_statement_time; 3024: MySQL max_execution_time.
        return bool(getattr(exc, "args", None)) and exc.args[0] in (1969, 3024)

    def _set_timeout(self, cursor: Any, conn: Any, timeout_ms: int) -> None:
        if getattr(conn, "_ktx_timeout_ms", None) == timeout_ms:
            return
        cursor.execute("SELECT VERSION()")
        if "mariadb" in str(cursor.fetchone()[0]).lower():
            cursor.execute(f"SET SESSION max_statement_time = {timeout_ms / 1000:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {int(timeout_ms)}")
        conn._ktx_timeout_ms = timeout_ms

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        from pymysql.constants import FIELD_TYPE

        names = {v: k for k, v in vars(FIELD_TYPE).items() if isinstance(v, int)}
        from pymysql.cursors import Cursor, SSCursor

        # A user query streams (SSCursor), so a huge result is cut at max_result_bytes instead of buffered whole.
        with conn.cursor(SSCursor if max_bytes is not None else Cursor) as cursor:
            self._set_timeout(cursor, conn, timeout_ms)
            cursor.execute("START TRANSACTION READ ONLY")
            try:
                cursor.execute(sql)
                description = cursor.description or []
                fetched = self._fetch(cursor.fetchmany, cursor.fetchall, max_rows, max_bytes)
                return self._raw(
                    [d[0] for d in description], [names.get(d[1], str(d[1])) for d in description], fetched
                )
            finally:
                conn.rollback()

    def default_scope(self) -> list[str]:
        database = self.settings().database
        return [database] if database else []

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        schemas = list(scope.schemas) or self.default_scope()
        if schemas:
            where = f"TABLE_SCHEMA IN ({sql_string_list(schemas, backslash_escapes=True)})"
        else:
            where = f"TABLE_SCHEMA NOT IN ({sql_string_list(list(_SYSTEM_SCHEMAS), backslash_escapes=True)})"
        relations = self.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS FROM information_schema.TABLES "
            f"WHERE {where} ORDER BY TABLE_SCHEMA, TABLE_NAME"
        ).rows
        columns = self.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_COMMENT, ORDINAL_POSITION "
            f"FROM information_schema.COLUMNS WHERE {where} ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
        ).rows
        keys = self.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
            "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            f"WHERE {where} AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
        ).rows
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, name, ttype, comment, rows in relations:
            if scope.allows(schema, name):
                kind = "view" if "VIEW" in str(ttype).upper() else "table"
                comment = None if kind == "view" or not comment else comment
                tables[(schema, name)] = CatalogTable(schema, name, kind, comment=comment, row_estimate=rows)
        attach_column_rows(tables, ((s, t, c, ty, n == "YES", cm, o) for s, t, c, ty, n, cm, o in columns))
        apply_key_rows(
            tables,
            ((sch, tbl, cname == "PRIMARY", cname, col, rs, rt, rc) for sch, tbl, cname, col, rs, rt, rc in keys),
        )
        return Catalog(self.connection_id, self.driver, list(tables.values()))
