"""How far past statement_timeout_ms a runaway statement runs before ktx has cancelled it, per engine.

A statement that would run for 30 s or more is sent with a 2 s limit; the figure is the median overrun of 3 runs
(time until `QueryTimeout` minus the limit). PostgreSQL and MariaDB are skipped (with a note) when they are down.
Usage: python benchmarks/statement_timeout.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from ktx.project.config import KtxConfig
from ktx.warehouse.connector import QueryTimeout, connector_class

LIMIT_MS = 2000
SLOW = {
    "duckdb": "SELECT * FROM range(1000000000000) t(x) ORDER BY x DESC LIMIT 1",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "postgres": "SELECT pg_sleep(30)",
    "mysql": "SELECT SLEEP(30)",
}


def overrun(entry: dict, base: Path, sql: str) -> float:
    config = KtxConfig.model_validate({"connections": {"b": {**entry, "statement_timeout_ms": LIMIT_MS}}})
    samples = []
    for _ in range(3):
        conn = connector_class(entry["driver"])("b", config.connections["b"], base)
        started = time.perf_counter()
        try:
            conn.query(sql)
        except QueryTimeout:
            samples.append(time.perf_counter() - started - LIMIT_MS / 1000)
        finally:
            conn.close()
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        import duckdb

        duckdb.connect(str(base / "w.duckdb")).close()
        import sqlite3

        sqlite3.connect(base / "w.db").execute("CREATE TABLE t (a INTEGER)").connection.close()
        targets = {
            "duckdb": {"driver": "duckdb", "path": str(base / "w.duckdb")},
            "sqlite": {"driver": "sqlite", "path": str(base / "w.db")},
            "postgres": {"driver": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test"},
            "mysql": {"driver": "mysql", "url": "mysql://root@127.0.0.1:3306/test"},
        }
        for engine, entry in targets.items():
            try:
                figure = overrun(entry, base, SLOW[engine])
            except Exception as exc:  # a server that is not running here
                print(f"{engine:<9} skipped: {str(exc).splitlines()[0][:80]}")
                continue
            print(f"{engine:<9} limit {LIMIT_MS} ms, cancelled after +{figure * 1000:.0f} ms (median of 3)")


if __name__ == "__main__":
    main()
