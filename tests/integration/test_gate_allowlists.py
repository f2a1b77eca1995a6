"""Every allow-list entry is a real, pure function of its engine and passes the gate (one test per entry)."""

from __future__ import annotations

from importlib import resources

import pytest

from ktx.warehouse.readonly import ReadOnlyViolation, gate_statement
from ktx.warehouse.sqlpolicy import allow_list_entries, check_function

DIALECTS = ("postgres", "duckdb", "sqlite", "mysql", "clickhouse", "snowflake", "bigquery", "tsql")
# PostgreSQL functions that are volatile yet harmless; each is marked `volatile:` in postgres.txt.
ARGUMENT_SHAPES = ("x", "x, y", "", "x, y, z", "x, y, z, w", "x, INTERVAL 1 DAY", "x AS INT")


def _entries() -> list[tuple[str, str, str]]:
    out = []
    for dialect in DIALECTS:
        text = resources.files("ktx.warehouse.functions").joinpath(f"{dialect}.txt").read_text("utf-8")
        out.extend((dialect, name, note) for name, note in allow_list_entries(text))
    return out


ENTRIES = _entries()
IDS = [f"{d}:{n}" for d, n, _ in ENTRIES]


@pytest.mark.parametrize(("dialect", "name", "note"), ENTRIES, ids=IDS)
def test_entry_passes_the_gate(dialect, name, note):
    last = None
    for args in ARGUMENT_SHAPES:
        try:
            gate_statement(f"SELECT {name}({args}) FROM t", dialect)
            return
        except ReadOnlyViolation as exc:
            last = exc.message
            assert "is not allowed" not in exc.message, exc.message
    pytest.fail(f"no argument shape of {name} parses on {dialect}: {last}")


@pytest.fixture(scope="module")
def pg_functions():
    from tests.integration.warehouses import pg_connect

    with pg_connect() as conn:
        rows = conn.execute("SELECT proname, string_agg(DISTINCT provolatile::text, '') FROM pg_proc GROUP BY 1")
        return dict(rows.fetchall())


@pytest.mark.parametrize(
    ("name", "note"), [(n, note) for d, n, note in ENTRIES if d == "postgres"], ids=lambda v: str(v)
)
def test_postgres_entry_exists_and_is_not_volatile_unless_reviewed(pg_functions, name, note):
    assert name in pg_functions, f"{name} is not a PostgreSQL function"
    if "v" in pg_functions[name]:
        assert note.startswith("volatile:"), f"{name} is volatile; mark it `# volatile: why it is harmless`"


@pytest.fixture(scope="module")
def duckdb_functions():
    import duckdb

    with duckdb.connect() as conn:
        return {r[0] for r in conn.execute("SELECT function_name FROM duckdb_functions()").fetchall()}


@pytest.mark.parametrize("name", [n for d, n, _ in ENTRIES if d == "duckdb"])
def test_duckdb_entry_exists(duckdb_functions, name):
    assert name in duckdb_functions


@pytest.fixture(scope="module")
def sqlite_functions():
    import sqlite3

    conn = sqlite3.connect(":memory:")
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM pragma_function_list")}
        names |= {r[0] for r in conn.execute("SELECT name FROM pragma_module_list")}
        names |= {f"pragma_{r[0]}" for r in conn.execute("SELECT name FROM pragma_pragma_list")}
        return names
    finally:
        conn.close()


@pytest.mark.parametrize("name", [n for d, n, _ in ENTRIES if d == "sqlite"])
def test_sqlite_entry_exists(sqlite_functions, name):
    assert name in sqlite_functions


@pytest.fixture(scope="module")
def mariadb():
    from tests.integration.warehouses import mysql_connect

    conn = mysql_connect()
    yield conn
    conn.close()


@pytest.mark.parametrize("name", [n for d, n, _ in ENTRIES if d == "mysql"])
def test_mysql_entry_exists(mariadb, name):
    """MariaDB has no catalog of built-ins: calling an unknown function fails with 1305, a known one never does."""
    import pymysql

    with mariadb.cursor() as cursor:
        try:
            cursor.execute(f"SELECT {name}()")
        except pymysql.MySQLError as exc:
            assert exc.args[0] != 1305, f"{name}: {exc}"


def test_unknown_and_user_defined_functions_are_refused_with_their_name():
    import sqlglot

    for dialect, sql, expected in (
        ("postgres", "SELECT pg_read_file('x')", "Function pg_read_file is not allowed in read-only queries"),
        ("postgres", "SELECT public.f(1)", "Function public.f is not allowed in read-only queries"),
        ("mysql", "SELECT GET_LOCK('a', 1)", "Function get_lock is not allowed in read-only queries"),
        ("duckdb", "SELECT getenv('HOME')", "Function getenv is not allowed in read-only queries"),
    ):
        call = next(n for n in sqlglot.parse_one(sql, read=dialect).walk() if isinstance(n, sqlglot.exp.Anonymous))
        refusal = check_function(call, dialect)
        assert refusal is not None and refusal.message.startswith(expected), sql
