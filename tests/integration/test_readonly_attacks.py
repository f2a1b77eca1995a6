"""The read-only attack suite: every write path is refused and the warehouse is unchanged after."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktx.errors import KtxError
from ktx.warehouse.readonly import ReadOnlyViolation

CORPUS = Path(__file__).parent.parent / "attacks"


def corpus(engine: str) -> list[tuple[str, str]]:
    """(verdict, statement) pairs from tests/attacks/common.txt and <engine>.txt."""
    entries = []
    for name in dict.fromkeys(("common.txt", f"{engine}.txt")):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line:
                continue
            verdict, _, sql = line.partition("\t")
            assert verdict in ("deny", "allow"), line
            entries.append((verdict, sql.replace("\\n", "\n")))
    return entries


def _fill(sql: str, warehouse) -> str:
    return (
        sql.replace("{tmp}", str(warehouse.tmp))
        .replace("{orders}", warehouse.qualify("orders"))
        .replace("{customers}", warehouse.qualify("customers"))
    )


def test_attack_corpus_has_no_escapes_and_changes_nothing(warehouse, connector):
    (warehouse.tmp / "secret.csv").write_text("a\n1\n")
    before = warehouse.snapshot()
    files_before = sorted(p.name for p in warehouse.tmp.iterdir())
    escaped, refused_reads = [], []
    entries = corpus(warehouse.engine)
    for verdict, statement in entries:
        sql = _fill(statement, warehouse)
        try:
            connector.query(sql, max_rows=5)
        except ReadOnlyViolation as exc:
            if verdict == "allow":
                refused_reads.append((statement, exc.message))
            continue
        except KtxError as exc:
            (escaped if verdict == "deny" else refused_reads).append((statement, exc.message))
            continue
        if verdict == "deny":
            escaped.append((statement, "ran"))
    assert escaped == []
    assert refused_reads == []
    assert warehouse.snapshot() == before
    assert sorted(p.name for p in warehouse.tmp.iterdir()) == files_before
    assert len(entries) >= 120


def test_gate_messages(connector):
    cases = {
        "SELECT 1; SELECT 2": "Only one SQL statement can be executed.",
        "": "SQL did not parse to a statement.",
        "DELETE FROM orders": "SQL contains read/write operation: Delete",
        "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x": "SQL contains read/write operation: Delete",
        "SELECT pg_read_file('/etc/passwd')": (
            "Function pg_read_file is not allowed in read-only queries: it reads or lists files."
        ),
        "SELECT * FROM ts_stat('select 1')": (
            "Function ts_stat is not allowed in read-only queries: it runs SQL given as text."
        ),
        "selec broken": "SQL is not a query: it must start with SELECT, WITH or VALUES (got 'selec').",
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


def test_duckdb_file_readers_need_the_external_access_opt_in(tmp_path):
    """The gate refuses DuckDB's file readers unless the connection opted into external access."""
    from tests.integration.conftest import make_connector
    from tests.integration.warehouses import build_duckdb

    wh = build_duckdb(tmp_path)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    conn = make_connector(wh)
    try:
        with pytest.raises(ReadOnlyViolation, match=r"Function read_csv is not allowed .*reads files"):
            conn.query(f"SELECT * FROM read_csv('{tmp_path}/secret.csv')")
        # The session is the second wall: with the gate bypassed, external access is still off.
        with pytest.raises(KtxError, match=r"external access|disabled"):
            conn.execute(f"SELECT * FROM read_csv('{tmp_path}/secret.csv')")
    finally:
        conn.close()
    opted_in = make_connector(wh, allow_external_access=True)
    try:
        assert opted_in.query(f"SELECT * FROM read_csv('{tmp_path}/secret.csv')").rows == [[1]]
    finally:
        opted_in.close()


def test_duckdb_session_is_capped_in_memory_and_threads(tmp_path):
    """ktx's own DuckDB session does not take 80% of the machine's memory and every core, and cannot lift its
    caps; a query past the cap fails with a message naming the setting that raises it."""
    from tests.integration.conftest import make_connector
    from tests.integration.warehouses import build_duckdb

    wh = build_duckdb(tmp_path)
    conn = make_connector(wh)
    try:
        assert conn.execute("SELECT current_setting('memory_limit')").rows[0][0] == "953.6 MiB"  # the 1GB default
    finally:
        conn.close()
    capped = make_connector(wh, memory_limit="20MB", threads=1)
    try:
        limit, threads = capped.execute("SELECT current_setting('memory_limit'), current_setting('threads')").rows[0]
        assert (limit, threads) == ("19.0 MiB", 1)
        with pytest.raises(KtxError, match=r"lock|configuration"):
            capped.execute("SET memory_limit = '8GB'")
        with pytest.raises(KtxError, match=r"memory_limit: 20MB; raise it on connections\.wh"):
            capped.execute(
                "SELECT s, count(*) FROM (SELECT md5(range::varchar) s FROM range(3000000)) GROUP BY s ORDER BY 2 DESC"
            )
    finally:
        capped.close()
