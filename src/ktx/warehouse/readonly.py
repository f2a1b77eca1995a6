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
from ktx.memo import remember

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


def gate_statement(
    sql: str, dialect: str, extra_allowed: frozenset[str] = frozenset(), shadowed: frozenset[str] = frozenset()
) -> Any:
    """Parse and vet one statement; returns the sqlglot expression or raises ReadOnlyViolation.

    `extra_allowed` names functions a connection opted into (DuckDB file readers with external access on).
    """
    sqlglot, exp = _sqlglot()
    if not sql or not sql.strip():
        raise ReadOnlyViolation("SQL did not parse to a statement.")
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.SqlglotError as exc:
        raise ReadOnlyViolation(f"Invalid expression: {parse_error_message(exc)}") from None
    except RecursionError:
        raise ReadOnlyViolation("SQL is nested too deeply to check.") from None
    except Exception:  # the parser's own bugs on odd input must not become a traceback or a pass
        raise ReadOnlyViolation("Invalid expression: the SQL parser could not read this statement.") from None
    # A trailing `;` followed only by comments parses as an empty Semicolon statement.
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise ReadOnlyViolation("SQL did not parse to a statement.")
    if len(statements) != 1:
        raise ReadOnlyViolation("Only one SQL statement can be executed.")
    statement = statements[0]
    root = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    if not isinstance(root, exp.Select | exp.SetOperation):
        _refuse_catalog_browsing(sql)
        if isinstance(root, _statement_types(exp)):
            raise ReadOnlyViolation(f"SQL contains read/write operation: {type(root).__name__}")
        raise ReadOnlyViolation(f"SQL is not a query: it must start with SELECT, WITH or VALUES ({_head(sql)}).")
    try:
        _walk_checks(statement, dialect, extra_allowed)
        if shadowed:
            _refuse_shadowed(statement, shadowed)
    except RecursionError:
        raise ReadOnlyViolation("SQL is nested too deeply to check.") from None
    _lexical_backstop(sql)
    return statement


def _refuse_shadowed(statement: Any, shadowed: frozenset[str]) -> None:
    """Names this database's own (non-extension) functions carry: `length(42)` resolving to a user's
    `public.length(integer)` overload, or attribute notation (`c.touch` runs `touch(c)` when `touch` is no column)
    would run user code inside a read-only query. Both are refused by name."""
    from sqlglot import exp

    for node in statement.walk():
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in shadowed:
                raise ReadOnlyViolation(
                    f"Function {name} is not allowed in read-only queries: this database defines its own "
                    f"function named {name}, which a call could resolve to."
                )
        elif isinstance(node, exp.Column) and node.table and node.name.lower() in shadowed:
            raise ReadOnlyViolation(
                f"{node.table}.{node.name} is not allowed in read-only queries: {node.name} is also a function "
                "this database defines, and attribute notation would call it. Select the column another way "
                "(e.g. a quoted alias) or ask for the function to be dropped."
            )


def _walk_checks(statement: Any, dialect: str, extra_allowed: frozenset[str]) -> None:
    from sqlglot import exp

    from ktx.warehouse import sqlpolicy

    forbidden = _forbidden_types(exp)
    for node in statement.walk():
        refusal = None
        if isinstance(node, forbidden):
            raise ReadOnlyViolation(f"SQL contains read/write operation: {type(node).__name__}")
        if isinstance(node, exp.Func):
            refusal = sqlpolicy.check_function(node, dialect, extra_allowed)
        elif isinstance(node, exp.Table):
            refusal = sqlpolicy.check_table(node, dialect)
        elif isinstance(node, exp.SessionParameter) or (
            isinstance(node, exp.Parameter) and isinstance(node.this, exp.Parameter)
        ):
            refusal = sqlpolicy.check_server_variable(node.this if isinstance(node, exp.Parameter) else node)
        elif isinstance(node, exp.PropertyEQ) and isinstance(node.this, exp.Parameter):
            raise ReadOnlyViolation("SQL assigns a session variable; read-only queries cannot change the session.")
        if refusal is not None:
            raise ReadOnlyViolation(refusal.message)


def write_operation(node: Any) -> str | None:
    """The name of the first node in `node` that writes or runs a command, else None."""
    _, exp = _sqlglot()
    forbidden = _forbidden_types(exp)
    return next((type(n).__name__ for n in node.walk() if isinstance(n, forbidden)), None)


def _forbidden_types(exp: Any) -> tuple[type, ...]:
    return tuple(getattr(exp, name) for name in _FORBIDDEN_NODE_NAMES if hasattr(exp, name))


def _statement_types(exp: Any) -> tuple[type, ...]:
    """Statements that are not queries: named in the message as a read/write operation."""
    return (*_forbidden_types(exp), exp.DML, exp.DDL) if hasattr(exp, "DDL") else _forbidden_types(exp)


_CATALOG_COMMANDS = frozenset({"SHOW", "DESCRIBE", "DESC", "PRAGMA", "LIST", "\\D", "\\DT"})


