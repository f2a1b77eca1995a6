"""Real test warehouses on every engine that runs here, built from one schema description.

The schema has the awkward parts introspection must get right: mixed case, spaces,
reserved words and unicode in names, a composite primary key, single and composite
foreign keys, a view, and comments where the engine has them.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql://root@127.0.0.1:3306"


@dataclass
class Warehouse:
    engine: str
    config: dict[str, Any]  # the ktx.yaml connection entry
    schema: str | None  # where the tables live (None for sqlite)
    tmp: Path

    def qualify(self, table: str) -> str:
        q = "`" if self.engine == "mysql" else '"'
        name = f"{q}{table}{q}"
        return f"{q}{self.schema}{q}.{name}" if self.schema and self.engine in ("postgres", "mysql") else name

    def snapshot(self) -> dict[str, Any]:
        """Everything a write could change: table list and per-table row counts and checksums."""
        return _snapshot(self)


def _ddl(engine: str) -> list[str]:
    q = (lambda n: f"`{n}`") if engine == "mysql" else (lambda n: f'"{n}"')
    text = "VARCHAR(200)"
    ts = "DATETIME" if engine == "mysql" else "TIMESTAMP"
    stmts = [
        f"CREATE TABLE customers (id INTEGER NOT NULL PRIMARY KEY, {q('Full Name')} {text}, email {text}, "
        f"{q('select')} INTEGER, region {text})",
        f"CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), "
        f"amount DECIMAL(10,2), status {text}, created_at {ts}, is_gift BOOLEAN)",
        f"CREATE TABLE {q('order items')} (order_id INTEGER NOT NULL REFERENCES orders (id), line_no INTEGER NOT NULL, "
        f"sku {text}, qty INTEGER, PRIMARY KEY (order_id, line_no))",
        f"CREATE TABLE shipments (id INTEGER NOT NULL PRIMARY KEY, order_id INTEGER, line_no INTEGER, "
        f"FOREIGN KEY (order_id, line_no) REFERENCES {q('order items')} (order_id, line_no))",
        f"CREATE TABLE {q('CustomerAccounts')} ({q('AccountID')} INTEGER NOT NULL PRIMARY KEY, {q('OwnerName')} {text})",
        f"CREATE TABLE {q('café')} ({q('naïve')} {text}, {q('größe')} INTEGER)",
        "CREATE VIEW paid_orders AS SELECT id, customer_id, amount FROM orders WHERE status = 'paid'",
    ]
    if engine == "mysql":
        stmts = [s.replace("REFERENCES customers (id)", "").replace("REFERENCES orders (id)", "") for s in stmts]
        stmts.insert(2, "ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id)")
        stmts.insert(4, f"ALTER TABLE {q('order items')} ADD FOREIGN KEY (order_id) REFERENCES orders (id)")
        stmts.append("ALTER TABLE customers COMMENT = 'People who buy things'")
        stmts.append(f"ALTER TABLE customers MODIFY email {text} COMMENT 'Primary contact address'")
    elif engine in ("postgres", "duckdb"):
        stmts.append("COMMENT ON TABLE customers IS 'People who buy things'")
        stmts.append("COMMENT ON COLUMN customers.email IS 'Primary contact address'")
    return stmts


def _rows(engine: str) -> list[str]:
    q = (lambda n: f"`{n}`") if engine == "mysql" else (lambda n: f'"{n}"')
    true, false = ("TRUE", "FALSE") if engine != "sqlite" else ("1", "0")
    customers = ", ".join(
        f"({i}, 'Customer {i}', {'NULL' if i % 5 == 0 else repr(f'c{i}@example.com')}, {i % 3}, "
        f"'{['north', 'south', 'east'][i % 3] if i != 7 else 'north'}')"
        for i in range(1, 21)
    )
    statuses = ["paid", "paid", "refunded", "pending"]
    orders = ", ".join(
        f"({i}, {1 + i % 20}, {i * 10 + 0.5}, '{statuses[i % 4]}', '2024-0{1 + i % 9}-1{i % 10} 10:00:00', "
        f"{true if i % 7 == 0 else false})"
        for i in range(1, 41)
    )
    items = ", ".join(f"({1 + i // 2}, {i % 2}, 'SKU-{i % 6}', {1 + i % 4})" for i in range(0, 60))
    return [
        f"INSERT INTO customers VALUES {customers}",
        f"INSERT INTO orders VALUES {orders}",
        f"INSERT INTO {q('order items')} VALUES {items}",
        "INSERT INTO shipments VALUES (1, 1, 0), (2, 1, 1)",
        f"INSERT INTO {q('CustomerAccounts')} VALUES (1, 'Ana'), (2, 'Bo')",
        f"INSERT INTO {q('café')} VALUES ('oui', 3)",
    ]


def require_services() -> bool:
    return os.environ.get("KTX_REQUIRE_SERVICES") == "1"


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc}"
    if require_services():
        pytest.fail(message)
    pytest.skip(message)


def build_duckdb(tmp: Path) -> Warehouse:
    import duckdb

    path = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    for stmt in _ddl("duckdb") + _rows("duckdb"):
        con.execute(stmt)
    con.close()
    return Warehouse("duckdb", {"driver": "duckdb", "path": str(path)}, "main", tmp)


def build_sqlite(tmp: Path) -> Warehouse:
    path = tmp / "warehouse.db"
    con = sqlite3.connect(path)
    for stmt in _ddl("sqlite") + _rows("sqlite"):
        con.execute(stmt)
    con.commit()
    con.close()
    return Warehouse("sqlite", {"driver": "sqlite", "path": str(path)}, None, tmp)


def build_postgres(tmp: Path) -> tuple[Warehouse, Any]:
    import psycopg

    schema = f"ktx_t_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    admin.execute(f'SET search_path TO "{schema}"')
    for stmt in _ddl("postgres") + _rows("postgres"):
        admin.execute(stmt)
    admin.execute("ANALYZE")

    def drop() -> None:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()

    config = {"driver": "postgres", "url": PG_URL, "schemas": [schema]}
    return Warehouse("postgres", config, schema, tmp), drop


def build_mysql(tmp: Path) -> tuple[Warehouse, Any]:
    import pymysql

    database = f"ktx_t_{uuid.uuid4().hex[:10]}"
    try:
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True, connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        _unavailable("MariaDB/MySQL at 127.0.0.1:3306", exc)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{database}`")
        for stmt in _ddl("mysql") + _rows("mysql"):
            cur.execute(stmt)
        cur.execute("ANALYZE TABLE customers, orders")

    def drop() -> None:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")
        admin.close()

    config = {"driver": "mysql", "url": f"{MYSQL_URL}/{database}"}
    return Warehouse("mysql", config, database, tmp), drop


def _snapshot(wh: Warehouse) -> dict[str, Any]:
    tables = ["customers", "orders", "order items", "shipments", "CustomerAccounts", "café"]
    out: dict[str, Any] = {}
    if wh.engine == "duckdb":
        # A separate process: DuckDB refuses a second in-process handle with another configuration.
        return _duckdb_snapshot(wh, tables)
    if wh.engine == "sqlite":
        con = sqlite3.connect(wh.config["path"])
        run = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        out["relations"] = run("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        closer = con.close
    elif wh.engine == "postgres":
        import psycopg

        con = psycopg.connect(PG_URL, autocommit=True)
        run = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        out["relations"] = run(
            f"SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '{wh.schema}' ORDER BY 1"
        )
        out["columns"] = run(
            f"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{wh.schema}' ORDER BY 1, 2"
        )
        closer = con.close
    else:
        import pymysql

        con = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
        cur = con.cursor()

        def run(sql: str) -> list[Any]:
            cur.execute(sql)
            return list(cur.fetchall())

        out["relations"] = run(
            f"SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '{wh.schema}' ORDER BY 1"
        )
        out["columns"] = run(
            f"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{wh.schema}' ORDER BY 1, 2"
        )
        closer = con.close
    for table in tables:
        name = wh.qualify(table)
        out[table] = run(f"SELECT * FROM {name} ORDER BY 1, 2")
    closer()
    return out


def _duckdb_snapshot(wh: Warehouse, tables: list[str]) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "out = {'relations': con.execute(\"SELECT table_name FROM duckdb_tables() UNION ALL "
        'SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()}\n'
        "for t in json.loads(sys.argv[2]):\n"
        "    out[t] = con.execute(f'SELECT * FROM \"{t}\" ORDER BY 1, 2').fetchall()\n"
        "print(json.dumps(out, default=str))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, wh.config["path"], json.dumps(tables)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def pg_connect() -> Any:
    """An admin connection to the local PostgreSQL (skips, or fails in CI, when it is not running)."""
    import psycopg

    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)


def mysql_connect() -> Any:
    """An admin connection to the local MariaDB, on the `test` database."""
    import pymysql

    try:
        return pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test", connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        _unavailable("MariaDB/MySQL at 127.0.0.1:3306", exc)
