"""The parser gate in front of every warehouse statement, and the row cap.

Defence in depth: this gate rejects anything that is not a single query; each driver
additionally runs the statement in a read-only session (see the drivers).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ktx.errors import KtxError

MAX_ROWS_LIMIT = 10_000
DEFAULT_MAX_ROWS = 1_000

# Node types that write, change session state, or run commands the parser does not model.
_FORBIDDEN_NODE_NAMES = (
    "Alter",
    "Analyze",
    "Attach",
    "Cache",
    "Command",
    "Commit",
    "Copy",
    "Create",
    "Delete",
    "Describe",
    "Detach",
    "Drop",
    "Execute",
    "Export",
    "Grant",
    "Insert",
    "Install",
    "Into",
    "Kill",
    "Lock",
    "Merge",
    "Pragma",
    "Refresh",
    "Revoke",
    "Rollback",
    "Set",
    "Show",
    "Summarize",
    "Transaction",
    "TruncateTable",
    "Uncache",
    "Update",
    "Use",
)

# Functions that change server state or reach outside the database, even inside a SELECT.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        # PostgreSQL
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "lo_create",
        "lo_from_bytea",
        "lo_put",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "query_to_xml",
        "nextval",
        "setval",
        # MySQL / MariaDB
        "load_file",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "benchmark",
        # SQLite
        "load_extension",
        "writefile",
        "readfile",
        "edit",
        # DuckDB
        "install_extension",
        "write_csv",
        "write_parquet",
    }
)


# Table functions that make the warehouse read from, or connect to, something outside itself.
# DuckDB's equivalents are refused at run time (external access is off in its session).
FORBIDDEN_FUNCTIONS_BY_DIALECT = {
    "tsql": frozenset({"openrowset", "openquery", "opendatasource"}),
    "bigquery": frozenset({"external_query"}),
    "clickhouse": frozenset(
        {
            "url",
            "urlcluster",
            "s3",
            "s3cluster",
            "gcs",
            "azureblobstorage",
            "azureblobstoragecluster",
            "hdfs",
            "hdfscluster",
            "file",
            "remote",
            "remotesecure",
            "cluster",
            "clusterallreplicas",
            "mysql",
            "postgresql",
            "mongodb",
            "redis",
            "sqlite",
            "jdbc",
            "odbc",
            "executable",
            "deltalake",
            "iceberg",
            "hudi",
            "input",
        }
    ),
}


class ReadOnlyViolation(KtxError):
    """A statement was refused by the read-only gate."""


@dataclass(frozen=True)
class GatedQuery:
    sql: str  # the statement as sent, row cap applied
    dialect: str
    statement: Any  # sqlglot expression of the user's statement


def _sqlglot():
    import sqlglot
    from sqlglot import exp

    # sqlglot warns on stderr when it falls back to Command; the gate reports it instead.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    return sqlglot, exp


_LEADING_COMMENTS = re.compile(r"^\s*(?:(?:--[^\n]*(?:\n|$))|(?:/\*.*?\*/)|\s)*", re.S)
_MUTATING_VERBS = re.compile(
    r"^(insert|update|delete|merge|alter|drop|create|truncate|grant|revoke|copy|call|do|vacuum|analyze|"
    r"refresh|attach|detach|install|load|pragma|set|use|export|import)\b",
    re.I,
)


def _lexical_backstop(sql: str) -> None:
    """A parser-independent check: the text must begin like a query."""
    head = _LEADING_COMMENTS.sub("", sql, count=1).lstrip("( \t\r\n")
    if _MUTATING_VERBS.match(head) or not re.match(r"^(select|with|from|values)\b", head, re.I):
        raise ReadOnlyViolation("Only read-only SELECT/WITH queries can be executed.")


def gate_statement(sql: str, dialect: str) -> Any:
    """Parse and vet one statement; returns the sqlglot expression or raises ReadOnlyViolation."""
    sqlglot, exp = _sqlglot()
    if not sql or not sql.strip():
        raise ReadOnlyViolation("SQL did not parse to a statement.")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ReadOnlyViolation(f"Invalid expression: {first}") from None
    except sqlglot.errors.SqlglotError as exc:
        raise ReadOnlyViolation(f"Invalid expression: {exc}") from None
    if not statements:
        raise ReadOnlyViolation("SQL did not parse to a statement.")
    if len(statements) != 1:
        raise ReadOnlyViolation("Only one SQL statement can be executed.")
    statement = statements[0]
    root = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    if not isinstance(root, exp.Select | exp.SetOperation):
        raise ReadOnlyViolation(f"SQL contains read/write operation: {type(root).__name__}")
    forbidden = tuple(getattr(exp, name) for name in _FORBIDDEN_NODE_NAMES if hasattr(exp, name))
    forbidden_functions = FORBIDDEN_FUNCTIONS | FORBIDDEN_FUNCTIONS_BY_DIALECT.get(dialect, frozenset())
    for node in statement.walk():
        if isinstance(node, forbidden):
            raise ReadOnlyViolation(f"SQL contains read/write operation: {type(node).__name__}")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in forbidden_functions:
                raise ReadOnlyViolation(f"SQL calls a function with side effects: {name}")
    _lexical_backstop(sql)
    return statement


def validate_max_rows(max_rows: int) -> int:
    if not isinstance(max_rows, int) or not 1 <= max_rows <= MAX_ROWS_LIMIT:
        raise KtxError(f"--max-rows must be an integer between 1 and {MAX_ROWS_LIMIT}")
    return max_rows


def gate_query(sql: str, dialect: str, max_rows: int) -> GatedQuery:
    """Vet the statement and cap it at `max_rows + 1` rows (the extra row reveals truncation).

    The cap is applied to the parsed tree and rendered in the connection's dialect, so an
    existing smaller LIMIT is kept and duplicate column names (invalid in a derived table on
    MySQL) are not a problem, as they would be with a textual `SELECT * FROM (…)` wrapper.
    """
    _, exp = _sqlglot()
    statement = gate_statement(sql, dialect)
    cap = validate_max_rows(max_rows) + 1
    query = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    query = query.copy()
    existing = query.args.get("limit")
    existing_value = _literal_int(existing.expression) if isinstance(existing, exp.Limit) else None
    fetch = query.args.get("fetch")
    if fetch is not None:
        # FETCH FIRST n ROWS: rewrap instead of mixing LIMIT and FETCH.
        query = exp.select("*").from_(query.subquery("ktx_query_result")).limit(cap)
    elif existing_value is None or existing_value > cap:
        query = query.limit(cap)
    return GatedQuery(query.sql(dialect=dialect), dialect, statement)


def _literal_int(node: Any) -> int | None:
    _, exp = _sqlglot()
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None
