"""DuckDB: the embedded default. Introspection reads duckdb_* catalog functions (one query each)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogTable, ForeignKey, attach_column_rows
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import sql_string_list
from ktx.warehouse.drivers._paths import database_file

_FILE_READERS = frozenset(
    {"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto", "read_text"}
)


# Buffer-pool growth after which a batch of profiling always closes the instance (release_cache); below it, the
# instance is closed once the work since opening is REOPEN_AMORTIZED times what opening took.
RELEASE_AT = 128 * 1024 * 1024
REOPEN_AMORTIZED = 10


def _cached_bytes(db: Any) -> int:
    cursor = db.cursor()
    try:
        [[used]] = cursor.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchall()
    finally:
        cursor.close()
    return int(used)


class DuckDBConnector(Connector):
    driver = "duckdb"
    dialect = "duckdb"
    default_max_connections = 4
    scope_keys = ("schemas",)
    # Tables per profiling query: planning DuckDB's profile query costs more than running it on a small table, and
    # ten tables per query nearly halve the profiling of thousands of them (benchmarks/ingest.py).
    profile_batch_size = 10

    _db: Any = None
    _db_lock = threading.Lock()
    _opened_bytes = 0
    _opened_at = 0.0
    _open_seconds = 0.0

    def _database(self) -> Any:
        duckdb = require_module("duckdb", "duckdb")
        with self._db_lock:
            if self._db is None:
                path = database_file(self.connection_id, self.config, self.base_dir, ("duckdb",))
                allow_external = bool(self.config.allow_external_access)
                # read_only: no writes to the file. No external access: no COPY TO / ATTACH / file reads or
                # extension downloads. lock_configuration: a query cannot SET these back.
                started = time.monotonic()
                self._db = duckdb.connect(
                    str(path),
                    read_only=True,
                    config={
                        "enable_external_access": allow_external,
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False,
                        "lock_configuration": True,
                        "memory_limit": str(self.config.memory_limit).strip(),
                        **({"threads": int(self.config.threads)} if self.config.threads else {}),
                    },
                )
                # What opening alone holds (the storage metadata of every table: ~220 MB for 100,000 tables):
                # release_cache measures what queries added on top.
                self._opened_bytes = _cached_bytes(self._db)
                self._opened_at = time.monotonic()
                self._open_seconds = self._opened_at - started
            return self._db

    def _connect(self) -> Any:
        return self._database().cursor()

    def _cancel(self, conn: Any) -> None:
        conn.interrupt()

    def gate_allowances(self) -> frozenset[str]:
        # A connection that opted into external access may read files with DuckDB's readers.
        if self.config.allow_external_access:
            return _FILE_READERS
        return frozenset()

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        conn.execute(sql)
        description = conn.description or []
        fetched = self._fetch(conn.fetchmany, conn.fetchall, max_rows, max_bytes)
        return self._raw([d[0] for d in description], [str(d[1]) for d in description], fetched)

    def describe_error(self, exc: BaseException) -> str:
        message = super().describe_error(exc)
        if type(exc).__name__ == "OutOfMemoryException":
            limit = str(self.config.memory_limit).strip()
            message += (
                f" (ktx caps its DuckDB session at memory_limit: {limit}; raise it on connections.{self.connection_id}"
                " in ktx.yaml if this query needs more)"
            )
        return message

    def release_cache(self, *, done: bool = False) -> None:
        """Free what DuckDB caches of the tables read so far: its buffer pool keeps every block a query touched (at
        least one per table) until memory_limit, so a scan of thousands of small tables would hold up to that
        limit. Closing the read-only instance frees it; the next query opens it again. Opening re-reads the whole
        catalog — instant for 5,000 tables, 2.3 s for 100,000 — so the instance is closed once queries have grown
        the pool by RELEASE_AT, or once the work since opening has paid for the reopen REOPEN_AMORTIZED times
        (at most a tenth of the scan spent reopening). (The locked configuration forbids lowering memory_limit to
        evict instead.) `done`: the caller's queries are over — close it whatever it holds (the instance of a
        100,000-table file is 1.4 GB before any query). Skipped while a query runs."""
        pool = self._pool
        if pool is not None and pool.in_use:
            return
        with self._db_lock:
            db = self._db
        if db is None:
            return
        paid_for = time.monotonic() - self._opened_at >= REOPEN_AMORTIZED * self._open_seconds
        # The pool is measured (a query) only when neither reason already closes it.
        if done or paid_for or _cached_bytes(db) - self._opened_bytes >= RELEASE_AT:
            self.close()

    def close(self) -> None:
        super().close()
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        where = "NOT internal AND database_name = current_database()"
        if scope.schemas:
            where += f" AND schema_name IN ({sql_string_list(scope.schemas)})"
        relations = self.execute(
            f"SELECT schema_name, table_name, 'table', comment, estimated_size FROM duckdb_tables() WHERE {where} "
            f"UNION ALL SELECT schema_name, view_name, 'view', comment, NULL FROM duckdb_views() "
            f"WHERE {where} AND NOT temporary ORDER BY 1, 2"
        ).rows
        columns = self.execute(
            "SELECT schema_name, table_name, column_name, data_type, is_nullable, comment, column_index "
            f"FROM duckdb_columns() WHERE {where} ORDER BY schema_name, table_name, column_index"
        ).rows
        constraints = self.execute(
            "SELECT schema_name, table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names, constraint_name FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')"
        ).rows
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, name, kind, comment, estimate in relations:
            if scope.allows(schema, name):
                tables[(schema, name)] = CatalogTable(
                    schema, name, kind, comment=comment or None, row_estimate=estimate
                )
        attach_column_rows(tables, columns)
        for schema, table, ctype, cols, ref_table, ref_cols, cname in constraints:
            entry = tables.get((schema, table))
            if entry is None:
                continue
            if ctype == "PRIMARY KEY":
                entry.primary_key = list(cols)
            else:
                entry.foreign_keys.append(ForeignKey(list(cols), schema, ref_table, list(ref_cols or []), cname))
        return Catalog(self.connection_id, self.driver, list(tables.values()))
