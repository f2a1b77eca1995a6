"""PostgreSQL through psycopg 3.

Introspection reads pg_catalog directly (one query for relations and columns, one for keys):
faster than SQLAlchemy reflection, and unlike information_schema it is not filtered by
column privileges, so keys are seen even when the role cannot read every column.
"""

from __future__ import annotations

from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogColumn, CatalogTable, ForeignKey
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import ServerSettingsMixin

_RELATIONS_AND_COLUMNS = """
SELECT n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class'), c.reltuples::bigint,
       a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, col_description(c.oid, a.attnum), a.attnum
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s)
  -- Objects an extension owns (pg_stat_statements' views, PostGIS's spatial_ref_sys) are not the user's data;
  -- pg_stat_statements would even put other people's query texts into the profile.
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
"""

_KEYS = """
SELECT n.nspname, c.relname, k.contype, k.conname,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord),
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE k.contype IN ('p', 'f') AND n.nspname = ANY(%(schemas)s)
ORDER BY n.nspname, c.relname, k.conname
"""


_ROLE_WARNING = (
    "the connection's role {what}; ktx still runs every statement read-only, but a SELECT-only role "
    "is the safer second wall"
)


class PostgresConnector(ServerSettingsMixin, Connector):
    driver = "postgres"
    url_schemes = ("postgres", "postgresql")
    dialect = "postgres"
    default_max_connections = 10
    supports_query_history = True
    scope_keys = ("schema_", "schemas")
    default_schemas = ("public",)

    def _connect(self) -> Any:
        psycopg = require_module("psycopg", "postgres")
        s = self.settings()
        params: dict[str, Any] = {
            "host": s.host,
            "port": s.port,
            "user": s.user,
            "password": s.password,
            "dbname": s.database,
            "connect_timeout": 10,
            "application_name": "ktx",
            # Read-only by default for every transaction on this session, on top of BEGIN READ ONLY.
            "options": "-c default_transaction_read_only=on",
        }
        for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
            value = s.options.get(key) or getattr(self.config, key, None)
            if value:
                params[key] = value
        conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None})
        conn.read_only = True  # every transaction starts with BEGIN READ ONLY
        conn.prepare_threshold = None  # no server-side prepared statements: DISCARD ALL resets the session
        return conn

    native_timeout = True

    def user_function_names(self) -> frozenset[str]:
        # Asked on every query (one catalog read): a function created a moment ago must not slip through a cache.
        rows = self.execute(_USER_FUNCTIONS).rows
        return frozenset(str(name).lower() for (name,) in rows)

    def _cancel(self, conn: Any) -> None:
        conn.cancel()

    def privilege_warnings(self) -> list[str]:
        superuser, writes = self.execute(
            "SELECT r.rolsuper, EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) "
            "FROM pg_roles r WHERE r.rolname = current_user",
            max_rows=1,
        ).rows[0]
        if superuser:
            return [_ROLE_WARNING.format(what="is a superuser")]
        if writes:
            return [_ROLE_WARNING.format(what="can write to tables")]
        return []

    def _is_timeout(self, exc: BaseException) -> bool:
        return type(exc).__name__ == "QueryCanceled"

    def _reset(self, conn: Any) -> None:
        """Back to a clean session before the connection returns to the pool: advisory locks a function took,
        session settings, prepared statements and cursors (DISCARD ALL; it cannot run inside a transaction)."""
        conn.autocommit = True
        try:
            conn.execute("DISCARD ALL")
        finally:
            conn.autocommit = False

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        try:
            with conn.cursor() as setup:
                # SET LOCAL: the timeout ends with the transaction, so the pooled session keeps no state.
                setup.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            # A user query runs in a server-side cursor: rows come in batches, so a huge result is cut at
            # max_result_bytes instead of being buffered whole by libpq first.
            with conn.cursor(name="ktx_result") if max_bytes is not None else conn.cursor() as cursor:
                cursor.execute(sql)
                description = cursor.description or []
                fetched = self._fetch(cursor.fetchmany, cursor.fetchall, max_rows, max_bytes)
                types = [_type_name(conn, d.type_code) for d in description]
                return self._raw([d.name for d in description], types, fetched)
        finally:
            # Roll back even reads: anything a statement changed in the session (SET, set_config)
            # is undone before the connection returns to the pool — and what outlives a rollback
            # (a session-level advisory lock) is discarded too.
            conn.rollback()
            if max_bytes is not None:
                self._reset(conn)

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        schemas = list(scope.schemas) or list(self.default_schemas)
        warnings: list[str] = []
        with self.pool.connection() as conn:
            try:
                with conn.cursor() as cursor:
                    self.queries_issued += 2
                    cursor.execute(_RELATIONS_AND_COLUMNS, {"schemas": schemas})
                    columns = cursor.fetchall()
                    conn.rollback()
                    try:
                        cursor.execute(_KEYS, {"schemas": schemas})
                        keys = cursor.fetchall()
                    except Exception as exc:
                        # A role that may not read pg_constraint still gets its tables; keys are inferred instead.
                        conn.rollback()
                        keys = []
                        warnings.append(
                            f"catalog_permission_denied:keys: declared keys could not be read "
                            f"({self.describe_error(exc)}); primary and foreign keys are inferred from the data"
                        )
            except Exception as exc:
                from ktx.warehouse.connector import WarehouseError

                raise WarehouseError(self.describe_error(exc)) from None
            finally:
                conn.rollback()
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, name, relkind, comment, reltuples, col, ctype, nullable, col_comment, attnum in columns:
            if not scope.allows(schema, name):
                continue
            entry = tables.get((schema, name))
            if entry is None:
                kind = "view" if relkind in ("v", "m") else "table"
                estimate = int(reltuples) if reltuples is not None and reltuples >= 0 else None
                entry = tables[(schema, name)] = CatalogTable(
                    schema, name, kind, comment=comment, row_estimate=estimate
                )
            entry.columns.append(
                CatalogColumn.build(col, ctype, nullable=nullable, comment=col_comment, ordinal=attnum)
            )
        for schema, name, contype, conname, cols, ref_schema, ref_table, ref_cols in keys:
            entry = tables.get((schema, name))
            if entry is None:
                continue
            if contype == "p":
                entry.primary_key = list(cols)
            else:
                entry.foreign_keys.append(ForeignKey(list(cols), ref_schema, ref_table, list(ref_cols), conname))
        return Catalog(self.connection_id, self.driver, list(tables.values()), warnings)


def _type_name(conn: Any, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    return info.name if info is not None else str(oid)


# Functions defined in the database by its users: not pg_catalog's, not information_schema's, not an extension's.
_USER_FUNCTIONS = (
    "SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "
    "AND d.deptype = 'e')"
)
