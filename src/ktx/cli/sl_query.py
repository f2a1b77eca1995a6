"""The CLI face of `ktx sl query`: flags → a semantic query → the semantic service → printed result.

Compiling needs only the project's files, not a validated configuration, so the compile-only path
asks `ktx.project.location.configured_driver` for the connection's driver (no config models loaded)
and stays well inside the start-up budget.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ktx.cli.output import OutputMode
from ktx.errors import KtxError


def build_query(
    query_file: str | None,
    measures: list[str] | None,
    dimensions: list[str] | None,
    filters: list[str] | None,
    segments: list[str] | None,
    order_by: list[str] | None,
    limit: int | None,
    include_empty: bool | None,
    via: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if query_file:
        text = sys.stdin.read() if query_file == "-" else _read(Path(query_file))
        from ktx.project.yamlio import DocumentLimitError, load_json

        try:
            spec = load_json(text)
        except json.JSONDecodeError as exc:
            raise KtxError(f"--query-file {query_file} is not valid JSON: {exc}") from None
        except DocumentLimitError as exc:
            raise KtxError(f"--query-file {query_file}: {exc}") from None
        if not isinstance(spec, dict):
            raise KtxError(f"--query-file {query_file} must contain a JSON object")
    for key, values in (("measures", measures), ("filters", filters), ("segments", segments), ("via", via)):
        if values:
            spec[key] = list(spec.get(key) or []) + values
    if dimensions:
        spec["dimensions"] = list(spec.get("dimensions") or []) + [_dimension(d) for d in dimensions]
    if order_by:
        spec["order_by"] = list(spec.get("order_by") or []) + [_order(o) for o in order_by]
    if limit is not None:
        spec["limit"] = limit
    if include_empty is not None:
        spec["include_empty"] = include_empty
    spec.setdefault("measures", [])
    if query_file:
        from ktx.semantic.query import SemanticQuery

        SemanticQuery.parse(spec)  # a misspelt key in the file is named before anything else
    if not spec["measures"] and not spec.get("dimensions"):
        raise KtxError("Nothing to query: pass --measure and/or --dimension, or --query-file")
    return spec


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KtxError(f"Cannot read --query-file {path}: {exc.strerror}") from None


def _dimension(raw: str) -> Any:
    from ktx.semantic.grains import parse_dimension

    return parse_dimension(raw)


def _order(raw: str) -> Any:
    field, _, direction = raw.rpartition(":")
    if field and direction.lower() in ("asc", "desc"):
        return {"field": field, "direction": direction.lower()}
    return raw


def pick_connection(root: Path, connection_id: str | None) -> str:
    from ktx.semantic.layer import layer_connections

    if connection_id:
        return connection_id
    available = layer_connections(root)
    if len(available) == 1:
        return available[0]
    if not available:
        raise KtxError(
            f"No semantic layer found in {root / 'semantic-layer'}",
            hint=(
                "Run `ktx ingest <connection>` to scan a warehouse into semantic-layer/<connection>/, or add source "
                "YAML there by hand."
            ),
        )
    raise KtxError(f"--connection-id is required: semantic layers exist for {', '.join(available)}")


def run_cli_query(
    state,
    spec: dict[str, Any],
    connection_id: str | None,
    *,
    format_: str | None,
    execute: bool,
    max_rows: int | None,
    mode: OutputMode,
) -> None:
    from ktx.cli.output import emit_json, emit_result_rows
    from ktx.project.location import configured_driver

    root = state.location().root
    if not (root / "ktx.yaml").is_file():
        raise KtxError(
            f"No ktx project here yet. (ktx.yaml not found in {root})",
            hint="Run `ktx setup` to create one, or `ktx admin init <dir>` for an empty project.",
        )
    connection_id = pick_connection(root, connection_id)
    configured, driver = configured_driver(root, connection_id)
    if format_ is None:
        # On a terminal: the rows when the connection exists, else the SQL; piped or in CI: JSON.
        format_ = ("table" if configured else "sql") if mode is OutputMode.PRETTY else "json"
    if execute or format_ == "table":
        from ktx.project.project import Project
        from ktx.semantic.service import run_query
        from ktx.services import Services

        with Services(Project(root)) as services:
            result = run_query(services, connection_id, spec, execute=True, max_rows=max_rows)
        for warning in result.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        if format_ == "sql":
            sys.stdout.write(result.sql.rstrip() + "\n")
        elif format_ == "table":
            count = len(result.rows)
            emit_result_rows(
                result.to_json()["headers"], result.rows, mode, footer=f"{count} row{'s' if count != 1 else ''}"
            )
        else:
            emit_json(result.to_json())
        return
    if not configured:
        sys.stderr.write(
            f"warning: connection '{connection_id}' is not configured in ktx.yaml; compiling for postgres\n"
        )
    data = _compiled(root, connection_id, driver, spec)
    for warning in data.get("warnings") or []:
        sys.stderr.write(f"warning: {warning}\n")
    if format_ == "sql":
        sys.stdout.write(str(data["sql"]).rstrip() + "\n")
    else:
        data["plan"]["execution"]["reason"] += " Pass --execute to run it."
        emit_json(data)


def _compiled(root: Path, connection_id: str, driver: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The compile-only answer, from the compiled-query cache when the layer and the query are unchanged — then
    neither sqlglot nor the layer is loaded at all."""
    from ktx.project.location import configured_path_policy
    from ktx.semantic import compiled_cache
    from ktx.warehouse.registry import DRIVER_DIALECTS

    policy = configured_path_policy(root)
    dialect = DRIVER_DIALECTS.get((driver or "").lower(), "postgres")
    cached_path, writable = None, False
    if (root / "semantic-layer" / connection_id).is_dir():
        cached_path, writable = compiled_cache.entry(root, connection_id, dialect, policy, spec)
        hit = compiled_cache.read(cached_path)
        if hit is not None:
            return hit
    from ktx.semantic.service import compile_query

    data = compile_query(root, connection_id, driver, spec, ambiguous_paths=policy).to_json()
    if cached_path is not None and writable:
        compiled_cache.write(cached_path, data)
    return data
