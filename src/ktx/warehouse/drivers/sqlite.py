"""SQLite through the standard library. Introspection joins sqlite_master with PRAGMA table functions."""

from __future__ import annotations

import sqlite3
from typing import Any

from ktx.warehouse.catalog import Catalog, CatalogColumn, CatalogTable, ForeignKey
from ktx.warehouse.connector import Connector, RawResult, Scope
from ktx.warehouse.drivers._paths import database_file


class SQLiteConnector(Connector):
    driver = "sqlite"
    dialect = "sqlite"
    default_max_connections = 4
    probe_sql = "SELECT count(*) FROM sqlite_master"

    def _connect(self) -> Any:
        path = database_file(self.connection_id, self.config, self.base_dir, ("sqlite",))
        # mode=ro: the file handle cannot write. query_only: no writes even to temp objects.
        # No attached databases: ATTACH could otherwise open another file read-write.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        return conn

    def _cancel(self, conn: Any) -> None:
        conn.interrupt()

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        cursor = conn.execute(sql)
        try:
            description = cursor.description or []
            fetched = self._fetch(cursor.fetchmany, cursor.fetchall, max_rows, max_bytes)
            types = _declared_types(fetched.rows, len(description))
            return self._raw([d[0] for d in description], types, fetched)
        finally:
            cursor.close()

    def _columns(self, warnings: list[str]) -> list[tuple[Any, ...]]:
        """Every column of every table and view; a view whose definition no longer resolves (its table was
        dropped) is skipped with a warning instead of failing the whole catalog."""
        from ktx.errors import KtxError

        try:
            return self.execute(
                'SELECT m.name, m.type, p.name, p.type, p."notnull", p.pk, p.cid FROM sqlite_master AS m '
                "JOIN pragma_table_info(m.name) AS p WHERE m.type IN ('table', 'view') "
                "AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
            ).rows
        except KtxError:
            pass
        names = self.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        ).rows
        rows: list[tuple[Any, ...]] = []
        for name, kind in names:
            literal = "'" + str(name).replace("'", "''") + "'"
            try:
                found = self.execute(
                    f'SELECT p.name, p.type, p."notnull", p.pk, p.cid FROM pragma_table_info({literal}) AS p '
                    "ORDER BY p.cid"
                ).rows
            except KtxError as exc:
                warnings.append(f"introspection_failed:{name}: {exc.message}")
                continue
            rows += [(name, kind, *row) for row in found]
        return rows

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        warnings: list[str] = []
        columns = self._columns(warnings)
        fks = self.execute(
            'SELECT m.name, f.id, f.seq, f."table", f."from", f."to" FROM sqlite_master AS m '
            "JOIN pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq"
        ).rows
        stats = self._row_estimates()
        tables: dict[str, CatalogTable] = {}
        pk_positions: dict[str, list[tuple[int, str]]] = {}
        for table, kind, column, ctype, notnull, pk, cid in columns:
            if not scope.allows(None, table):
                continue
            entry = tables.setdefault(table, CatalogTable(None, table, kind, row_estimate=stats.get(table)))
            entry.columns.append(CatalogColumn.build(column, ctype or "", nullable=not notnull, ordinal=cid))
            if pk:
                pk_positions.setdefault(table, []).append((pk, column))
        for table, positions in pk_positions.items():
            tables[table].primary_key = [c for _, c in sorted(positions)]
        grouped: dict[tuple[str, int], ForeignKey] = {}
        for table, fk_id, _seq, ref_table, from_col, to_col in fks:
            if table not in tables:
                continue
            fk = grouped.get((table, fk_id))
            if fk is None:
                fk = grouped[(table, fk_id)] = ForeignKey([], None, ref_table, [])
                tables[table].foreign_keys.append(fk)
            fk.columns.append(from_col)
            fk.ref_columns.append(to_col or "")
        for fk in (f for t in tables.values() for f in t.foreign_keys):
            if not any(fk.ref_columns):  # REFERENCES parent with no column list means its primary key
                parent = tables.get(fk.ref_table)
                fk.ref_columns = list(parent.primary_key) if parent else fk.ref_columns
        return Catalog(self.connection_id, self.driver, list(tables.values()), warnings)

    def _row_estimates(self) -> dict[str, int]:
        try:
            rows = self.execute("SELECT tbl, stat FROM sqlite_stat1 WHERE idx IS NULL OR idx = tbl").rows
        except Exception:
            return {}
        out = {}
        for table, stat in rows:
            try:
                out[table] = int(str(stat).split()[0])
            except (ValueError, IndexError):
                continue
        return out


def _declared_types(rows: list[tuple[Any, ...]], width: int) -> list[str]:
    """SQLite has no result types; report the storage class of the first non-null value."""
    names = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}
    types = []
    for i in range(width):
        value = next((r[i] for r in rows if r[i] is not None), None)
        types.append(names.get(type(value), "NULL" if value is None else type(value).__name__.upper()))
    return types
