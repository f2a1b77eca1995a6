"""The read-only attack suite: every write path is refused and the warehouse is unchanged after."""

from __future__ import annotations

import pytest

from ktx.errors import KtxError
from ktx.warehouse.readonly import ReadOnlyViolation

COMMON = [
    "DELETE FROM orders",
    "delete from orders where 1=1",
    "UPDATE orders SET amount = 0",
    "INSERT INTO orders (id) VALUES (999)",
    "DROP TABLE orders",
    "DROP VIEW paid_orders",
    "CREATE TABLE stolen (a INTEGER)",
    "CREATE TABLE stolen AS SELECT * FROM orders",
    "ALTER TABLE orders ADD COLUMN z INTEGER",
    "TRUNCATE TABLE orders",
    "SELECT 1; DELETE FROM orders",
    "SELECT 1; DROP TABLE orders --",
    "select * from orders;\n;delete from orders",
    "/* a comment */ DeLeTe FROM orders",
    "-- leading comment\nDELETE FROM orders",
    "/* SELECT */ UPDATE orders SET status = 'x'",
    "  (DELETE FROM orders)",
    "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x",
    "WITH x AS (SELECT 1) DELETE FROM orders",
    "WITH x AS (UPDATE orders SET amount = 0 RETURNING id) SELECT count(*) FROM x",
    "SELECT * INTO stolen FROM orders",
    "SELECT * FROM orders FOR UPDATE",
    "GRANT ALL ON orders TO PUBLIC",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SET x = 1",
    "MERGE INTO orders USING customers ON orders.id = customers.id WHEN MATCHED THEN DELETE",
    "",
    "   ",
    "-- only a comment",
]

BY_ENGINE = {
    "postgres": [
        "COPY orders TO '/tmp/ktx_attack.csv'",
        "COPY orders FROM '/tmp/ktx_attack.csv'",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT nextval('some_seq')",
        "SELECT pg_terminate_backend(1)",
        "SELECT * FROM dblink('host=x', 'delete from orders') AS t(a int)",
        "CALL some_proc()",
        "DO $$ BEGIN DELETE FROM orders; END $$",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "PREPARE p AS DELETE FROM orders",
        "VACUUM orders",
        "ANALYZE orders",
        "REFRESH MATERIALIZED VIEW paid_orders",
        "SET default_transaction_read_only = off",
        "RESET ALL",
        "LISTEN ktx",
        "LOCK TABLE orders",
        "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
        "SELECT query_to_xml('delete from orders', true, true, '')",
    ],
    "duckdb": [
        "COPY orders TO '{tmp}/out.csv'",
        "COPY (SELECT * FROM orders) TO '{tmp}/out.parquet' (FORMAT parquet)",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "DETACH other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "EXPORT DATABASE '{tmp}/export'",
        "IMPORT DATABASE '{tmp}/export'",
        "CHECKPOINT",
        "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
        "SUMMARIZE orders",
        "USE other",
        "CREATE MACRO m(a) AS a + 1",
    ],
    "sqlite": [
        "PRAGMA writable_schema = 1",
        "PRAGMA query_only = 0",
        "ATTACH DATABASE '{tmp}/other.db' AS other",
        "VACUUM INTO '{tmp}/copy.db'",
        "VACUUM",
        "REINDEX",
        "REPLACE INTO orders (id) VALUES (1)",
        "INSERT OR REPLACE INTO orders (id) VALUES (1)",
        "SELECT load_extension('/tmp/evil')",
        "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END",
        "ANALYZE",
    ],
    "mysql": [
        "SELECT * FROM orders INTO OUTFILE '/tmp/ktx_attack.txt'",
        "SELECT * INTO @x FROM orders LIMIT 1",
        "LOAD DATA INFILE '/tmp/x' INTO TABLE orders",
        "SELECT load_file('/etc/passwd')",
        "SELECT GET_LOCK('ktx', 1)",
        "SET GLOBAL max_connections = 1",
        "SET SESSION TRANSACTION READ WRITE",
        "HANDLER orders OPEN",
        "LOCK TABLES orders WRITE",
        "REPLACE INTO orders (id) VALUES (1)",
        "RENAME TABLE orders TO o2",
        "CALL some_proc()",
        "DO SLEEP(0)",
        "FLUSH TABLES",
        "KILL 1",
        "SHOW TABLES",
        "OPTIMIZE TABLE orders",
        "INSERT INTO orders (id) SELECT 1000 + id FROM orders",
    ],
}


