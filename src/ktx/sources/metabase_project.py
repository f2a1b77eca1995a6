"""Metabase's content projected onto the warehouses it queries, deterministically (no LLM).

- A Metabase database maps to a ktx warehouse connection: by `database_mappings` when set, otherwise by engine,
  host and database name (exactly one warehouse must match).
- Table and field descriptions, display names and semantic types go into that warehouse's `_schema` under a
  `metabase` key (`descriptions.metabase`, `metabase: {semantic_type, display_name}`), beside the scan's own.
- A question (or Metabase metric) that is one aggregation over one table, with filters, becomes a measure on that
  table's overlay `semantic-layer/<warehouse>/metabase/<table>.yaml`; segments become segments. Anything else
  (a breakout-only question, joins, nested questions, custom expressions) is listed in `unmapped` with the reason.
- A native SQL question goes through query history's staging (redaction first, then the tables and joins its SQL
  reads) into a query-pattern page; dashboards and collections become pages linking their questions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ktx.sources.metabase import MetabaseSnapshot

# Metabase engine → ktx driver.
ENGINES = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", "duckdb": "duckdb", "h2": None,
           "snowflake": "snowflake", "bigquery-cloud-sdk": "bigquery", "bigquery": "bigquery",
           "sqlserver": "sqlserver", "clickhouse": "clickhouse", "redshift": "postgres"}  # fmt: skip
AGGREGATIONS = {"count": "count", "sum": "sum", "avg": "avg", "min": "min", "max": "max", "distinct": "count_distinct"}
COMPARISONS = {"=": "=", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Unsupported(Exception):
    """This Metabase construct has no faithful reading in the layer; the message is the reason given."""


@dataclass
class Target:
    """One mapped warehouse: its scanned entries and how its SQL is read."""

    warehouse: str
    driver: str
    dialect: str
    entries: dict[str, dict[str, Any]]
    history_config: Any
    default_schema: str | None


@dataclass
class Projection:
    files: dict[str, str] = field(default_factory=dict)  # overlays and pages
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # warehouse → key → new entry
    mapping: dict[str, str] = field(default_factory=dict)  # Metabase database id → warehouse
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    measures: int = 0
    segments: int = 0
    pages: int = 0


# --- database mapping -------------------------------------------------------------------------------------------


def _norm_host(host: Any) -> str:
    text = str(host or "").strip().lower()
    return "localhost" if text in ("127.0.0.1", "::1", "localhost", "") else text


def _basename(path: Any) -> str:
    return re.split(r"[\\/]", str(path or ""))[-1].lower()


def map_databases(
    databases: list[dict[str, Any]], connections: dict[str, Any], explicit: dict[str, str], warnings: list[str]
) -> dict[str, str]:
    """Metabase database id (as text) → ktx warehouse connection id."""
    from ktx.project.config import WAREHOUSE_DRIVERS

    warehouses = {cid: c for cid, c in connections.items() if c.driver in WAREHOUSE_DRIVERS}
    out: dict[str, str] = {}
    for db in databases:
        key = str(db["id"])
        if key in explicit:
            if explicit[key] in warehouses:
                out[key] = explicit[key]
            else:
                warnings.append(
                    f"metabase_mapping_invalid:{key}: database_mappings names {explicit[key]!r}, "
                    "which is not a warehouse connection"
                )
            continue
        driver = ENGINES.get(str(db.get("engine")))
        details = db.get("details") or {}
        candidates = []
        for cid, conn in sorted(warehouses.items()):
            if driver is None or conn.driver != driver:
                continue
            if _same_database(conn, details):
                candidates.append(cid)
        if len(candidates) == 1:
            out[key] = candidates[0]
        elif len(candidates) > 1:
            warnings.append(
                f"metabase_mapping_ambiguous:{key}: {db.get('name')} matches {', '.join(candidates)}; "
                f"set database_mappings: {{'{key}': <connection>}}"
            )
    return out


def _same_database(conn: Any, details: dict[str, Any]) -> bool:
    """Whether a ktx connection and a Metabase database's details name the same database."""
    from urllib.parse import urlsplit

    url = getattr(conn, "url", None)
    parsed = urlsplit(url) if isinstance(url, str) and "://" in url else None
    host = getattr(conn, "host", None) or (parsed.hostname if parsed else None)
    port = getattr(conn, "port", None) or (parsed.port if parsed else None)
    name = (
        getattr(conn, "database", None)
        or getattr(conn, "dbname", None)
        or (parsed.path.lstrip("/") if parsed and parsed.path else None)
    )
    path = getattr(conn, "path", None)
    if conn.driver in ("sqlite", "duckdb"):
        theirs = details.get("db") or details.get("database_file") or details.get("database")
        return bool(path and theirs and _basename(path) == _basename(theirs))
    if conn.driver == "bigquery":
        return str(getattr(conn, "project_id", "") or "").lower() == str(details.get("project-id") or "").lower()
    if conn.driver == "snowflake":
        return str(getattr(conn, "account", "") or "").lower() == str(details.get("account") or "").lower()
    theirs = details.get("dbname") or details.get("db") or details.get("database")
    same_port = not port or not details.get("port") or int(port) == int(details["port"])
    return (
        _norm_host(host) == _norm_host(details.get("host"))
        and same_port
        and bool(name)
        and str(name).lower() == str(theirs or "").lower()
    )


