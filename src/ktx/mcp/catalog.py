"""The end-user tool catalogue: every tool an agent reaches over MCP, each a thin adapter over one service
function (the same ones the CLI calls). Descriptions are written for the agent that reads them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ktx.errors import KtxError
from ktx.tools import Tool, report_progress

if TYPE_CHECKING:
    from ktx.services import Services

SAFE_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
READ_ONLY = {"readOnlyHint": True, "openWorldHint": False}
IDEMPOTENT = {**READ_ONLY, "idempotentHint": True}


class _In(BaseModel):
    # Strict: `{"filter": [...]}` (for `filters`) must be an error naming the key, never an unfiltered answer.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """An output object whose inner shape varies (rows, plans, records)."""

    model_config = ConfigDict(extra="allow")


def _connection_id(value: str) -> str:
    if not SAFE_ID.match(value):
        raise KtxError(f"Unsafe connection id: {value!r}")
    return value


# --- inputs -------------------------------------------------------------------------------------------------


class NoInput(_In):
    pass


class WikiSearchInput(_In):
    query: str = Field(min_length=1, description="What to look for, in plain words (e.g. 'how is churn defined').")
    limit: int = Field(10, ge=1, le=50, description="How many pages to return (1–50).")


class WikiReadInput(_In):
    key: str = Field(min_length=1, description="A page key from wiki_search or discover_data (flat, e.g. 'revenue').")


class SourceInput(_In):
    connectionId: str = Field(min_length=1, description="Connection id from connection_list.")
    sourceName: str = Field(min_length=1, description="Semantic-layer source name (e.g. 'orders').")


class InlineMeasure(_In):
    expr: str = Field(
        min_length=1, description="An aggregate SQL expression over one source, e.g. 'sum(orders.amount)'."
    )
    name: str = Field(min_length=1, description="The column name for the result.")


class Dimension(_In):
    field: str = Field(min_length=1, description="'source.column', e.g. 'orders.status' or 'customers.region'.")
    granularity: str | None = Field(
        None,
        description="For time columns: second, minute, hour, day, week, month, quarter or year, or a custom granularity of the time spine.",
    )


class OrderBy(_In):
    field: str = Field(min_length=1, description="A measure or dimension of this query.")
    direction: Literal["asc", "desc"] = "asc"


class SlQueryInput(_In):
    connectionId: str | None = Field(
        None, description="Connection id; may be omitted only when the project has exactly one connection."
    )
    measures: list[str | InlineMeasure] = Field(
        min_length=1, description="Measure keys ('orders.revenue') or ad hoc aggregates ({expr, name})."
    )
    dimensions: list[str | Dimension] = Field(
        default_factory=list,
        description="Group-by fields: 'source.column' ('orders.ordered_at:month' for a time grain) or "
        "{field, granularity?}.",
    )
    filters: list[str] = Field(
        default_factory=list, description="SQL predicates on fields, e.g. \"orders.status = 'paid'\"."
    )
    segments: list[str] = Field(default_factory=list, description="Named segments ('orders.completed').")
    order_by: list[OrderBy] = Field(default_factory=list, description="Sort as {field, direction}.")
    limit: int = Field(1000, ge=1, le=10000, description="Maximum rows (1–10000); truncated says when it cut rows.")
    include_empty: bool = Field(True, description="Keep groups whose measures are all empty.")
    via: list[str] = Field(
        default_factory=list,
        description="Sources the join path must go through when several paths lead to a dimension or filter "
        "(the error that refuses such a query names them).",
    )
    include: list[Literal["plan", "sql"]] = Field(
        default_factory=list, description="Also return the compiled SQL and/or the query plan."
    )


class EntityTable(_In):
    catalog: str | None = None
    db: str | None = Field(None, description="Schema (or dataset/database) name.")
    name: str = Field(min_length=1)


class Entity(_In):
    table: str | EntityTable = Field(description="'orders', 'public.orders' or {catalog, db, name}.")
    columns: list[str] | None = Field(None, description="Only these columns (default: all).")


class EntityDetailsInput(_In):
    connectionId: str = Field(min_length=1, description="Connection id from connection_list.")
    entities: list[Entity] = Field(min_length=1, max_length=20, description="1–20 tables to describe.")


class DictionarySearchInput(_In):
    values: list[str] = Field(
        min_length=1, max_length=20, description="Literal values a question mentions ('Acme', 'EMEA'), 1–20."
    )
    connectionId: str | None = Field(None, description="Search one connection (default: all).")


DiscoverKind = Literal["wiki", "sl_source", "sl_measure", "sl_dimension", "table", "column"]


class DiscoverInput(_In):
    query: str = Field(min_length=1, description="The question or the words in it.")
    connectionId: str | None = Field(None, description="Only this connection's sources, tables and columns.")
    kinds: list[DiscoverKind] | None = Field(None, description="Restrict to these kinds (default: all six).")
    limit: int = Field(10, ge=1, le=50, description="How many refs (1–50).")


class MemoryInput(_In):
    content: str = Field(min_length=1, description="Markdown to remember: a definition, rule, caveat or metric.")
    connectionId: str | None = Field(None, description="Lets the capture add measures/segments to this connection.")


class MemoryStatusInput(_In):
    runId: str = Field(min_length=1)


class SqlInput(_In):
    connectionId: str = Field(min_length=1, description="Connection id from connection_list.")
    sql: str = Field(min_length=1, description="One read-only SELECT (or WITH … SELECT) statement.")
    maxRows: int = Field(1000, ge=1, le=10000, description="Return at most this many rows (1–10000).")


# --- outputs ------------------------------------------------------------------------------------------------


class ConnectionEntry(_Out):
    id: str
    name: str
    connectionType: str


class ConnectionListOutput(_Out):
    connections: list[ConnectionEntry]


class WikiHit(_Out):
    key: str
    path: str
    scope: Literal["GLOBAL", "USER"]
    summary: str
    score: float
    matchReasons: list[str] | None = None
    lanes: list[dict[str, Any]] | None = None


class WikiSearchOutput(_Out):
    results: list[WikiHit]
    totalFound: int


class WikiReadOutput(_Out):
    key: str
    summary: str
    content: str
    scope: Literal["GLOBAL", "USER"]
    tags: list[str] | None = None
    refs: list[str] | None = None
    slRefs: list[str] | None = None


class SourceOutput(_Out):
    sourceName: str
    yaml: str


class SlQueryOutput(_Out):
    connectionId: str | None = None
    dialect: str | None = None
    headers: list[str]
    rows: list[list[Any]]
    totalRows: int
    truncated: bool = False  # the limit (or the connection's max_result_bytes) cut rows
    notes: list[str] | None = None
    sql: str | None = None
    plan: dict[str, Any] | None = None


class EntityDetailsOutput(_Out):
    results: list[dict[str, Any]]


class DictionarySearchOutput(_Out):
    searched: list[dict[str, Any]]
    results: list[dict[str, Any]]


class DiscoverOutput(_Out):
    refs: list[dict[str, Any]]


class MemoryStartOutput(_Out):
    runId: str


class MemoryStatusOutput(_Out):
    runId: str
    status: Literal["running", "done", "error"]
    stage: str
    done: bool
    captured: dict[str, list[str]]
    conflicts: list[str]
    error: str | None
    commitHash: str | None
    skillsLoaded: list[str]
    signalDetected: bool


class SqlOutput(_Out):
    headers: list[str]
    headerTypes: list[str | None] | None = None
    rows: list[list[Any]]
    rowCount: int
    truncated: bool
    truncatedReason: str | None = None  # "rows" (maxRows) or "bytes" (the connection's max_result_bytes)
    cellsCut: int = 0  # cells over the per-cell limit, shortened with a "…[truncated by ktx …]" marker


# --- handlers -----------------------------------------------------------------------------------------------


def _scope(value: str) -> str:
    return "GLOBAL" if value == "global" else "USER"


def _pick_connection(services: Services, connection_id: str | None) -> str:
    if connection_id:
        return _connection_id(connection_id)
    configured = sorted(services.project.config.connections)
    if len(configured) == 1:
        return configured[0]
    raise KtxError("connectionId is required when the local project has zero or multiple connections.")


def _warehouse_ids(services: Services, connection_id: str | None) -> list[str]:
    from ktx.project.config import WAREHOUSE_DRIVERS

    if connection_id:
        from ktx.warehouse.connections import connection_config

        connection_config(services.project, _connection_id(connection_id))
        return [connection_id]
    return sorted(c for c, conn in services.project.config.connections.items() if conn.driver in WAREHOUSE_DRIVERS)


# --- handlers: each a thin face over one service function ---------------------------------------------


def _connection_list(services: Services, _: NoInput) -> dict[str, Any]:
    from ktx.warehouse.service import list_connections

    return {"connections": list_connections(services.project)}


def _wiki_search(services: Services, args: WikiSearchInput) -> dict[str, Any]:
    from ktx.wiki.store import LOCAL_USER

    outcome = services.search.search_wiki(args.query, user_id=LOCAL_USER, limit=args.limit)
    lanes = [lane.to_json() for lane in outcome.lanes]
    results = [{**{k: v for k, v in item.items() if k != "lanes"}, "lanes": lanes} for item in outcome.items]
    return {"results": results[: args.limit], "totalFound": len(results)}


def _wiki_read(services: Services, args: WikiReadInput) -> dict[str, Any]:
    from ktx.wiki.page import WikiError
    from ktx.wiki.store import LOCAL_USER

    try:
        page = services.wiki.read(args.key, LOCAL_USER)
    except WikiError as exc:
        raise KtxError(str(exc)) from None
    if page is None:
        raise KtxError(f'Wiki page "{args.key}" was not found.')
    data: dict[str, Any] = {
        "key": page.key,
        "summary": page.summary,
        "content": page.body,
        "scope": _scope(page.scope),
    }
    for key, value in (("tags", page.tags), ("refs", page.refs), ("slRefs", page.sl_refs)):
        if value:
            data[key] = value
    return data


def _sl_read_source(services: Services, args: SourceInput) -> dict[str, Any]:
    from ktx.semantic.service import read_source_yaml

    connection_id = _connection_id(args.connectionId)
    return {
        "sourceName": args.sourceName,
        "yaml": read_source_yaml(services.project.root, connection_id, args.sourceName),
    }


def _sl_query(services: Services, args: SlQueryInput) -> dict[str, Any]:
    from ktx.semantic.service import run_query

    report_progress(0.0, "Compiling query")
    connection_id = _pick_connection(services, args.connectionId)
    from ktx.semantic.grains import parse_dimension

    spec = args.model_dump(exclude={"connectionId", "include"}, exclude_none=True)
    spec["dimensions"] = [parse_dimension(d) if isinstance(d, str) else d for d in spec["dimensions"]]
    # One row past the limit is asked for and fetched, so a result the limit cut says so.
    spec["limit"] = args.limit + 1
    report_progress(0.3, "Generating SQL")
    report_progress(0.6, "Executing")
    result = run_query(services, connection_id, spec, execute=True, max_rows=args.limit)
    data = result.to_json()
    report_progress(1.0, f"Fetched {data['totalRows']} rows")
    notes = list(data.get("warnings") or [])
    plan = data["plan"]
    if plan.get("execution", {}).get("mode") == "compile_only":
        notes.append(plan["execution"].get("reason") or "Compiled SQL only; no rows were executed.")
    if plan.get("has_fan_out"):
        notes.append(plan.get("fan_out_description") or "Fan-out detected: measure totals may be inflated by joins.")
    out: dict[str, Any] = {
        "connectionId": connection_id,
        "dialect": data["dialect"],
        "headers": data["headers"],
        "rows": data["rows"],
        "totalRows": data["totalRows"],
        "truncated": bool(plan.get("execution", {}).get("truncated")),
    }
    if notes:
        out["notes"] = notes
    if "sql" in args.include:
        out["sql"] = data["sql"]
    if "plan" in args.include:
        out["plan"] = plan
    return out


def _entity_details(services: Services, args: EntityDetailsInput) -> dict[str, Any]:
    from ktx.scan.entities import entity_details as details

    connection_id = _warehouse_ids(services, args.connectionId)[0]
    entities = [
        {"table": e.table if isinstance(e.table, str) else e.table.model_dump(), "columns": e.columns}
        for e in args.entities
    ]
    return {"results": details(services.project.root, connection_id, entities)}


def _dictionary_search(services: Services, args: DictionarySearchInput) -> dict[str, Any]:
    from ktx.search.dictionary import dictionary_search as search

    return search(services.project.root, _warehouse_ids(services, args.connectionId), args.values)


def _discover_data(services: Services, args: DiscoverInput) -> dict[str, Any]:
    from ktx.search.discover import discover_data as discover

    connection_id = _connection_id(args.connectionId) if args.connectionId else None
    return {"refs": discover(services, args.query, connection_id=connection_id, kinds=args.kinds, limit=args.limit)}


def _sql_execution(services: Services, args: SqlInput) -> dict[str, Any]:
    from ktx.warehouse.service import connection_config, run_sql

    report_progress(0.0, "Validating SQL")
    connection_id = _connection_id(args.connectionId)
    connection_config(services.project, connection_id)
    report_progress(0.3, "Executing")  # the connector's read-only gate checks the statement before it runs
    result = run_sql(services, connection_id, args.sql, max_rows=args.maxRows)
    report_progress(1.0, f"Fetched {result['rowCount']} rows")
    keys = ("headers", "headerTypes", "rows", "rowCount", "truncated", "truncatedReason", "cellsCut")
    return {k: result[k] for k in keys}


def _memory_ingest(services: Services, args: MemoryInput) -> dict[str, Any]:
    import threading
    import uuid

    from ktx.memory.capture import MemoryItem, execute_run, require_llm, start_run

    require_llm(services)
    connection_id = _connection_id(args.connectionId) if args.connectionId else None
    item = MemoryItem("mcp memory_ingest", args.content)
    run_id = start_run(services, item, connection_id, f"mcp-{uuid.uuid4()}")
    # The work goes on in the server's background; memory_ingest_status follows it.
    threading.Thread(
        target=execute_run, args=(services, run_id, item, connection_id), name=f"ktx-{run_id}", daemon=True
    ).start()
    return {"runId": run_id}


def _memory_ingest_status(services: Services, args: MemoryStatusInput) -> dict[str, Any]:
    from ktx.memory.capture import run_status

    return run_status(services, args.runId)


# --- the catalogue: one declaration per tool -----------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: what clients list (name, description, schemas, hints) and the service call behind it."""

    name: str
    description: str
    input_model: type[BaseModel]
    handler: Callable[[Services, Any], Any]
    title: str
    output_model: type[BaseModel]
    annotations: dict[str, bool]
    needs_llm: bool = False  # listed only when an LLM backend is configured
    # Answered from the project's own files and indexes (no warehouse, no model): see Tool.local.
    local: bool = False