def attacks_for(engine: str) -> list[str]:
    return COMMON + BY_ENGINE[engine]


def test_every_attack_is_refused_and_nothing_changes(warehouse, connector):
    before = warehouse.snapshot()
    files_before = sorted(p.name for p in warehouse.tmp.iterdir())
    accepted = []
    for attack in attacks_for(warehouse.engine):
        sql = attack.replace("{tmp}", str(warehouse.tmp))
        try:
            connector.query(sql, max_rows=5)
        except KtxError:
            continue
        accepted.append(attack)
    assert accepted == []
    assert warehouse.snapshot() == before
    assert sorted(p.name for p in warehouse.tmp.iterdir()) == files_before


def test_gate_messages(connector):
    cases = {
        "SELECT 1; SELECT 2": "Only one SQL statement can be executed.",
        "": "SQL did not parse to a statement.",
        "DELETE FROM orders": "SQL contains read/write operation: Delete",
        "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x": "SQL contains read/write operation: Delete",
        "SELECT pg_read_file('/etc/passwd')": "SQL calls a function with side effects: pg_read_file",
    }
    for sql, message in cases.items():
        with pytest.raises(ReadOnlyViolation) as exc:
            connector.query(sql)
        assert exc.value.message == message, sql


def test_session_itself_is_read_only_when_the_gate_is_bypassed(warehouse, connector):
    """Defence in depth: trusted internal SQL goes through the same read-only session."""
    before = warehouse.snapshot()
    table = warehouse.qualify("orders")
    for sql in (
        f"DELETE FROM {table}",
        f"UPDATE {table} SET amount = 0",
        f"CREATE TABLE {warehouse.qualify('x')} (a INTEGER)",
    ):
        with pytest.raises(KtxError):
            connector.execute(sql)
    assert warehouse.snapshot() == before


def test_session_settings_do_not_leak_between_pooled_queries(warehouse, connector):
    if warehouse.engine != "postgres":
        pytest.skip("set_config is PostgreSQL-specific")
    table = warehouse.qualify("orders")
    # Bypassing the gate on purpose: even a session-level change is rolled back with the transaction.
    connector.execute("SELECT set_config('default_transaction_read_only', 'off', false)")
    assert connector.execute("SHOW default_transaction_read_only").rows == [("on",)]
    with pytest.raises(KtxError):
        connector.execute(f"DELETE FROM {table}")


def test_plain_reads_with_tricky_text_still_work(warehouse, connector):
    orders = warehouse.qualify("orders")
    ok = [
        f"SELECT 'DELETE FROM orders; DROP TABLE x' AS s FROM {orders} LIMIT 1",
        f"-- leading comment\nSELECT count(*) FROM {orders};",
        f"WITH recent AS (SELECT * FROM {orders} WHERE status = 'paid') SELECT count(*) AS n FROM recent",
        f"SELECT id FROM {orders} UNION SELECT id FROM {orders}",
        f"(SELECT id FROM {orders})",
    ]
    for sql in ok:
        assert connector.query(sql, max_rows=5).rows, sql


def test_duckdb_blocks_file_access_at_runtime(tmp_path):
    """Reads of local files pass the parser gate but the DuckDB session has external access off."""
    from tests.integration.conftest import make_connector
    from tests.integration.warehouses import build_duckdb

    wh = build_duckdb(tmp_path)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    conn = make_connector(wh)
    try:
        with pytest.raises(KtxError, match=r"external access|disabled"):
            conn.query(f"SELECT * FROM read_csv('{tmp_path}/secret.csv')")
    finally:
        conn.close()
    opted_in = make_connector(wh, allow_external_access=True)
    try:
        assert opted_in.query(f"SELECT * FROM read_csv('{tmp_path}/secret.csv')").rows == [[1]]
    finally:
        opted_in.close()