# --- projection -------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "item"


def _measure_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "measure"
    return name if name[0].isalpha() else f"m_{name}"


def _column(name: str) -> str:
    return name if IDENTIFIER.match(name) else '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise Unsupported(f"a filter value of type {type(value).__name__}")


class Reader:
    """MBQL (Metabase's query language) read against one Metabase database's tables and fields."""

    def __init__(self, snap: MetabaseSnapshot) -> None:
        self.fields: dict[int, tuple[int, str]] = {}  # field id → (table id, column name)
        self.tables: dict[int, dict[str, Any]] = {}
        for db in snap.databases:
            for table in db.get("tables") or []:
                self.tables[table["id"]] = {**table, "database_id": db["id"]}
                for f in table["fields"]:
                    self.fields[f["id"]] = (table["id"], str(f["name"]))
        self.segments = {s["id"]: s for s in snap.segments if isinstance(s.get("definition"), dict)}

    def field(self, ref: Any, table_id: int) -> str:
        if isinstance(ref, list) and ref and ref[0] in ("field", "field-id") and len(ref) >= 2:
            options = ref[2] if len(ref) > 2 and isinstance(ref[2], dict) else {}
            if options.get("join-alias") or options.get("source-field"):
                raise Unsupported("a field of a joined table")
            if options.get("temporal-unit"):
                raise Unsupported(f"a field bucketed by {options['temporal-unit']}")
            if isinstance(ref[1], int):
                found = self.fields.get(ref[1])
                if found is None:
                    raise Unsupported(f"field {ref[1]} is not in the database's metadata")
                if found[0] != table_id:
                    raise Unsupported("a field of another table")
                return _column(found[1])
            raise Unsupported("a field named by text (a nested question's column)")
        if isinstance(ref, list) and ref and ref[0] == "fk->":
            raise Unsupported("a field reached through a foreign key")
        if isinstance(ref, list) and ref and ref[0] in ("expression", "aggregation"):
            raise Unsupported(f"a custom {ref[0]}")
        raise Unsupported(f"a field reference {json.dumps(ref)[:60]}")

    def filter(self, clause: Any, table_id: int) -> str:
        if not isinstance(clause, list) or not clause:
            raise Unsupported(f"a filter {json.dumps(clause)[:60]}")
        op, args = clause[0], clause[1:]
        if op in ("and", "or"):
            parts = [self.filter(a, table_id) for a in args]
            return "(" + f" {op.upper()} ".join(parts) + ")" if len(parts) > 1 else parts[0]
        if op == "not":
            return f"NOT ({self.filter(args[0], table_id)})"
        if op == "segment":
            segment = self.segments.get(args[0]) if args else None
            if segment is None or segment.get("table_id") != table_id:
                raise Unsupported(f"segment {args[0] if args else '?'} of another table or unknown")
            return self.filter(segment["definition"].get("filter"), table_id)
        if op in ("is-null", "not-null", "is-empty", "not-empty"):
            column = self.field(args[0], table_id)
            return {
                "is-null": f"{column} IS NULL",
                "not-null": f"{column} IS NOT NULL",
                "is-empty": f"({column} IS NULL OR {column} = '')",
                "not-empty": f"({column} IS NOT NULL AND {column} <> '')",
            }[op]
        if op in ("contains", "does-not-contain", "starts-with", "ends-with"):
            column, value = self.field(args[0], table_id), args[1] if len(args) > 1 else None
            if not isinstance(value, str):
                raise Unsupported(f"{op} with a non-text value")
            options = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
            escaped = value.replace("%", "\\%").replace("_", "\\_")
            pattern = {"contains": f"%{escaped}%", "does-not-contain": f"%{escaped}%",
                       "starts-with": f"{escaped}%", "ends-with": f"%{escaped}"}[op]  # fmt: skip
            if "%" in value or "_" in value:
                raise Unsupported(f"{op} with % or _ in the value")  # LIKE escapes differ per dialect
            target = column if options.get("case-sensitive", True) else f"lower({column})"
            text = pattern if options.get("case-sensitive", True) else pattern.lower()
            return f"{target} {'NOT ' if op == 'does-not-contain' else ''}LIKE {_literal(text)}"
        if op == "between":
            column = self.field(args[0], table_id)
            return f"{column} BETWEEN {_literal(args[1])} AND {_literal(args[2])}"
        if op in COMPARISONS:
            column = self.field(args[0], table_id)
            values = args[1:]
            if not values:
                raise Unsupported(f"{op} without a value")
            if any(isinstance(v, list) for v in values):
                raise Unsupported(f"{op} against an expression")
            if len(values) > 1 and op in ("=", "!="):
                inner = ", ".join(_literal(v) for v in values)
                return f"{column} {'NOT ' if op == '!=' else ''}IN ({inner})"
            if values[0] is None and op in ("=", "!="):
                return f"{column} IS {'NOT ' if op == '!=' else ''}NULL"
            return f"{column} {COMPARISONS[op]} {_literal(values[0])}"
        if op in ("time-interval", "relative-time-interval", "during"):
            raise Unsupported("a relative date filter (it depends on the day the question runs)")
        raise Unsupported(f"the filter operator {op!r}")

    def aggregation(self, clause: Any, table_id: int) -> tuple[str, str | None]:
        """(SQL aggregate, its own filter); a name Metabase gave it (`aggregation-options`) is the question's."""
        if isinstance(clause, list) and clause and clause[0] == "aggregation-options":
            clause = clause[1]
        if not isinstance(clause, list) or not clause:
            raise Unsupported(f"an aggregation {json.dumps(clause)[:60]}")
        op, args = clause[0], clause[1:]
        if op == "count" and not args:
            return "count(*)", None
        if op == "count-where":
            return "count(*)", self.filter(args[0], table_id)
        if op == "sum-where":
            return f"sum({self.field(args[0], table_id)})", self.filter(args[1], table_id)
        if op in AGGREGATIONS and args:
            column = self.field(args[0], table_id)
            if op == "distinct":
                return f"count(distinct {column})", None
            return f"{AGGREGATIONS[op]}({column})", None
        if op == "metric":
            raise Unsupported("an aggregation that reads another metric")
        raise Unsupported(f"the aggregation {op!r}")


