"""A loopback BigQuery REST endpoint (jobs.query, dry-run jobs.insert, datasets.list) backed by DuckDB.

The real google-cloud-bigquery client talks to it. Queries are transpiled from BigQuery SQL to
DuckDB with sqlglot; dataset INFORMATION_SCHEMA views and `__TABLES__` are emulated from DuckDB's
catalog. Requests are recorded for assertions.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.fakes.loopback import LoopbackServer, Request, Response

_BQ_TYPES = {
    "INTEGER": "INT64",
    "BIGINT": "INT64",
    "SMALLINT": "INT64",
    "VARCHAR": "STRING",
    "DOUBLE": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "HUGEINT": "INT64",
}
_FIELD_TYPES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "NUMERIC": "NUMERIC"}


def bq_type(duck_type: str) -> str:
    upper = duck_type.upper()
    if upper.startswith("DECIMAL"):
        return "NUMERIC"
    return _BQ_TYPES.get(upper, "STRING")


class BigQueryRestServer:
    def __init__(self, project: str) -> None:
        import duckdb

        self.project = project
        self.db = duckdb.connect()
        self.db.execute(f"ATTACH ':memory:' AS \"{project}\"")
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._answer)
        self.endpoint = self.server.url

    def _answer(self, request: Request) -> Response:
        body = request.json()
        self.requests.append({"method": request.method, "path": request.path, "body": body})
        return Response.json(*self.dispatch(request.method, request.path.split("?")[0], body))

    # --- setup -------------------------------------------------------------------------------

    def add_jobs(self, jobs: list[tuple[str, str, str | None, int]]) -> None:
        """(query, user_email, error message or None, elapsed ms) rows in the job log, run an hour ago."""
        with self._lock:
            self.db.execute(f'USE "{self.project}"')
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS main.bq_jobs_by_project (query VARCHAR, user_email VARCHAR, "
                "error_result VARCHAR, job_type VARCHAR, statement_type VARCHAR, creation_time TIMESTAMP, "
                "start_time TIMESTAMP, end_time TIMESTAMP)"
            )
            for query, user, error, ms in jobs:
                self.db.execute(
                    "INSERT INTO main.bq_jobs_by_project VALUES (?, ?, ?, 'QUERY', 'SELECT', "
                    "now()::TIMESTAMP - INTERVAL 1 HOUR, now()::TIMESTAMP - INTERVAL 1 HOUR, "
                    "now()::TIMESTAMP - INTERVAL 1 HOUR + to_milliseconds(?))",
                    [query, user, error, ms],
                )
            self.db.execute("USE memory")

    def setup(self, *statements: str) -> None:
        """DuckDB statements against the project catalog (`USE "<project>"` is in effect)."""
        with self._lock:
            self.db.execute(f'USE "{self.project}"')
            for statement in statements:
                self.db.execute(statement)
            self.db.execute("USE memory")

    def close(self) -> None:
        self.server.close()

    # --- protocol ----------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            if method == "POST" and path.endswith("/queries"):
                return 200, self._query(body["query"], body.get("maxResults"))
            if method == "POST" and path.endswith("/jobs"):
                return 200, self._dry_run(body)
            if method == "GET" and path.endswith("/datasets"):
                names = [
                    r[0]
                    for r in self.db.execute(
                        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = ? "
                        "AND schema_name NOT IN ('information_schema', 'pg_catalog')",
                        [self.project],
                    ).fetchall()
                ]
                return 200, {
                    "datasets": [{"datasetReference": {"projectId": self.project, "datasetId": n}} for n in names]
                }
        except Exception as exc:
            return 400, {
                "error": {"code": 400, "message": str(exc), "errors": [{"reason": "invalidQuery", "message": str(exc)}]}
            }
        return 404, {"error": {"code": 404, "message": f"no such endpoint: {method} {path}"}}

    def _dry_run(self, body: dict[str, Any]) -> dict[str, Any]:
        import sqlglot

        query = body["configuration"]["query"]["query"]
        statement = sqlglot.parse_one(query, read="bigquery")
        kind = (
            "SELECT"
            if isinstance(statement, sqlglot.exp.Select | sqlglot.exp.SetOperation)
            else type(statement).__name__.upper()
        )
        return {
            "kind": "bigquery#job",
            "jobReference": body.get("jobReference", {}),
            "status": {"state": "DONE"},
            "configuration": body["configuration"],
            "statistics": {"query": {"statementType": kind, "totalBytesProcessed": "0"}},
        }

    def _translate(self, query: str) -> str:
        import sqlglot

        def info(match: re.Match[str]) -> str:
            return f'"{match.group(1)}".bq_info_{match.group(2).lower()}'

        # The project's job log (region-scoped); tests fill main.bq_jobs_by_project with `add_jobs`.
        query = re.sub(r"`region-[a-z0-9-]+`\.INFORMATION_SCHEMA\.JOBS_BY_PROJECT", "main.bq_jobs_by_project", query)
        query = re.sub(r"`[^`.]+\.([^`.]+)`\.INFORMATION_SCHEMA\.(\w+)", info, query)
        query = re.sub(r"`[^`.]+\.([^`.]+)\.__TABLES__`", r'"\1".bq_tables_meta', query)
        return sqlglot.transpile(query, read="bigquery", write="duckdb")[0]

    def _query(self, query: str, max_results: int | None) -> dict[str, Any]:
        with self._lock:
            self.db.execute(f'USE "{self.project}"')
            for dataset in self._datasets():
                self._emulate_information_schema(dataset)
            cursor = self.db.execute(self._translate(query))
            description = cursor.description or []
            rows = cursor.fetchall()
            self.db.execute("USE memory")
        fields = [
            {"name": d[0], "type": _FIELD_TYPES.get(bq_type(str(d[1])), bq_type(str(d[1]))), "mode": "NULLABLE"}
            for d in description
        ]
        shown = rows[:max_results] if max_results else rows
        return {
            "kind": "bigquery#queryResponse",
            "jobComplete": True,
            "jobReference": {"projectId": self.project, "jobId": "job-1", "location": "US"},
            "schema": {"fields": fields},
            "rows": [{"f": [{"v": None if v is None else str(v)} for v in row]} for row in shown],
            "totalRows": str(len(rows)),
        }

    def _datasets(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() "
                "AND schema_name NOT IN ('information_schema', 'pg_catalog', 'main')"
            ).fetchall()
        ]

    def _emulate_information_schema(self, ds: str) -> None:
        where = (
            f"database_name = current_database() AND schema_name = '{ds}' AND table_name NOT LIKE 'bq\\_%' ESCAPE '\\'"
        )
        views = {
            "tables": f"SELECT table_name, 'BASE TABLE' AS table_type FROM duckdb_tables() WHERE {where} "
            f"UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE database_name = current_database() "
            f"AND schema_name = '{ds}' AND view_name NOT LIKE 'bq\\_%' ESCAPE '\\'",
            "table_options": f"SELECT table_name, 'description' AS option_name, '\"' || comment || '\"' AS option_value "
            f"FROM duckdb_tables() WHERE {where} AND comment IS NOT NULL",
            "columns": "SELECT table_name, column_name, data_type, CASE WHEN is_nullable THEN 'YES' ELSE 'NO' END "
            f"AS is_nullable, column_index AS ordinal_position FROM duckdb_columns() WHERE {where}",
            "column_field_paths": "SELECT table_name, column_name, column_name AS field_path, comment AS description "
            f"FROM duckdb_columns() WHERE {where}",
            "table_constraints": "SELECT DISTINCT constraint_name, table_name, constraint_type FROM duckdb_constraints() "
            f"WHERE {where} AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')",
            "key_column_usage": "SELECT c.constraint_name, c.table_name, u.column_name, u.ordinal_position, "
            "CASE WHEN c.constraint_type = 'FOREIGN KEY' THEN u.ordinal_position END "
            "AS position_in_unique_constraint FROM duckdb_constraints() c, "
            "UNNEST(c.constraint_column_names) WITH ORDINALITY AS u(column_name, ordinal_position) "
            f"WHERE {where.replace('database_name', 'c.database_name').replace('schema_name', 'c.schema_name').replace('table_name', 'c.table_name')} "
            "AND c.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')",
            "constraint_column_usage": "SELECT c.constraint_name, c.referenced_table AS table_name, r.column_name "
            "FROM duckdb_constraints() c, UNNEST(c.referenced_column_names) AS r(column_name) "
            f"WHERE c.constraint_type = 'FOREIGN KEY' AND c.schema_name = '{ds}'",
        }
        for name, sql in views.items():
            self.db.execute(f'CREATE OR REPLACE VIEW "{ds}".bq_info_{name} AS {sql}')
        self.db.execute(
            f'CREATE OR REPLACE TABLE "{ds}".bq_tables_meta AS SELECT table_name AS table_id, estimated_size AS row_count '
            f"FROM duckdb_tables() WHERE {where}"
        )
