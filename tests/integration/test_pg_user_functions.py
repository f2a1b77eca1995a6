"""PostgreSQL: user-defined functions never run through the read-only gate — neither by attribute notation
(`c.canary_touch` calls `canary_touch(c)`) nor by an overload that shadows a built-in (`length(42)` resolving to
`public.length(integer)`) — and a pooled session comes back clean (advisory locks released) after every query.
Each test gets a database of its own: the functions it creates must not shadow names for other tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ktx.errors import KtxError
from ktx.project.config import KtxConfig
from ktx.warehouse.connector import connector_class
from tests.integration.warehouses import PG_URL, pg_connect

CANARY = """
CREATE TABLE canary (id int);
INSERT INTO canary VALUES (1), (2);
CREATE FUNCTION canary_touch(c canary) RETURNS int LANGUAGE sql AS
  $$ SELECT 1 FROM (SELECT pg_advisory_lock(4242)) AS taken $$;
CREATE FUNCTION public.length(n integer) RETURNS int LANGUAGE sql AS
  $$ SELECT 1 FROM (SELECT pg_advisory_lock(4343)) AS taken $$;
CREATE FUNCTION public.abs(t text) RETURNS int LANGUAGE sql AS
  $$ SELECT 1 FROM (SELECT pg_advisory_lock(4444)) AS taken $$;
"""


@pytest.fixture
def database():
    admin = pg_connect()
    name = f"ktx_fn_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    import psycopg

    with psycopg.connect(url, autocommit=True) as setup:
        for statement in filter(str.strip, CANARY.split(";\n")):
            setup.execute(statement)
    try:
        yield url
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def _connector(url: str, tmp_path: Path):
    config = KtxConfig.model_validate({"connections": {"pg": {"driver": "postgres", "url": url}}})
    return connector_class("postgres")("pg", config.connections["pg"], tmp_path)


def _advisory_locks(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT c.canary_touch FROM canary c", "attribute notation"),
        ("SELECT canary.canary_touch FROM canary", "attribute notation"),
        ("SELECT length(42)", "defines its own function named length"),
        ("SELECT abs('x'::text)", "defines its own function named abs"),
        ("SELECT id FROM canary WHERE length(id) = 1", "defines its own function named length"),
    ],
)
def test_user_functions_are_refused_and_never_run(database, tmp_path, sql, fragment):
    connector = _connector(database, tmp_path)
    try:
        with pytest.raises(KtxError) as refused:
            connector.query(sql)
        assert fragment in refused.value.message
    finally:
        connector.close()
    assert _advisory_locks(database) == 0


def test_built_ins_and_columns_still_work(database, tmp_path):
    connector = _connector(database, tmp_path)
    try:
        assert connector.query("SELECT upper('a'), c.id FROM canary c ORDER BY c.id").rows == [["A", 1], ["A", 2]]
    finally:
        connector.close()


def test_a_pooled_session_is_reset_after_every_query(database, tmp_path):
    """What outlives a rollback (a session advisory lock) is discarded before the connection is reused."""
    connector = _connector(database, tmp_path)
    try:
        connector.execute("SELECT pg_advisory_lock(4545)", max_rows=1, max_bytes=1 << 20)  # as a user query runs
        assert _advisory_locks(database) == 0
        assert connector.query("SELECT 1").rows == [[1]]  # the reset connection is still read-only and usable
    finally:
        connector.close()