def _refuse_catalog_browsing(sql: str) -> None:
    """`SHOW TABLES`, `DESCRIBE t`, `PRAGMA …`: not writes, but not queries either; say where the catalog is."""
    words = _LEADING_COMMENTS.sub("", sql, count=1).strip().split()
    if words and words[0].upper() in _CATALOG_COMMANDS:
        raise ReadOnlyViolation(
            f"SQL is not a query: {words[0].upper()} browses the catalog. To find tables and columns use the "
            "discover_data and entity_details tools (MCP) or `ktx sl` and `ktx wiki search` (CLI); "
            "to query the catalog, SELECT from information_schema."
        )


def _head(sql: str) -> str:
    head = _LEADING_COMMENTS.sub("", sql, count=1).strip().split()
    return f"got {head[0][:30]!r}" if head else "got nothing"


def parse_error_message(exc: Exception) -> str:
    """sqlglot's first parse problem in words a user can act on (no parser class names)."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors else {}
    text = first.get("description") or (str(exc).splitlines()[0] if str(exc) else "parse error")
    text = re.sub(
        r"Required keyword: '\w+' missing for <class '[^']+'>", "a function or operator is missing an argument", text
    )
    text = re.sub(r"<class '(?:[\w]+\.)*(\w+)'>", r"\1", text)
    text = re.sub(r"\.? Line \d+, Col: \d+\.?.*", "", text, flags=re.S)
    if first.get("line"):
        text += f" (line {first['line']}, column {first.get('col', 0)})"
    return text


def validate_max_rows(max_rows: int) -> int:
    if not isinstance(max_rows, int) or not 1 <= max_rows <= MAX_ROWS_LIMIT:
        raise KtxError(f"The row limit must be an integer between 1 and {MAX_ROWS_LIMIT}")
    return max_rows


def gate_query(
    sql: str,
    dialect: str,
    max_rows: int,
    extra_allowed: frozenset[str] = frozenset(),
    shadowed: frozenset[str] = frozenset(),
) -> GatedQuery:
    """Vet the statement and cap it at `max_rows + 1` rows (the extra row reveals truncation).

    The verdict depends on the arguments alone, so a statement this process let through before is let through
    again without parsing it anew (a server asked the same question; a refusal is worked out every time).
    """
    key = (sql, dialect, max_rows, extra_allowed, shadowed)
    passed = _PASSED.get(key)
    if passed is None:
        passed = remember(_PASSED, key, _gate_query(sql, dialect, max_rows, extra_allowed, shadowed), 256)
    return passed


_PASSED: dict[tuple[str, str, int, frozenset[str], frozenset[str]], GatedQuery] = {}


def _gate_query(
    sql: str, dialect: str, max_rows: int, extra_allowed: frozenset[str], shadowed: frozenset[str]
) -> GatedQuery:
    """The gate itself: vet, then cap. The cap is applied to the parsed tree and rendered in the connection's
    dialect, so an existing smaller LIMIT is kept and duplicate column names (invalid in a derived table on MySQL)
    are not a problem, as they would be with a textual `SELECT * FROM (…)` wrapper.
    """
    _, exp = _sqlglot()
    statement = gate_statement(sql, dialect, extra_allowed, shadowed)
    cap = validate_max_rows(max_rows) + 1
    query = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    query = query.copy()
    existing = query.args.get("limit")
    if existing is None and query.args.get("fetch") is None:
        query = query.limit(cap)
    else:
        # The user's own row limit (LIMIT n, FETCH FIRST n ROWS, TOP n — with any OFFSET) always survives: a
        # smaller plain count stays as written, a larger one becomes the cap, and anything the cap cannot be
        # merged into (PERCENT, WITH TIES, a parameter) is kept inside a derived table with the cap outside.
        written = _row_limit(existing) if query.args.get("fetch") is None else None
        if written is None:
            query = exp.select("*").from_(query.subquery("ktx_query_result")).limit(cap)
        elif written > cap:
            query = query.limit(cap)
    rendered = query.sql(dialect=dialect)
    for clause, pattern in (("PERCENT", r"\bPERCENT\b"), ("WITH TIES", r"\bWITH\s+TIES\b")):
        # Rendering in a dialect without them turns `FETCH FIRST 10 PERCENT` into `LIMIT 10`: a different answer.
        if re.search(pattern, sql, re.I) and clause not in rendered.upper():
            raise ReadOnlyViolation(
                f"FETCH … {clause} cannot be expressed for {dialect} without changing the result; "
                "rewrite it with LIMIT n (or a window function)."
            )
    return GatedQuery(rendered, dialect, statement)


def _row_limit(node: Any) -> int | None:
    """The plain row count of a LIMIT or FETCH clause, or None when it is not a plain number of rows."""
    _, exp = _sqlglot()
    if isinstance(node, exp.Limit):
        return _literal_int(node.expression)
    if isinstance(node, exp.Fetch):
        options = node.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            return None
        count = node.args.get("count")
        return 1 if count is None else _literal_int(count)
    return None


def _literal_int(node: Any) -> int | None:
    _, exp = _sqlglot()
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None
