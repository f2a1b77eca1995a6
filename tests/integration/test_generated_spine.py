"""The generated time spine: every day from 2000-01-01 to 2040-12-31, once each, from the same SQL transpiled to
each dialect — run on DuckDB, SQLite, PostgreSQL and MariaDB here, parsed back in all eight."""

from __future__ import annotations

import sqlite3
from datetime import date

import duckdb
import pytest
import sqlglot

from ktx.semantic.spine import END, START, spine_sql
from tests.integration.warehouses import PG_URL, _unavailable

DIALECTS = ["postgres", "duckdb", "sqlite", "mysql", "snowflake", "bigquery", "clickhouse", "tsql"]
SUMMARY = "SELECT count(*), count(DISTINCT day), min(day), max(day) FROM ({sql}) AS spine"
DAYS = (END - START).days + 1


def _check(row: tuple) -> None:
    count, distinct, first, last = row
    assert count == distinct == DAYS == 14976
    assert str(first)[:10] == "2000-01-01" and str(last)[:10] == "2040-12-31"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_spine_sql_reads_back_in_every_dialect(dialect: str) -> None:
    sqlglot.parse_one(spine_sql(dialect), read=dialect)


def test_every_day_once_on_duckdb_and_sqlite() -> None:
    _check(duckdb.connect().execute(SUMMARY.format(sql=spine_sql("duckdb"))).fetchone())
    _check(sqlite3.connect(":memory:").execute(SUMMARY.format(sql=spine_sql("sqlite"))).fetchone())


def test_every_day_once_on_postgres_and_mariadb() -> None:
    psycopg = pytest.importorskip("psycopg")
    pymysql = pytest.importorskip("pymysql")
    try:
        with psycopg.connect(PG_URL, connect_timeout=5) as con:
            _check(con.execute(SUMMARY.format(sql=spine_sql("postgres"))).fetchone())
        con = pymysql.connect(host="127.0.0.1", user="root", database="test", connect_timeout=5)
    except (psycopg.OperationalError, pymysql.err.OperationalError) as exc:
        _unavailable("PostgreSQL or MariaDB", exc)
    try:
        with con.cursor() as cur:
            cur.execute(SUMMARY.format(sql=spine_sql("mysql")))
            _check(cur.fetchone())
    finally:
        con.close()


def test_a_span_it_cannot_generate_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 100,000 days"):
        spine_sql("duckdb", date(2000, 1, 2), date(2000, 1, 1))
