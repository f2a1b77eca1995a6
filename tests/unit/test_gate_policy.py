"""Gate edge cases that need no engine: parser failures, nesting, server variables, quoting."""

from __future__ import annotations

import pytest

from ktx.warehouse.readonly import ReadOnlyViolation, gate_statement


def refused(sql: str, dialect: str = "postgres") -> str:
    with pytest.raises(ReadOnlyViolation) as exc:
        gate_statement(sql, dialect)
    return exc.value.message


def test_deep_nesting_is_refused_without_recursion_errors():
    assert refused("SELECT " + "(" * 20_000 + "1" + ")" * 20_000) == "SQL is nested too deeply to check."


def test_a_parser_crash_is_an_invalid_expression_not_a_traceback():
    # sqlglot raises AttributeError on this MySQL input; the gate must still answer in one line.
    assert refused("SELECT date_add() FROM t", "mysql").startswith("Invalid expression")


def test_not_a_query_names_the_first_word():
    assert refused("selec broken") == "SQL is not a query: it must start with SELECT, WITH or VALUES (got 'selec')."


@pytest.mark.parametrize("sql", ["show tables", "SHOW DATABASES", "describe orders", "/* hi */ PRAGMA table_info(t)"])
@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "mysql", "sqlite"])
def test_catalog_commands_are_not_queries_and_point_at_the_catalog_tools(sql, dialect):
    message = refused(sql, dialect)
    assert message.startswith("SQL is not a query:") and "browses the catalog" in message
    assert "discover_data" in message and "information_schema" in message and "read/write" not in message


def test_parse_errors_carry_position_not_parser_classes():
    message = refused("SELECT upper( FROM t")
    assert message.startswith("Invalid expression:") and "<class" not in message


@pytest.mark.parametrize(
    ("sql", "dialect", "fragment"),
    [
        ("SELECT @@datadir", "mysql", "Server variable @@datadir"),
        ("SELECT @@GLOBAL.secure_file_priv", "mysql", "Server variable @@secure_file_priv"),
        ("SELECT @@SERVERNAME", "tsql", "Server variable @@servername"),
        ("SELECT @x := 1", "mysql", "assigns a session variable"),
        ('SELECT "Evil"(1)', "postgres", "Function Evil is not allowed"),
        ("SELECT * FROM 'data.parquet'", "duckdb", "it names a file"),
        ("SELECT read_csv('x.csv')", "duckdb", "it reads files"),
        ("SELECT AI_GENERATE('x')", "snowflake", "it calls a model service"),
        ("SELECT * FROM url('http://x', CSV)", "clickhouse", "Function url is not allowed"),
        ("SELECT * FROM OPENROWSET('x', 'y', 'z')", "tsql", "not allowed"),
        ("SELECT * FROM EXTERNAL_QUERY('c', 'select 1')", "bigquery", "Function external_query is not allowed"),
    ],
)
def test_refusals_name_what_and_why(sql, dialect, fragment):
    assert fragment in refused(sql, dialect)


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT @@version", "mysql"),
        ("SELECT pg_catalog.upper('a')", "postgres"),
        ("SELECT SAFE.PARSE_DATE('%Y', '2024')", "bigquery"),
        ("SELECT 1 LIMIT 1 ;\n-- trailing comment", "postgres"),
        ("SELECT toStartOfMonth(now())", "clickhouse"),
    ],
)
def test_harmless_reads_pass(sql, dialect):
    gate_statement(sql, dialect)


def test_fetch_percent_or_with_ties_is_refused_where_rendering_would_change_the_answer():
    from ktx.warehouse.readonly import gate_query

    sql = "SELECT id FROM t ORDER BY id FETCH FIRST 10 PERCENT ROWS ONLY"
    assert "PERCENT" in gate_query(sql, "postgres", 100).sql  # kept, with the cap outside
    with pytest.raises(ReadOnlyViolation, match="PERCENT cannot be expressed for duckdb"):
        gate_query(sql, "duckdb", 100)
    with pytest.raises(ReadOnlyViolation, match="WITH TIES cannot be expressed for sqlite"):
        gate_query("SELECT id FROM t ORDER BY id FETCH FIRST 2 ROWS WITH TIES", "sqlite", 100)


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT query FROM `region-us`.INFORMATION_SCHEMA.JOBS_BY_PROJECT", "bigquery"),
        ("SELECT query FROM system.query_log", "clickhouse"),
        ("SELECT * FROM system.named_collections", "clickhouse"),
        ("SELECT password_hash FROM sys.sql_logins", "tsql"),
        ("SELECT * FROM sys.dm_exec_requests", "tsql"),
        ("SELECT query_text FROM snowflake.account_usage.query_history", "snowflake"),
        ("SELECT rolconfig FROM pg_roles", "postgres"),
        ("SELECT trx_query FROM information_schema.INNODB_TRX", "mysql"),
    ],
)
def test_catalogs_with_secrets_or_other_sessions_sql_are_refused_in_every_engine(sql, dialect):
    message = refused(sql, dialect)
    assert "is not allowed in read-only queries: it exposes" in message


def test_a_statement_let_through_is_not_parsed_again_and_a_refusal_is_worked_out_every_time(monkeypatch):
    import ktx.warehouse.readonly as readonly

    parsed = []
    original = readonly.gate_statement
    monkeypatch.setattr(readonly, "gate_statement", lambda sql, *a: parsed.append(sql) or original(sql, *a))
    sql = "SELECT status, count(*) FROM orders GROUP BY status"
    first = readonly.gate_query(sql, "postgres", 10)
    assert readonly.gate_query(sql, "postgres", 10) == first and len(parsed) == 1
    assert readonly.gate_query(sql, "postgres", 20).sql.endswith("LIMIT 21") and len(parsed) == 2
    with pytest.raises(ReadOnlyViolation, match="defines its own function named count"):  # another verdict
        readonly.gate_query(sql, "postgres", 10, shadowed=frozenset({"count"}))
    assert len(parsed) == 3
    for _ in range(2):
        with pytest.raises(ReadOnlyViolation):
            readonly.gate_query("DELETE FROM orders", "postgres", 10)
    assert parsed.count("DELETE FROM orders") == 2
