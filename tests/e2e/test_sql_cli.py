"""`ktx sql` and `ktx connection test` through the real CLI process."""

from __future__ import annotations

import json

from tests.integration.warehouses import build_duckdb, build_sqlite


def _project_with_warehouses(project, tmp_path):
    duck = build_duckdb(tmp_path)
    lite = build_sqlite(tmp_path)
    (project / "ktx.yaml").write_text(
        "connections:\n"
        f"  warehouse:\n    driver: duckdb\n    path: {duck.config['path']}\n"
        f"  lite:\n    driver: sqlite\n    path: {lite.config['path']}\n"
        "  broken:\n    driver: postgres\n    url: postgresql://ktx:Pa55word-x@127.0.0.1:1/db\n"
        "  notes:\n    driver: dbt\n    source_dir: dbt\n"
    )


def test_sql_json_output(run_ktx, project, tmp_path):
    _project_with_warehouses(project, tmp_path)
    result = run_ktx(
        "sql",
        "-c",
        "warehouse",
        "--json",
        "select status, count(*) as n from orders group by 1 order by 1",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["connectionId"] == "warehouse"
    assert data["headers"] == ["status", "n"]
    assert data["rows"] == [["paid", 20], ["pending", 10], ["refunded", 10]]
    assert data["rowCount"] == 3 and data["truncated"] is False


def test_sql_plain_is_tsv_with_header_and_words_are_joined(run_ktx, project, tmp_path):
    _project_with_warehouses(project, tmp_path)
    result = run_ktx(
        "sql",
        "-c",
        "lite",
        "--output",
        "plain",
        "select",
        "id,",
        "email",
        "from",
        "customers",
        "where",
        "id",
        "in",
        "(4,5)",
        "order",
        "by",
        "id",
        cwd=project,
    )
    assert result.stdout == "id\temail\n4\tc4@example.com\n5\t\n"


def test_sql_truncation_note_and_pretty_footer(run_ktx, project, tmp_path):
    _project_with_warehouses(project, tmp_path)
    plain = run_ktx(
        "sql",
        "-c",
        "warehouse",
        "--max-rows",
        "2",
        "--output",
        "plain",
        "select id from orders order by id",
        cwd=project,
    )
    assert plain.stdout == "id\n1\n2\n"
    assert "Showing the first 2 rows; more exist" in plain.stderr
    pretty = run_ktx("sql", "-c", "warehouse", "--output", "pretty", "select id from orders where id < 4", cwd=project)
    assert "3 rows" in pretty.stdout


def test_sql_refusals_and_errors(run_ktx, project, tmp_path):
    _project_with_warehouses(project, tmp_path)
    write = run_ktx("sql", "-c", "warehouse", "drop table orders", cwd=project)
    assert write.returncode == 1 and "SQL contains read/write operation: Drop" in write.stderr
    unknown = run_ktx("sql", "-c", "nope", "select 1", cwd=project)
    assert unknown.returncode == 1 and 'Connection "nope" is not configured in ktx.yaml' in unknown.stderr
    source = run_ktx("sql", "-c", "notes", "select 1", cwd=project)
    assert 'Connection "notes" does not support read-only SQL execution.' in source.stderr
    bad_rows = run_ktx("sql", "-c", "warehouse", "--max-rows", "10001", "select 1", cwd=project)
    assert bad_rows.returncode == 2
    missing_c = run_ktx("sql", "select 1", cwd=project)
    assert missing_c.returncode == 2 and "--connection" in missing_c.stderr
    engine_error = run_ktx("sql", "-c", "warehouse", "select * from no_such_table", cwd=project)
    assert engine_error.returncode == 1 and "no_such_table" in engine_error.stderr
    assert "Traceback" not in engine_error.stderr
    creds = run_ktx("sql", "-c", "broken", "select 1", cwd=project)
    assert creds.returncode == 1 and "Pa55word-x" not in creds.stderr + creds.stdout


def test_context_sources_are_not_tested_and_do_not_fail_all(run_ktx, project, tmp_path):
    duck = build_duckdb(tmp_path)
    (project / "ktx.yaml").write_text(
        "connections:\n"
        f"  warehouse:\n    driver: duckdb\n    path: {duck.config['path']}\n"
        "  notes:\n    driver: dbt\n    source_dir: dbt\n"
    )
    everything = run_ktx("connection", "test", "--all", "--output", "plain", cwd=project)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert everything.stdout.splitlines()[-1] == "1 tested · 1 passed · 1 not tested"
    single = run_ktx("connection", "test", "notes", cwd=project)
    assert single.returncode == 0 and single.stdout.startswith("Not tested: notes")


def test_sqlite_connection_to_a_file_that_is_not_sqlite_fails_the_test(run_ktx, project, tmp_path):
    duck = build_duckdb(tmp_path)
    (project / "ktx.yaml").write_text(f"connections:\n  wrong:\n    driver: sqlite\n    path: {duck.config['path']}\n")
    result = run_ktx("connection", "test", "wrong", cwd=project)
    assert result.returncode == 1
    assert "file is not a database" in result.stderr


def test_connection_test_single_all_and_json(run_ktx, project, tmp_path):
    _project_with_warehouses(project, tmp_path)
    ok = run_ktx("connection", "test", "warehouse", cwd=project)
    assert ok.returncode == 0
    assert ok.stdout.splitlines() == ["Connection test passed: warehouse", "Driver: duckdb", "Status: ok"]
    bad = run_ktx("connection", "test", "broken", cwd=project)
    assert bad.returncode == 1 and "broken (postgres)" in bad.stderr and "Pa55word-x" not in bad.stderr
    everything = run_ktx("connection", "test", "--all", "--output", "plain", cwd=project)
    assert everything.returncode == 1
    lines = everything.stdout.splitlines()
    assert lines[0] == "connection test --all"
    assert lines[-1] == "3 tested · 2 passed · 1 failed · 1 not tested"
    assert any(line.split()[:3] == ["lite", "sqlite", "✓"] for line in lines)
    assert any("notes" in line and "not tested" in line and "context source" in line for line in lines)
    data = json.loads(run_ktx("connection", "test", "--json", cwd=project).stdout)
    assert (data["tested"], data["passed"], data["failed"], data["untested"]) == (3, 2, 1, 1)
    both = run_ktx("connection", "test", "lite", "--all", cwd=project)
    assert both.returncode == 2 and "not both" in both.stderr
