"""Snowflake through snowflake-connector-python. Introspection reads INFORMATION_SCHEMA.

Snowflake has no read-only session mode. Besides the parser gate, every statement runs in an
explicit transaction that is always rolled back, so DML that slipped through is undone;
connect with a role that has only SELECT grants for full protection.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ktx.errors import KtxError
from ktx.project.refs import resolve_reference
from ktx.warehouse.catalog import Catalog, CatalogTable, ForeignKey, attach_column_rows
from ktx.warehouse.connector import Connector, RawResult, Scope, require_module
from ktx.warehouse.drivers._network import sql_string_list


class SnowflakeConnector(Connector):
    driver = "snowflake"
    dialect = "snowflake"
    default_max_connections = 4
    read_only_session = False
    supports_query_history = True
    scope_keys = ("schema_name", "schema_names")

    def _params(self) -> dict[str, Any]:
        cfg = self.config

        def ref(field: str, value: Any) -> str | None:
            if value is None:
                return None
            return resolve_reference(
                str(value), field=f"connections.{self.connection_id}.{field}", base_dir=self.base_dir
            )

        params: dict[str, Any] = {}
        if cfg.url:
            url = ref("url", cfg.url) or ""
            parts = urlsplit(url)
            if parts.scheme != "snowflake":
                raise KtxError(f"connections.{self.connection_id}.url must start with snowflake://")
            path = [unquote(p) for p in parts.path.split("/") if p]
            params.update(
                account=parts.hostname,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or "") or None,
                database=path[0] if path else None,
                schema=path[1] if len(path) > 1 else None,
                **dict(parse_qsl(parts.query)),
            )
        params.update(
            {
                k: v
                for k, v in {
                    "account": ref("account", cfg.account),
                    "user": ref("user", cfg.user),
                    "password": ref("password", cfg.password),
                    "warehouse": ref("warehouse", cfg.warehouse),
                    "database": ref("database", cfg.database),
                    "role": ref("role", cfg.role),
                    "private_key_file": ref("private_key_path", cfg.private_key_path),
                }.items()
                if v
            }
        )
        schemas = self.scope().schemas
        if schemas and not params.get("schema"):
            params["schema"] = schemas[0]
        return {k: v for k, v in params.items() if v}

    def secret_values(self) -> list[str]:
        try:
            secret = self._params().get("password")
        except Exception:
            return []
        return [secret] if secret else []

    def _connect(self) -> Any:
        snowflake_connector = require_module("snowflake.connector", "snowflake")
        return snowflake_connector.connect(
            **self._params(), login_timeout=30, application="ktx", client_session_keep_alive=False
        )

    native_timeout = True

    def _is_timeout(self, exc: BaseException) -> bool:
        # 604: "Statement reached its statement or warehouse timeout"; 000630 for the client-side timeout.
        return getattr(exc, "errno", None) in (604, 630)

    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        from snowflake.connector.constants import FIELD_ID_TO_NAME

        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN")
            try:
                cursor.execute(sql, timeout=max(1, round(timeout_ms / 1000)))
                description = cursor.description or []
                fetched = self._fetch(cursor.fetchmany, cursor.fetchall, max_rows, max_bytes)
                types = [FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code)) for d in description]
                return self._raw([d.name for d in description], types, fetched)
            finally:
                cursor.execute("ROLLBACK")
        finally:
            cursor.close()

    def introspect(self, scope: Scope | None = None) -> Catalog:
        scope = scope or self.scope()
        schemas = list(scope.schemas)
        where = (
            f"table_schema IN ({sql_string_list(schemas + [s.upper() for s in schemas])})"
            if schemas
            else "table_schema <> 'INFORMATION_SCHEMA'"
        )
        relations = self.execute(
            "SELECT table_schema, table_name, table_type, comment, row_count FROM information_schema.tables "
            f"WHERE {where} ORDER BY 1, 2"
        ).rows
        columns = self.execute(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable, comment, ordinal_position "
            f"FROM information_schema.columns WHERE {where} ORDER BY 1, 2, 7"
        ).rows
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, name, ttype, comment, rows in relations:
            if scope.allows(schema, name) or scope.allows(schema.lower(), name.lower()):
                kind = "view" if "VIEW" in str(ttype).upper() else "table"
                tables[(schema, name)] = CatalogTable(schema, name, kind, comment=comment or None, row_estimate=rows)
        attach_column_rows(tables, ((s, t, c, ty, n == "YES", cm, o) for s, t, c, ty, n, cm, o in columns))
        catalog = Catalog(self.connection_id, self.driver, list(tables.values()))
        self._declared_keys(catalog, tables, {s for s, _ in tables})
        return catalog

    def _declared_keys(self, catalog: Catalog, tables: dict, schemas: set[str]) -> None:
        """Declared (unenforced) keys via SHOW; missing privileges degrade to a warning."""
        for schema in sorted(schemas):
            try:
                pk_rows = self.execute(f'SHOW PRIMARY KEYS IN SCHEMA "{schema}"')
            except KtxError as exc:
                catalog.warnings.append(f"constraint_discovery_unavailable: {exc.message}")
                return
            index = {h.lower(): i for i, h in enumerate(pk_rows.headers)}
            keyed: dict[tuple[str, str], list[tuple[int, str]]] = {}
            for row in pk_rows.rows:
                key = (row[index["schema_name"]], row[index["table_name"]])
                keyed.setdefault(key, []).append((int(row[index["key_sequence"]]), row[index["column_name"]]))
            for key, cols in keyed.items():
                if key in tables:
                    tables[key].primary_key = [c for _, c in sorted(cols)]
            try:
                fk_rows = self.execute(f'SHOW IMPORTED KEYS IN SCHEMA "{schema}"')
            except KtxError:
                continue
            index = {h.lower(): i for i, h in enumerate(fk_rows.headers)}
            fks: dict[tuple[str, str, str], ForeignKey] = {}
            for row in fk_rows.rows:
                key = (row[index["fk_schema_name"]], row[index["fk_table_name"]])
                if key not in tables:
                    continue
                name = row[index["fk_name"]]
                fk = fks.get((*key, name))
                if fk is None:
                    fk = fks[(*key, name)] = ForeignKey(
                        [], row[index["pk_schema_name"]], row[index["pk_table_name"]], [], name
                    )
                    tables[key].foreign_keys.append(fk)
                fk.columns.append(row[index["fk_column_name"]])
                fk.ref_columns.append(row[index["pk_column_name"]])
