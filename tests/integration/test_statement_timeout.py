"""Every statement is bounded: statement_timeout_ms cancels it on each engine, and Ctrl+C cancels it too."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from ktx.errors import KtxError
from ktx.warehouse.connector import QueryTimeout
from tests.conftest import clean_env
from tests.integration.conftest import make_connector
from tests.integration.warehouses import build_duckdb, build_postgres, pg_connect

# Each would run for 30 s or far longer without a bound.
SLOW = {
    "postgres": "SELECT pg_sleep(30)",
    "mysql": "SELECT SLEEP(30)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "duckdb": "SELECT * FROM range(1000000000000) t(x) ORDER BY x DESC LIMIT 1",
}


def test_slow_statement_is_cancelled_with_a_clear_message_and_the_pool_recovers(warehouse):
    connector = make_connector(warehouse, statement_timeout_ms=1500)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout) as exc:
            connector.query(SLOW[warehouse.engine])
        elapsed = time.monotonic() - started
        assert exc.value.message.startswith("Query cancelled after 1.")
        assert exc.value.message.endswith(" s (statement_timeout_ms)")
        assert elapsed < 10, f"{warehouse.engine} ran {elapsed:.1f} s past a 1.5 s limit"
        assert connector.query("SELECT 1 AS a").rows == [[1]]
    finally:
        connector.close()


def test_trusted_internal_sql_is_bounded_too(warehouse):
    connector = make_connector(warehouse, statement_timeout_ms=60_000)
    try:
        with pytest.raises(QueryTimeout):
            connector.execute(SLOW[warehouse.engine], timeout_ms=1000)
    finally:
        connector.close()


def test_timeout_setting_is_validated():
    from ktx.project.config import KtxConfig

    with pytest.raises(Exception, match="statement_timeout_ms"):
        KtxConfig.model_validate({"connections": {"w": {"driver": "duckdb", "statement_timeout_ms": 5}}})
    config = KtxConfig.model_validate({"connections": {"w": {"driver": "duckdb"}}})
    assert config.connections["w"].statement_timeout_ms == 60_000


def _ctrl_c_project(tmp_path, entry: str):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "ktx.yaml").write_text(f"connections:\n  wh:\n{entry}")
    return project


def _interrupt_after(args: list[str], project, home, seconds: float) -> tuple[int, str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktx", *args],
        cwd=project,
        env=clean_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test runner may have left SIGINT ignored, which the child would inherit.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(seconds)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err, time.monotonic() - sent


def test_ctrl_c_cancels_a_running_postgres_statement(tmp_path):
    wh, drop = build_postgres(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    try:
        project = _ctrl_c_project(tmp_path, f"    driver: postgres\n    url: {wh.config['url']}\n")
        code, err, after = _interrupt_after(["sql", "-c", "wh", "SELECT pg_sleep(60) AS s"], project, home, 2.5)
        assert code == 130, err
        assert "Interrupted." in err and "Traceback" not in err
        assert after < 10
        with pg_connect() as admin:
            running = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        assert running == 0, "the statement kept running on the server after Ctrl+C"
    finally:
        drop()


def test_ctrl_c_cancels_a_running_duckdb_statement(tmp_path):
    wh = build_duckdb(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    project = _ctrl_c_project(tmp_path, f"    driver: duckdb\n    path: {wh.config['path']}\n")
    code, err, after = _interrupt_after(["sql", "-c", "wh", SLOW["duckdb"]], project, home, 2.5)
    assert code == 130, err
    assert after < 10


def test_a_timeout_is_a_ktx_error_with_exit_1(tmp_path):
    wh = build_duckdb(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    project = _ctrl_c_project(
        tmp_path, f"    driver: duckdb\n    path: {wh.config['path']}\n    statement_timeout_ms: 1000\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ktx", "sql", "-c", "wh", SLOW["duckdb"]],
        cwd=project,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Error: Query cancelled after 1." in result.stderr
    assert issubclass(QueryTimeout, KtxError)