def _one_table(query: Any, reader: Reader) -> int:
    """The table an MBQL query reads alone (no joins, custom expressions or nested question), or why not."""
    if not isinstance(query, dict):
        raise Unsupported("no MBQL query")
    table_id = query.get("source-table")
    if not isinstance(table_id, int):
        raise Unsupported("built on another question (a nested query)")
    if table_id not in reader.tables:
        raise Unsupported(f"table {table_id} is not in a mapped database")
    for key in ("joins", "expressions"):
        if query.get(key):
            raise Unsupported(f"uses {key}")
    return table_id


def mbql_measure(query: Any, reader: Reader) -> tuple[int, dict[str, Any]]:
    """(table id, measure without a name) of a question that is one aggregation over one table, with filters."""
    table_id = _one_table(query, reader)
    aggregations = query.get("aggregation") or []
    if len(aggregations) != 1:
        raise Unsupported(f"{len(aggregations)} aggregations (a measure is one)")
    expr, own = reader.aggregation(aggregations[0], table_id)
    filters = [reader.filter(query["filter"], table_id)] if query.get("filter") is not None else []
    filters += [own] if own else []
    measure: dict[str, Any] = {"expr": expr}
    if filters:
        measure["filter"] = " AND ".join(f"({f})" for f in filters) if len(filters) > 1 else filters[0]
    return table_id, measure