CATALOGUE: tuple[ToolSpec, ...] = (
    ToolSpec(
        "connection_list",
        "List the project's connections (warehouses and context sources) with their ids and types. Start here "
        "when you need a connectionId for another tool.",
        NoInput,
        _connection_list,
        title="List connections",
        output_model=ConnectionListOutput,
        annotations=IDEMPOTENT,
        local=True,
    ),
    ToolSpec(
        "wiki_search",
        "Search the project's wiki (business definitions, metric rules, caveats, how-tos) with hybrid lexical and "
        "semantic search. Returns page keys and summaries; read a page with wiki_read.",
        WikiSearchInput,
        _wiki_search,
        title="Search the wiki",
        output_model=WikiSearchOutput,
        annotations=READ_ONLY,
        local=True,
    ),
    ToolSpec(
        "wiki_read",
        'Read one wiki page by key (flat keys such as "revenue" or "churn-definition"; the user\'s page shadows '
        "the global one). Returns the markdown body and its tags and references.",
        WikiReadInput,
        _wiki_read,
        title="Read a wiki page",
        output_model=WikiReadOutput,
        annotations=IDEMPOTENT,
        local=True,
    ),
    ToolSpec(
        "sl_read_source",
        "Read the YAML of one semantic-layer source: its table or SQL, columns with types and descriptions, "
        "measures, segments, grain and joins. Use it before sl_query to see which measures and dimensions exist.",
        SourceInput,
        _sl_read_source,
        title="Read a semantic-layer source",
        output_model=SourceOutput,
        annotations=IDEMPOTENT,
        local=True,
    ),
    ToolSpec(
        "sl_query",
        "Answer a metric question from the semantic layer: name measures (e.g. 'orders.revenue'), dimensions "
        "('orders.status', 'orders.ordered_at:month', 'metric_time:month' — each measure's own time column — or "
        "{field, granularity?}), filters, segments and order. ktx compiles correct SQL for the warehouse (safe "
        "joins, no fan-out or chasm double counting), runs it read-only and returns the rows. Prefer this over "
        "sql_execution whenever the measures exist.",
        SlQueryInput,
        _sl_query,
        title="Query the semantic layer",
        output_model=SlQueryOutput,
        annotations=READ_ONLY,
    ),
    ToolSpec(
        "entity_details",
        "Describe scanned tables: columns with native and normalized types, nullability, primary and foreign "
        "keys, comments, row estimates and profile (distinct counts, sample values). Tables may be named "
        "'orders', 'public.orders' or {catalog, db, name}; 1–20 at a time.",
        EntityDetailsInput,
        _entity_details,
        title="Describe tables",
        output_model=EntityDetailsOutput,
        annotations=IDEMPOTENT,
        local=True,
    ),
    ToolSpec(
        "dictionary_search",
        "Find which columns contain literal values a question mentions (customer names, regions, status codes), "
        "from values sampled by the last scan. A miss is not proof the value is absent: only samples are searched.",
        DictionarySearchInput,
        _dictionary_search,
        title="Find columns holding values",
        output_model=DictionarySearchOutput,
        annotations=READ_ONLY,
        local=True,
    ),
    ToolSpec(
        "discover_data",
        "First step for any data question: one ranked list of wiki pages, semantic-layer sources, measures and "
        "dimensions, and scanned tables and columns that match the question. Then inspect the hits with "
        "wiki_read, sl_read_source or entity_details.",
        DiscoverInput,
        _discover_data,
        title="Discover relevant data",
        output_model=DiscoverOutput,
        annotations=READ_ONLY,
        local=True,
    ),
    ToolSpec(
        "sql_execution",
        "Run one read-only SQL statement on a warehouse connection (fallback when the semantic layer has no "
        "suitable measure). Writes, DDL, several statements and session changes are refused; rows are capped by "
        "maxRows.",
        SqlInput,
        _sql_execution,
        title="Run read-only SQL",
        output_model=SqlOutput,
        annotations=READ_ONLY,
    ),
    ToolSpec(
        "memory_ingest",
        "Remember something durable the user told you about the data (a metric definition, a business rule, "
        "an alias, a caveat). ktx's memory agent writes it into the wiki (and, with connectionId, the "
        "semantic layer) in the background; a contradiction with a reviewed definition is recorded as a "
        "conflict, never written. Returns a runId for memory_ingest_status.",
        MemoryInput,
        _memory_ingest,
        title="Capture knowledge",
        output_model=MemoryStartOutput,
        annotations={"readOnlyHint": False, "destructiveHint": True, "openWorldHint": False},
        needs_llm=True,
    ),
    ToolSpec(
        "memory_ingest_status",
        "Follow a memory_ingest run: status, what it captured, conflicts it found, its commit.",
        MemoryStatusInput,
        _memory_ingest_status,
        title="Memory capture status",
        output_model=MemoryStatusOutput,
        annotations=READ_ONLY,
        needs_llm=True,
        local=True,
    ),
)


def warm_catalogue(services: Services) -> None:
    """Once a server listens: load what the tools' first calls would otherwise wait for (~0.5 s before the first
    `sl_query`) — the services' index and layers, and the code the handlers import on first use."""
    from ktx.semantic import grains, service  # noqa: F401  (loaded, not used here)

    services.warm()


def build_catalogue(services: Services) -> list[Tool]:
    """The end-user tools over one services object, in the order clients list them."""
    with_llm = services.project.config.llm.provider.backend != "none"
    return [
        Tool(
            spec.name,
            spec.description,
            spec.input_model,
            functools.partial(spec.handler, services),
            title=spec.title,
            output_model=spec.output_model,
            annotations=spec.annotations,
            local=spec.local,
        )
        for spec in CATALOGUE
        if with_llm or not spec.needs_llm
    ]
