"""What a read-only query may call and read: default-deny for functions, per-dialect refusals for catalog objects.

A function passes only if sqlglot parses it into a typed expression of a pure function, or its name is on the
dialect's allow-list (`functions/<dialect>.txt`, kept as data). Anything else — user-defined functions, functions
that run SQL given as text, touch files, locks, sequences, replication or server settings — is refused with the
function's name and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# sqlglot's typed expressions that are not pure: they read files, call model services, advance sequences or
# name an object through a string (which would hide it from the catalog checks below).
IMPURE_TYPED_FUNCTIONS: dict[str, str] = {
    "ReadCSV": "it reads files",
    "ReadParquet": "it reads files",
    "ToFile": "it reads files",
    "Secret": "it reads a stored secret",
    "NextValueFor": "it advances a sequence",
    "DynamicIdentifier": "it names an object through a string",
    **dict.fromkeys(
        (
            "AIAgg",
            "AIClassify",
            "AIEmbed",
            "AIForecast",
            "AIGenerate",
            "AISimilarity",
            "AISummarizeAgg",
            "GenerateEmbedding",
            "GenerateText",
            "GenerateTable",
            "MLForecast",
            "MLTranslate",
            "Predict",
            "FeaturesAtTime",
            "VectorSearch",
        ),
        "it calls a model service",
    ),
}

# Named only to give a better reason; they are refused anyway because no allow-list holds them.
_SQL_TEXT_FUNCTIONS = frozenset(
    {
        "ts_stat",
        "ts_rewrite",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "dblink",
        "dblink_exec",
        "dblink_open",
        "json_execute_serialized_sql",
        "query",
        "query_table",
        "exec",
        "execute",
        "eval",
    }
)
_FILE_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_logdir",
        "pg_ls_archive_statusdir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "load_file",
        "load_extension",
        "readfile",
        "writefile",
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "read_json",
        "read_json_auto",
        "read_text",
        "read_blob",
        "glob",
        "file",
        "url",
        "s3",
    }
)

# Qualifiers under which a built-in function may be named (`pg_catalog.upper(x)`, BigQuery's `SAFE.`/`NET.`).
_BUILTIN_QUALIFIERS = {
    "postgres": frozenset({"pg_catalog"}),
    "bigquery": frozenset({"safe", "net", "hll_count"}),
}

# Catalog objects that expose server files, configuration, credentials or other sessions' statements.
_REFUSED_OBJECTS: dict[str, dict[str, str]] = {
    "postgres": {
        **dict.fromkeys(
            (
                "pg_shadow",
                "pg_authid",
                "pg_user_mapping",
                "pg_user_mappings",
                "_pg_user_mappings",  # information_schema's: it returned a user mapping's password
                "user_mapping_options",
                "user_mappings",
                "pg_subscription",
                "pg_roles",  # rolconfig: per-role settings, which can hold secrets
                "pg_user",  # useconfig, likewise
                "pg_group",
                "pg_foreign_server",
                "_pg_foreign_servers",
                "foreign_server_options",
                "pg_stat_ssl",
                "pg_stat_gssapi",
            ),
            "credentials",
        ),
        **dict.fromkeys(
            (
                "pg_hba_file_rules",
                "pg_ident_file_mappings",
                "pg_file_settings",
                "pg_settings",
                "pg_db_role_setting",
                "pg_config",
                "pg_stat_wal_receiver",
                "pg_stat_subscription",
                "pg_replication_slots",
                "pg_stat_replication",
                "pg_backend_memory_contexts",
                "pg_shmem_allocations",
                "pg_largeobject",
                "pg_largeobject_metadata",
            ),
            "server files or configuration",
        ),
        **dict.fromkeys(("pg_stat_activity", "pg_stat_statements", "pg_locks"), "other sessions' statements"),
    },
    "mysql": {
        **dict.fromkeys(
            (
                "processlist",
                "global_variables",
                "session_variables",
                "global_status",
                "session_status",
                "system_variables",
                "user_variables",
                "innodb_trx",  # trx_query: another session's SQL, literals and all
                "innodb_locks",
                "innodb_lock_waits",
                "data_locks",
                "data_lock_waits",
                "user_attributes",
                "user_privileges",
                "optimizer_trace",
            ),
            "server configuration or other sessions' statements",
        ),
    },
    "tsql": {
        **dict.fromkeys(
            (
                "sql_logins",
                "syslogins",
                "credentials",
                "database_credentials",
                "linked_logins",
                "database_scoped_credentials",
            ),
            "credentials",
        ),
        **dict.fromkeys(
            ("dm_exec_requests", "dm_exec_sessions", "dm_exec_connections", "dm_exec_query_stats", "configurations"),
            "server configuration or other sessions' statements",
        ),
    },
    "snowflake": dict.fromkeys(
        ("query_history", "login_history", "access_history", "sessions", "credentials"),
        "other sessions' statements or credentials",
    ),
    "bigquery": dict.fromkeys(
        (
            "jobs",
            "jobs_by_project",
            "jobs_by_user",
            "jobs_by_folder",
            "jobs_by_organization",
            "jobs_timeline",
            "jobs_timeline_by_project",
            "sessions_by_project",
            "sessions_by_user",
        ),
        "other sessions' statements",
    ),
    "clickhouse": {
        **dict.fromkeys(("named_collections", "users", "quotas", "settings_profile_elements"), "credentials"),
        **dict.fromkeys(
            ("processes", "query_log", "query_thread_log", "query_views_log", "session_log", "text_log"),
            "other sessions' statements",
        ),
    },
    "sqlite": {"sqlite_dbpage": "raw database pages"},
    "duckdb": {
        **dict.fromkeys(("duckdb_settings", "duckdb_secrets", "duckdb_extensions", "pg_settings"), "configuration"),
    },
}
# Whole schemas refused on a dialect (MySQL's grant tables, server state and statement history).
_REFUSED_SCHEMAS = {"mysql": {"mysql": "credentials", "performance_schema": "server state", "sys": "server state"}}
# DuckDB reads a file when a table name looks like a path (`FROM 'data.csv'`).
_FILE_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".ndjson", ".txt", ".gz", ".zst", ".arrow", ".xlsx")
# `@@name` server variables that reveal nothing about the host.
_HARMLESS_SERVER_VARIABLES = frozenset({"version", "version_comment", "time_zone", "system_time_zone", "sql_mode"})


@dataclass(frozen=True)
class Refusal:
    """Why the policy refused a node: the message the gate raises."""

    message: str


@cache
def allowed_functions(dialect: str) -> frozenset[str]:
    """The dialect's allow-list of pure functions (lower-case names); empty for an unknown dialect."""
    try:
        text = resources.files("ktx.warehouse.functions").joinpath(f"{dialect}.txt").read_text("utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(name.lower() for name, _ in allow_list_entries(text))


def allow_list_entries(text: str) -> list[tuple[str, str]]:
    """(name, note) per entry of an allow-list file; blank lines and `#` comment lines skipped."""
    entries = []
    for line in text.splitlines():
        name, _, note = line.partition("#")
        if name.strip():
            entries.append((name.strip(), note.strip()))
    return entries


def _function_refused(name: str, reason: str) -> Refusal:
    return Refusal(f"Function {name} is not allowed in read-only queries: {reason}.")


def check_function(node: Any, dialect: str, extra_allowed: frozenset[str] = frozenset()) -> Refusal | None:
    """None when the call may run, else why not."""
    from sqlglot import exp

    if not isinstance(node, exp.Anonymous):
        name = type(node).__name__
        if name in IMPURE_TYPED_FUNCTIONS and node.sql_name().lower() not in extra_allowed:
            return _function_refused(node.sql_name().lower(), IMPURE_TYPED_FUNCTIONS[name])
        return None
    identifier = node.this
    raw = identifier.name if isinstance(identifier, exp.Identifier) else str(identifier)
    name = raw.lower()
    qualifier = _qualifier(node)
    if qualifier is not None and qualifier.lower() not in _BUILTIN_QUALIFIERS.get(dialect, frozenset()):
        return _function_refused(f"{qualifier}.{raw}", "user-defined functions are not allowed")
    if dialect == "postgres" and isinstance(identifier, exp.Identifier) and identifier.quoted and raw != name:
        # A quoted mixed-case name is a different (user-defined) function from the built-in.
        return _function_refused(raw, "user-defined functions are not allowed")
    if name in allowed_functions(dialect) or name in extra_allowed:
        return None
    if name in _SQL_TEXT_FUNCTIONS:
        return _function_refused(name, "it runs SQL given as text")
    if name in _FILE_FUNCTIONS:
        return _function_refused(name, "it reads or lists files")
    return _function_refused(name, f"it is not a known pure function of {dialect}")


def _qualifier(node: Any) -> str | None:
    """The schema in `schema.func(...)`, which sqlglot parses as a Dot whose right side is the call."""
    from sqlglot import exp

    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        left = parent.this
        return left.sql() if not isinstance(left, exp.Identifier | exp.Column | exp.Var) else left.name
    return None


def check_table(node: Any, dialect: str) -> Refusal | None:
    """Refuse catalog objects that expose server files, configuration or credentials."""
    from sqlglot import exp

    if not isinstance(node.this, exp.Identifier):
        return None
    name = node.name.lower()
    schema = (node.db or "").lower()
    refused_schema = _REFUSED_SCHEMAS.get(dialect, {}).get(schema)
    if refused_schema:
        return Refusal(f"Table {schema}.{name} is not allowed in read-only queries: it exposes {refused_schema}.")
    # BigQuery's `region-us`.INFORMATION_SCHEMA.JOBS arrives as one identifier: its last part is the object.
    exposes = _REFUSED_OBJECTS.get(dialect, {}).get(name) or _REFUSED_OBJECTS.get(dialect, {}).get(name.rsplit(".")[-1])
    if exposes:
        return Refusal(f"Table {name} is not allowed in read-only queries: it exposes {exposes}.")
    if dialect == "duckdb" and ("/" in name or "\\" in name or name.endswith(_FILE_SUFFIXES)):
        return Refusal(f"Table {node.name} is not allowed in read-only queries: it names a file.")
    return None


def check_server_variable(node: Any) -> Refusal | None:
    """`@@datadir` and its kind reveal the server's files and settings; a few harmless ones pass."""
    name = node.name.lower().split(".")[-1]
    if name in _HARMLESS_SERVER_VARIABLES:
        return None
    return Refusal(f"Server variable @@{name} is not allowed in read-only queries: it exposes server configuration.")
