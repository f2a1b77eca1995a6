"""`count(*)` counts rows — every row of its source, at that source's grain — in every plan shape: one source,
dimension members kept by a FULL JOIN, and fan-out-protected CTEs. It used to count the first column (or the
key), so rows whose first column was NULL were skipped: tags(note, tag) with (NULL,'a'), (NULL,'a'), ('x','b')
gave a = 0."""

from __future__ import annotations

import sqlite3
import uuid

import duckdb
import pytest

from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.model import Source
from tests.integration.warehouses import pg_connect

ROWS = {
    # No key, and the first column is NULL on most rows.
    "tags": (
        "(note TEXT, tag TEXT, customer_id INTEGER)",
        [(None, "a", 1), (None, "a", 1), ("x", "b", 2), (None, "c", 9)],
    ),
    "customers": ("(id INTEGER, segment TEXT)", [(1, "smb"), (2, "ent"), (3, "gov")]),
    "notes": ("(body TEXT, customer_id INTEGER)", [(None, 1), (None, 2), (None, 2)]),
}
SOURCES = {
    "tags": {
        "name": "tags", "table": "tags", "grain": ["note", "tag", "customer_id"],
        "columns": [{"name": "note", "type": "string"}, {"name": "tag", "type": "string"},
                    {"name": "customer_id", "type": "number"}],
        "joins": [{"to": "customers", "on": "customer_id = customers.id", "relationship": "many_to_one"}],
        "measures": [{"name": "n", "expr": "count(*)"}, {"name": "n_one", "expr": "count(1)"},
                     {"name": "n_a", "expr": "count(*)", "filter": "tag = 'a'"},
                     {"name": "n_notes", "expr": "count(note)"}],
    },
    "customers": {
        "name": "customers", "table": "customers", "grain": ["id"],
        "columns": [{"name": "id", "type": "number"}, {"name": "segment", "type": "string"}],
        "measures": [{"name": "customer_count", "expr": "count(*)"}],
    },
    "notes": {
        "name": "notes", "table": "notes", "grain": ["body", "customer_id"],
        "columns": [{"name": "body", "type": "string"}, {"name": "customer_id", "type": "number"}],
        "joins": [{"to": "customers", "on": "customer_id = customers.id", "relationship": "many_to_one"}],
        "measures": [{"name": "note_count", "expr": "count(*)"}],
    },
}  # fmt: skip

CASES = [
    # (query, expected rows as a set of tuples)
    ({"measures": ["tags.n", "tags.n_one", "tags.n_notes"], "dimensions": ["tags.tag"]},
     {("a", 2, 2, 0), ("b", 1, 1, 1), ("c", 1, 1, 0)}),
    ({"measures": ["tags.n_a"]}, {(2,)}),
    # a FULL JOIN keeps segments without tags (gov) and tags whose customer is unknown (customer 9)
    ({"measures": ["tags.n"], "dimensions": ["customers.segment"]}, {("smb", 2), ("ent", 1), ("gov", 0), (None, 1)}),
    # two facts at once: each counted at its own grain (fan-out protection), no row of either skipped — the tag of
    # unknown customer 9 is a group with data even without empty members (and no notes)
    ({"measures": ["tags.n", "notes.note_count"], "dimensions": ["customers.segment"], "include_empty": False},
     {("smb", 2, 1), ("ent", 1, 2), (None, 1, 0)}),
]  # fmt: skip


def _engine(dialect: str) -> SemanticEngine:
    return SemanticEngine({name: Source.parse(data) for name, data in SOURCES.items()}, dialect)


def _normal(rows) -> set[tuple]:
    return {tuple(0 if v is None and i > 0 else (int(v) if isinstance(v, float | int) and i > 0 else v)
                  for i, v in enumerate(row)) for row in rows}  # fmt: skip


def _duckdb():
    con = duckdb.connect()
    for table, (ddl, rows) in ROWS.items():
        con.execute(f"CREATE TABLE {table} {ddl.replace('TEXT', 'VARCHAR')}")
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    return lambda sql: con.execute(sql).fetchall()


def _sqlite():
    con = sqlite3.connect(":memory:")
    for table, (ddl, rows) in ROWS.items():
        con.execute(f"CREATE TABLE {table} {ddl}")
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    return lambda sql: con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def postgres():
    admin = pg_connect()
    schema = f"ktx_count_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    admin.execute(f"SET search_path TO {schema}")
    for table, (ddl, rows) in ROWS.items():
        admin.execute(f"CREATE TABLE {table} {ddl}")
        with admin.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
    yield lambda sql: admin.execute(sql).fetchall()
    admin.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


@pytest.mark.parametrize(("query", "expected"), CASES, ids=["one-source", "filtered", "full-join", "two-facts"])
@pytest.mark.parametrize("dialect", ["duckdb", "sqlite", "postgres"])
def test_count_star_counts_every_row(dialect, query, expected, request):
    run = {"duckdb": _duckdb, "sqlite": _sqlite}.get(dialect) or (lambda: request.getfixturevalue("postgres"))
    sql = _engine(dialect).compile(query).sql
    assert _normal(run()(sql)) == expected, sql


@pytest.mark.parametrize(
    "dialect", ["duckdb", "sqlite", "postgres", "mysql", "tsql", "snowflake", "bigquery", "clickhouse"]
)
def test_no_dialect_counts_a_column_for_count_star(dialect):
    for query, _ in CASES:
        query = {**query, "measures": [m for m in query["measures"] if m != "tags.n_notes"]}  # count(note) is meant
        sql = _engine(dialect).compile(query).sql
        assert "COUNT(tags.note)" not in sql.replace('"', "").replace("`", "").replace("[", "").replace("]", "")
        assert "__ktx_row" not in sql or "AS __ktx_row" in sql.replace('"', "").replace("`", "")