def _rows_only(query: Any) -> bool:
    """A question that lists rows (no aggregation, no breakout) narrowed by a filter."""
    return (
        isinstance(query, dict)
        and not query.get("aggregation")
        and not query.get("breakout")
        and (query.get("filter") is not None)
    )


def mbql_segment(query: dict[str, Any], reader: Reader) -> tuple[int, str]:
    """(table id, SQL condition) of a filtered listing of one table's rows."""
    table_id = _one_table(query, reader)
    return table_id, reader.filter(query["filter"], table_id)


def _stage_native(card: dict[str, Any], cards: dict[Any, dict[str, Any]]) -> str:
    """A native question's SQL with Metabase's template syntax resolved to plain SQL: optional `[[…]]` clauses
    dropped, `{{variable}}` a literal of its type, a field filter `{{tag}}` true, `{{#12-name}}` the referenced
    native question as a subquery."""
    native = (card.get("dataset_query") or {}).get("native") or {}
    sql = native.get("query")
    if not isinstance(sql, str) or not sql.strip():
        raise Unsupported("a native question without SQL")
    tags = native.get("template-tags") if isinstance(native.get("template-tags"), dict) else {}
    sql = re.sub(r"\[\[.*?\]\]", "", sql, flags=re.S)

    def tag(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name.startswith("#"):
            ref = re.match(r"#(\d+)", name)
            other = cards.get(int(ref.group(1))) if ref else None
            if other is None or (other.get("dataset_query") or {}).get("type") != "native":
                raise Unsupported(f"references question {name} that is not a native question ktx has")
            return f"({_stage_native(other, {k: v for k, v in cards.items() if k != other['id']})})"
        if name.lower().startswith("snippet:"):
            raise Unsupported(f"uses the snippet {name.split(':', 1)[1].strip()!r}")
        kind = str((tags.get(name) or {}).get("type") or "text")
        return {"dimension": "1 = 1", "number": "0", "date": "'2000-01-01'"}.get(kind, "'x'")

    return re.sub(r"\{\{\s*([^}]+?)\s*\}\}", tag, sql).strip().rstrip(";")


def project(
    snap: MetabaseSnapshot, mapping: dict[str, str], targets: dict[str, Target], connection_id: str
) -> Projection:
    from ktx.history.postgres import Template
    from ktx.history.stage import stage
    from ktx.project.yamlio import dump_yaml

    out = Projection(mapping=dict(mapping))
    reader = Reader(snap)
    databases = {str(db["id"]): db for db in snap.databases}
    for key, db in databases.items():
        if key not in mapping:
            out.unmapped.append({"database": db["id"], "name": db["name"], "reason": "no warehouse connection mapped"})
    collections = {c["id"]: c for c in snap.collections}
    # Metabase table id → (warehouse, manifest key)
    placed: dict[int, tuple[str, str]] = {}
    for db_key, warehouse in mapping.items():
        target = targets[warehouse]
        new_entries = out.entries.setdefault(warehouse, {})
        for table in databases[db_key].get("tables") or []:
            key = _match(table, target.entries)
            if key is None:
                out.warnings.append(
                    f"metabase_table_unmatched:{table.get('schema') or ''}.{table['name']}: no scanned table "
                    f"of that name in {warehouse}"
                )
                continue
            placed[table["id"]] = (warehouse, key)
            entry = new_entries.get(key) or _without_metabase(target.entries[key])
            _describe(entry, table)
            new_entries[key] = entry
        for key, entry in target.entries.items():  # tables Metabase no longer describes lose what it said
            new_entries.setdefault(key, _without_metabase(entry))
    overlays: dict[tuple[str, str], dict[str, Any]] = {}
    measure_of_card: dict[Any, str] = {}

    def add_measure(table_id: int, measure: dict[str, Any], item: str) -> str | None:
        warehouse, key = placed[table_id]
        overlay = overlays.setdefault((warehouse, key), {"name": key})
        names = {m["name"] for m in overlay.get("measures") or []}
        if measure["name"] in names:
            out.warnings.append(f"metabase_measure_duplicate:{item}: a measure {measure['name']} exists on {key}")
            return None
        overlay.setdefault("measures", []).append(measure)
        out.measures += 1
        return f"{warehouse}/{key}.{measure['name']}"

    def add_segment(table_id: int, source: dict[str, Any], expr: str) -> None:
        warehouse, key = placed[table_id]
        overlay = overlays.setdefault((warehouse, key), {"name": key})
        item = {"name": _measure_name(str(source.get("name") or source["id"])), "expr": expr}
        if source.get("description"):
            item["description"] = str(source["description"])
        if item["name"] in {s["name"] for s in overlay.get("segments") or []}:
            out.warnings.append(f"metabase_segment_duplicate:{source['id']}: a segment {item['name']} exists on {key}")
            return
        overlay.setdefault("segments", []).append(item)
        out.segments += 1

    live_cards = [c for c in snap.cards if not c.get("archived")]
    for segment in snap.segments:
        if segment.get("archived"):
            continue
        definition = segment.get("definition") if isinstance(segment.get("definition"), dict) else {}
        table_id = segment.get("table_id") or definition.get("source-table")
        try:
            if table_id not in placed:
                raise Unsupported("its table is not a scanned table of a mapped database")
            expr = reader.filter(definition.get("filter"), table_id)
        except Unsupported as exc:
            out.unmapped.append({"segment": segment["id"], "name": segment.get("name"), "reason": str(exc)})
            continue
        add_segment(table_id, segment, expr)
    measure_items = [(m, "metric") for m in snap.metrics if not m.get("archived")] + [
        (c, "card") for c in live_cards if (c.get("dataset_query") or {}).get("type") == "query"
    ]
    for item, kind in measure_items:
        label = f"{'metric' if kind == 'metric' or item.get('type') == 'metric' else 'question'} {item['id']}"
        query = item.get("definition") if kind == "metric" else (item.get("dataset_query") or {}).get("query")
        try:
            if kind == "card" and (item.get("dataset_query") or {}).get("database") not in (
                None,
                *[db["id"] for db in snap.databases if str(db["id"]) in mapping],
            ):
                raise Unsupported("its database is not mapped to a warehouse connection")
            if kind == "card" and _rows_only(query):
                # A question listing one table's rows through filters is a segment: the rows it keeps.
                table_id, expr = mbql_segment(query, reader)
                if table_id not in placed:
                    raise Unsupported("its table is not a scanned table of a mapped database")
                add_segment(table_id, item, expr)
                continue
            table_id, measure = mbql_measure(query, reader)
            if table_id not in placed:
                raise Unsupported("its table is not a scanned table of a mapped database")
        except Unsupported as exc:
            out.unmapped.append({label.split()[0]: item["id"], "name": item.get("name"), "reason": str(exc)})
            continue
        measure = {"name": _measure_name(str(item.get("name") or item["id"])), **measure}
        described = str(item.get("description") or "").strip()
        measure["description"] = (described + " " if described else "") + f"(Metabase {label}: {item.get('name')})"
        ref = add_measure(table_id, measure, label)
        if ref:
            measure_of_card[(kind, item["id"])] = ref
    for (warehouse, key), overlay in sorted(overlays.items()):
        header = f"# Written by `ktx ingest {connection_id}` from Metabase; rewritten on every run.\n"
        out.files[f"semantic-layer/{warehouse}/metabase/{key}.yaml"] = header + dump_yaml(overlay)
    # Native questions: staged like query history, one page each.
    cards_by_id = {c["id"]: c for c in snap.cards}
    for card in live_cards:
        query = card.get("dataset_query") or {}
        if query.get("type") != "native":
            continue
        warehouse = mapping.get(str(query.get("database")))
        if warehouse is None:
            out.unmapped.append({"card": card["id"], "name": card.get("name"), "reason": "database not mapped"})
            continue
        target = targets[warehouse]
        try:
            sql = _stage_native(card, cards_by_id)
        except Unsupported as exc:
            out.unmapped.append({"card": card["id"], "name": card.get("name"), "reason": str(exc)})
            continue
        executions = card.get("view_count") if isinstance(card.get("view_count"), int) else 1
        template = Template(f"metabase-card-{card['id']}", sql, max(1, executions))
        catalog = {
            _qualified(e): {str(c.get("name")).lower() for c in e.get("columns") or []} for e in target.entries.values()
        }
        staged = stage(
            [template], target.history_config, dialect=target.dialect, catalog=catalog,
            default_schema=target.default_schema,
        )  # fmt: skip
        if not staged.templates:
            reason = (staged.warnings[-1].split(": ", 1)[-1] if staged.parse_failures else None) or ", ".join(
                f"{k}" for k in staged.dropped
            )
            out.unmapped.append({"card": card["id"], "name": card.get("name"), "reason": f"SQL not staged: {reason}"})
            continue
        keys = {_qualified(e): k for k, e in target.entries.items()}
        out.files[_page_path("question", card)] = _question_page(
            card, staged.templates[0], keys, warehouse, collections.get(card.get("collection_id"))
        )
        out.pages += 1
    for dashboard in snap.dashboards:
        if dashboard.get("archived"):
            continue
        out.files[_page_path("dashboard", dashboard)] = _dashboard_page(
            dashboard, cards_by_id, measure_of_card, collections.get(dashboard.get("collection_id"))
        )
        out.pages += 1
    for collection in snap.collections:
        if collection.get("archived") or collection.get("personal_owner_id"):
            continue
        members = [c for c in live_cards if c.get("collection_id") == collection["id"]]
        boards = [d for d in snap.dashboards if d.get("collection_id") == collection["id"] and not d.get("archived")]
        out.files[_page_path("collection", collection)] = _collection_page(
            collection, members, boards, measure_of_card, collections
        )
        out.pages += 1
    return out


def _qualified(entry: dict[str, Any]) -> str:
    parts = [p.strip('"`[]') for p in str(entry.get("table") or "").split(".")]
    return ".".join(parts[-2:]).lower()


def _match(table: dict[str, Any], entries: dict[str, dict[str, Any]]) -> str | None:
    name, schema = str(table["name"]).lower(), str(table.get("schema") or "").lower()
    hits = []
    for key, entry in entries.items():
        parts = [p.strip('"`[]').lower() for p in str(entry.get("table") or "").split(".")]
        if parts[-1] == name:
            hits.append((key, parts[-2] if len(parts) > 1 else ""))
    if len(hits) > 1 and schema:
        hits = [h for h in hits if h[1] == schema] or hits
    return hits[0][0] if len(hits) == 1 else None


def _without_metabase(entry: dict[str, Any]) -> dict[str, Any]:
    import copy

    new = copy.deepcopy(entry)
    new.pop("metabase", None)
    if isinstance(new.get("descriptions"), dict):
        new["descriptions"].pop("metabase", None)
        if not new["descriptions"]:
            new.pop("descriptions")
    for column in new.get("columns") or []:
        column.pop("metabase", None)
        if isinstance(column.get("descriptions"), dict):
            column["descriptions"].pop("metabase", None)
            if not column["descriptions"]:
                column.pop("descriptions")
    return new


def _describe(entry: dict[str, Any], table: dict[str, Any]) -> None:
    if str(table.get("description") or "").strip():
        entry.setdefault("descriptions", {})["metabase"] = str(table["description"]).strip()
    about = {k: table[k] for k in ("display_name", "entity_type") if table.get(k)}
    about["table_id"] = table["id"]
    entry["metabase"] = about
    columns = {str(c.get("name")).lower(): c for c in entry.get("columns") or []}
    for f in table["fields"]:
        column = columns.get(str(f["name"]).lower())
        if column is None:
            continue
        if str(f.get("description") or "").strip():
            column.setdefault("descriptions", {})["metabase"] = str(f["description"]).strip()
        info = {k: f[k] for k in ("semantic_type", "display_name") if f.get(k)}
        if f.get("visibility_type") and f["visibility_type"] != "normal":
            info["visibility"] = f["visibility_type"]
        if info:
            column["metabase"] = info


def _page_path(kind: str, item: dict[str, Any]) -> str:
    return f"wiki/global/metabase-{kind}-{item['id']}-{_slug(str(item.get('name') or kind))}.md"


def _page_key(kind: str, item: dict[str, Any]) -> str:
    return _page_path(kind, item).removeprefix("wiki/global/").removesuffix(".md")


def _question_page(
    card: dict[str, Any], staged: Any, keys: dict[str, str], warehouse: str, collection: dict[str, Any] | None
) -> str:
    from ktx.wiki.page import render_page

    names = [keys.get(t, t.split(".")[-1]) for t in staged.tables]
    joins = sorted({f"{a.split('.')[-1]}.{ca} = {b.split('.')[-1]}.{cb}" for a, ca, b, cb in staged.joins})
    lines = [f"# {card.get('name')}", ""]
    if str(card.get("description") or "").strip():
        lines += [str(card["description"]).strip(), ""]
    where = f" in the collection {collection['name']}" if collection else ""
    views = f", viewed {card['view_count']} times" if isinstance(card.get("view_count"), int) else ""
    lines.append(f"A native SQL question in Metabase (#{card['id']}{where}{views}), on `{warehouse}`.")
    if joins:
        lines += ["", "It joins on " + "; ".join(f"`{j}`" for j in joins) + "."]
    lines += ["", "## SQL", "", "```sql", staged.sql.strip(), "```", "", "## Tables", ""]
    lines += [f"- `{t}` (source `{n}`)" for t, n in zip(staged.tables, names, strict=True)]
    frontmatter = {
        "summary": f"Metabase question: {card.get('name')}",
        "tags": ["metabase", "question", "query-pattern"],
        "sl_refs": [f"{warehouse}/{n}" for n in names],
        "usage_mode": "auto",
        "source": "metabase",
        "metabase_id": card["id"],
        "tables": list(staged.tables),
    }
    if collection:
        frontmatter["refs"] = [_page_key("collection", collection)]
    return render_page(frontmatter, "\n".join(lines) + "\n")


def _card_line(card: dict[str, Any] | None, card_id: Any, measures: dict[Any, str]) -> str:
    if card is None:
        return f"question #{card_id} (not readable)"
    kind = "SQL" if (card.get("dataset_query") or {}).get("type") == "native" else card.get("type") or "question"
    text = f"**{card.get('name')}** ({kind} #{card['id']})"
    if ("card", card["id"]) in measures:
        text += f" — measure `{measures[('card', card['id'])]}`"
    elif kind == "SQL":
        text += f" — [[{_page_key('question', card)}]]"
    return text


def _dashboard_page(
    dashboard: dict[str, Any],
    cards: dict[Any, dict[str, Any]],
    measures: dict[Any, str],
    collection: dict[str, Any] | None,
) -> str:
    from ktx.wiki.page import render_page

    lines = [f"# {dashboard['name']}", ""]
    if str(dashboard.get("description") or "").strip():
        lines += [str(dashboard["description"]).strip(), ""]
    where = f" in the collection {collection['name']}" if collection else ""
    lines += [f"Metabase dashboard #{dashboard['id']}{where}.", "", "## Tiles", ""]
    for tile in dashboard.get("tiles") or []:
        if tile.get("card_id") is None:
            if str(tile.get("text") or "").strip():
                lines.append(f"- text: {' '.join(str(tile['text']).split())[:300]}")
            continue
        lines.append("- " + _card_line(cards.get(tile["card_id"]), tile["card_id"], measures))
    refs = [_page_key("question", cards[t["card_id"]]) for t in dashboard.get("tiles") or []
            if t.get("card_id") in cards and (cards[t["card_id"]].get("dataset_query") or {}).get("type") == "native"]  # fmt: skip
    frontmatter: dict[str, Any] = {
        "summary": f"Metabase dashboard: {dashboard['name']}",
        "tags": ["metabase", "dashboard"],
        "usage_mode": "auto",
        "source": "metabase",
        "metabase_id": dashboard["id"],
    }
    sl_refs = sorted({measures[("card", t["card_id"])].split(".")[0] for t in dashboard.get("tiles") or []
                      if ("card", t.get("card_id")) in measures})  # fmt: skip
    if sl_refs:
        frontmatter["sl_refs"] = sl_refs
    if refs:
        frontmatter["refs"] = list(dict.fromkeys(refs))
    return render_page(frontmatter, "\n".join(lines) + "\n")


def _collection_page(
    collection: dict[str, Any],
    cards: list[dict[str, Any]],
    dashboards: list[dict[str, Any]],
    measures: dict[Any, str],
    collections: dict[Any, dict[str, Any]],
) -> str:
    from ktx.wiki.page import render_page

    path = [collections[int(p)]["name"] for p in str(collection.get("location") or "/").split("/")
            if p.isdigit() and int(p) in collections]  # fmt: skip
    lines = [f"# {collection.get('name')}", ""]
    if str(collection.get("description") or "").strip():
        lines += [str(collection["description"]).strip(), ""]
    lines.append(f"Metabase collection #{collection['id']}" + (f" (under {' / '.join(path)})" if path else "") + ".")
    if dashboards:
        lines += ["", "## Dashboards", ""]
        lines += [f"- [[{_page_key('dashboard', d)}]] {d['name']}" for d in sorted(dashboards, key=lambda d: d["name"])]
    if cards:
        lines += ["", "## Questions", ""]
        lines += ["- " + _card_line(c, c["id"], measures) for c in sorted(cards, key=lambda c: str(c.get("name")))]
    frontmatter = {
        "summary": f"Metabase collection: {collection.get('name')}",
        "tags": ["metabase", "collection"],
        "usage_mode": "auto",
        "source": "metabase",
        "metabase_id": collection["id"],
    }
    return render_page(frontmatter, "\n".join(lines) + "\n")
