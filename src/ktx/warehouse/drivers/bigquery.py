"""BigQuery through google-cloud-bigquery. Introspection reads each dataset's INFORMATION_SCHEMA
(four queries per dataset, not one per table).

BigQuery has no read-only session. Besides the parser gate, every user statement is first sent
as a free dry run and runs only if BigQuery itself classifies it as a SELECT.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ktx.errors import KtxError
from ktx.project.refs import resolve_reference
from ktx.warehouse.catalog import Catalog, CatalogColumn, CatalogTable, ForeignKey
from ktx.warehouse.connector import Connector, RawResult, Scope, WarehouseError, require_module


class BigQueryConnector(Connector):
    driver = "bigquery"
    dialect = "bigquery"
    default_max_connections = 4
    read_only_session = False
    supports_query_history = True
    scope_keys = ("dataset_id", "dataset_ids")

    def _credentials_info(self) -> dict[str, Any] | None:
        raw = self.config.credentials_json
        if not raw:
            return None
        value = resolve_reference(
            raw, field=f"connections.{self.connection_id}.credentials_json", base_dir=self.base_dir
        )
        if not value:
            raise KtxError(f"connections.{self.connection_id}.credentials_json is empty")
        if not value.lstrip().startswith("{"):
            path = os.path.expanduser(value)
            try:
                with open(path if os.path.isabs(path) else self.base_dir / path, encoding="utf-8") as handle:
                    value = handle.read()
            except OSError:
                raise KtxError(f"connections.{self.connection_id}.credentials_json: cannot read {value}") from None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise KtxError(f"connections.{self.connection_id}.credentials_json is not valid JSON") from None

    def project_id(self) -> str:
        info = self._credentials_info() or {}
        project = self.config.project_id or info.get("project_id")
        if not project:
            raise KtxError(f"connections.{self.connection_id} needs project_id (or credentials_json with project_id)")
        return project

    def _connect(self) -> Any:
        bigquery = require_module("google.cloud.bigquery", "bigquery")
        options: dict[str, Any] = {}
        endpoint = self.config.api_endpoint  # BigQuery emulators and private endpoints
        info = self._credentials_info()
        if info is not None:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(info)
        elif endpoint:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        else:
            credentials = None  # application default credentials
        if endpoint:
            options["client_options"] = {"api_endpoint": endpoint}
        return bigquery.Client(
            project=self.project_id(), credentials=credentials, location=self.config.location, **options
        )

    def _job_config(self, **kwargs: Any) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(use_legacy_sql=False, **kwargs)
        if self.config.max_bytes_billed:
            config.maximum_bytes_billed = self.config.max_bytes_billed
        return config

    native_timeout = True

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        # job_timeout_ms (BigQuery's own name) caps the job when it is set lower than statement_timeout_ms.
        limit_ms = min(timeout_ms, self.config.job_timeout_ms or timeout_ms)
        config = self._job_config()
        config.job_timeout_ms = limit_ms
        iterator = conn.query_and_wait(sql, job_config=config, max_results=max_rows, wait_timeout=limit_ms / 1000)
        schema = list(iterator.schema or [])
        pages = (tuple(row.values()) for row in iterator)  # BigQuery pages the rows as they are read
        fetched = self._fetch(
            lambda n: [r for _, r in zip(range(n), pages, strict=False)], lambda: list(pages), max_rows, max_bytes
        )
        return self._raw([f.name for f in schema], [f.field_type for f in schema], fetched)

    def _preflight(self, sql: str) -> None:
        """A free dry run: BigQuery itself must classify the statement as a SELECT."""
        with self.pool.connection() as conn:
            try:
                job = conn.query(sql, job_config=self._job_config(dry_run=True, use_query_cache=False))
                statement_type = job.statement_type
            except Exception as exc:
                raise WarehouseError(self.describe_error(exc)) from None
        if statement_type != "SELECT":
            raise WarehouseError(
                f"{self.connection_id} (bigquery): BigQuery classified the statement as {statement_type}"
            )

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        project = self.project_id()
        datasets = list(scope.schemas) or self._list_datasets()
        catalog = Catalog(self.connection_id, self.driver)
        for dataset in datasets:
            catalog.tables.extend(self._introspect_dataset(project, dataset, scope))
        return catalog

    def _list_datasets(self) -> list[str]:
        with self.pool.connection() as conn:
            try:
                return [d.dataset_id for d in conn.list_datasets()]
            except Exception as exc:
                raise WarehouseError(self.describe_error(exc)) from None

    def _introspect_dataset(self, project: str, dataset: str, scope: Scope) -> list[CatalogTable]:
        info = f"`{project}.{dataset}`.INFORMATION_SCHEMA"
        relations = self.execute(
            f"SELECT t.table_name, t.table_type, o.option_value FROM {info}.TABLES AS t "
            f"LEFT JOIN {info}.TABLE_OPTIONS AS o ON o.table_name = t.table_name AND o.option_name = 'description' "
            "ORDER BY t.table_name"
        ).rows
        columns = self.execute(
            f"SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.ordinal_position, p.description "
            f"FROM {info}.COLUMNS AS c LEFT JOIN {info}.COLUMN_FIELD_PATHS AS p ON p.table_name = c.table_name "
            "AND p.column_name = c.column_name AND p.field_path = c.column_name ORDER BY "
            "c.table_name, c.ordinal_position"
        ).rows
        keys = self.execute(
            f"SELECT k.table_name, tc.constraint_type, k.constraint_name, k.column_name, k.ordinal_position, "
            f"k.position_in_unique_constraint, u.table_name FROM {info}.KEY_COLUMN_USAGE AS k "
            f"JOIN {info}.TABLE_CONSTRAINTS AS tc ON tc.constraint_name = k.constraint_name "
            f"LEFT JOIN (SELECT DISTINCT constraint_name, table_name FROM {info}.CONSTRAINT_COLUMN_USAGE) AS u "
            "ON tc.constraint_type = 'FOREIGN KEY' AND u.constraint_name = k.constraint_name "
            "ORDER BY k.table_name, k.constraint_name, k.ordinal_position"
        ).rows
        counts = dict(self.execute(f"SELECT table_id, row_count FROM `{project}.{dataset}.__TABLES__`").rows)
        tables: dict[str, CatalogTable] = {}
        for name, ttype, description in relations:
            if scope.allows(dataset, name):
                kind = "view" if "VIEW" in str(ttype).upper() else "table"
                comment = json.loads(description) if description and description.startswith('"') else description
                tables[name] = CatalogTable(dataset, name, kind, comment=comment, row_estimate=counts.get(name))
        for table, name, dtype, nullable, ordinal, description in columns:
            if table in tables:
                tables[table].columns.append(
                    CatalogColumn.build(name, dtype, nullable=nullable == "YES", comment=description, ordinal=ordinal)
                )
        fks: dict[tuple[str, str], tuple[ForeignKey, list[int]]] = {}
        for table, ctype, cname, column, _ordinal, ref_position, ref_table in keys:
            if table not in tables:
                continue
            if ctype == "PRIMARY KEY":
                tables[table].primary_key.append(column)
            elif ctype == "FOREIGN KEY" and ref_table:
                if (table, cname) not in fks:
                    fk = ForeignKey([], dataset, ref_table, [], cname)
                    fks[(table, cname)] = (fk, [])
                    tables[table].foreign_keys.append(fk)
                fk, positions = fks[(table, cname)]
                fk.columns.append(column)
                positions.append(int(ref_position or len(positions) + 1))
        for fk, positions in fks.values():
            parent = tables.get(fk.ref_table)
            parent_pk = parent.primary_key if parent else []
            fk.ref_columns = [parent_pk[p - 1] if 0 < p <= len(parent_pk) else "" for p in positions]
        return list(tables.values())
