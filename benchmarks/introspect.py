"""Introspection of 500 tables × 20 columns on DuckDB and PostgreSQL: seconds and queries issued.

Median of 5 runs after one warm-up. PostgreSQL is skipped (with a note) if 127.0.0.1:5432 is down.
Usage: python benchmarks/introspect.py [tables] [columns]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ktx.project.config import KtxConfig
from ktx.warehouse.connector import connector_class

TABLES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
COLUMNS = int(sys.argv[2]) if len(sys.argv) > 2 else 20


def ddl(i: int) -> str:
    cols = ", ".join(f"c{j} {'INTEGER' if j % 3 else 'VARCHAR(40)'}" for j in range(1, COLUMNS))
    ref = f" REFERENCES t{i - 1:04d} (id)" if i else ""
    return f"CREATE TABLE t{i:04d} (id INTEGER PRIMARY KEY, {cols}, parent_id INTEGER{ref})"


def measure(entry: dict, base: Path) -> tuple[float, int, int]:
    config = KtxConfig.model_validate({"connections": {"b": entry}})
    samples = []
    for run in range(6):
        conn = connector_class(entry["driver"])("b", config.connections["b"], base)
        started = time.perf_counter()
        catalog = conn.introspect()
        elapsed = time.perf_counter() - started
        queries = conn.queries_issued
        conn.close()
        if run:
            samples.append(elapsed)
    return statistics.median(samples), queries, len(catalog.tables)


def duckdb_case(tmp: Path) -> None:
    import duckdb

    path = tmp / "bench.duckdb"
    con = duckdb.connect(str(path))
    for i in range(TABLES):
        con.execute(ddl(i))
    con.close()
    seconds, queries, found = measure({"driver": "duckdb", "path": str(path)}, tmp)
    print(
        f"duckdb     {TABLES} tables × {COLUMNS} cols: median {seconds:.3f} s, {queries} queries, {found} tables found"
    )


def postgres_case(tmp: Path) -> None:
    import psycopg

    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"postgres   skipped: {exc}")
        return
    admin.execute("DROP SCHEMA IF EXISTS ktx_bench CASCADE")
    admin.execute("CREATE SCHEMA ktx_bench")
    admin.execute("SET search_path TO ktx_bench")
    with admin.transaction():
        for i in range(TABLES):
            admin.execute(ddl(i))
    try:
        entry = {"driver": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test", "schemas": ["ktx_bench"]}
        seconds, queries, found = measure(entry, tmp)
        print(
            f"postgres   {TABLES} tables × {COLUMNS} cols: median {seconds:.3f} s, {queries} queries, {found} tables found"
        )
    finally:
        admin.execute("DROP SCHEMA ktx_bench CASCADE")
        admin.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        duckdb_case(Path(tmp))
        postgres_case(Path(tmp))


if __name__ == "__main__":
    main()
