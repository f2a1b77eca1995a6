"""`semantic-layer/<connection>/_schema/<shard>.yaml`: what a scan found, merged with what people added.

Rerun rules: columns, `pk`, `nullable` and formal joins are rebuilt from the warehouse; description keys other
than the scan's own (`db`, `profile`, and `ai` when a new one was written) survive, as do every other key of an
entry; `manual` and `inferred` joins survive while their columns exist. Shards are emitted by a small fixed-shape
writer rather than a YAML library: it is fast on thousands of tables and quotes every scalar a YAML 1.1 reader
would misread (`on`, `yes`, `1e3`, …).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ktx.warehouse.catalog import CatalogTable

SCAN_DESCRIPTION_KEYS = ("db", "profile")  # rewritten on every scan; `ai` only when a new one exists
ENTRY_KEYS = ("table", "descriptions", "usage", "columns", "joins")  # written first, in this order

# Plain (unquoted) only when no YAML reader, block or flow, 1.1 or 1.2, can take it for something else.
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .()/;+'<>=%-]*[A-Za-z0-9_.)%]$|^[A-Za-z_]$")
_YAML11_SPECIAL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$"
)


def shard_key(driver: str, schema: str | None, catalog: str | None = None) -> str:
    """Reference rules: Snowflake `<catalog>.<schema>`; BigQuery/MySQL/ClickHouse the database; else `db ?? public`."""
    if driver == "snowflake":
        return f"{catalog or 'default'}.{schema or 'public'}"
    if driver in ("bigquery", "mysql", "clickhouse"):
        return schema or catalog or "default"
    return schema or "public"


def table_ref(schema: str | None, name: str, dialect: str) -> str:
    """`schema.name` as the connection's SQL reads it, quoted only where it must be."""
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    d = Dialect.get_or_raise(dialect)
    for identify in (False, True):
        node = exp.Table(
            this=d.quote_identifier(exp.to_identifier(name), identify=identify),
            db=d.quote_identifier(exp.to_identifier(schema), identify=identify) if schema else None,
        )
        text = node.sql(dialect=dialect)
        try:
            parsed = exp.to_table(text, dialect=dialect)
        except Exception:
            continue
        if parsed.name == name and (parsed.db or None) == (schema or None):
            return text
    return text


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    number_like = re.fullmatch(r"[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?", text)
    ambiguous = number_like or _YAML11_SPECIAL.match(text) or ": " in text or " #" in text
    if _PLAIN.match(text) and not ambiguous:
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(key: str) -> str:
    return scalar(key)


def _flow(mapping: dict[str, Any]) -> str:
    parts = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            parts.append(f"{_key(key)}: {_flow(value)}")
        elif isinstance(value, list | tuple):
            parts.append(f"{_key(key)}: [{', '.join(scalar(v) for v in value)}]")
        else:
            parts.append(f"{_key(key)}: {scalar(value)}")
    return "{" + ", ".join(parts) + "}"


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append(f"{pad}{_key(key)}:")
                lines += _block(item, indent + 2)
            elif isinstance(item, list | tuple) and item:
                lines.append(f"{pad}{_key(key)}:")
                for element in item:
                    if isinstance(element, dict):
                        lines.append(f"{pad}  - {_flow(element)}")
                    else:
                        lines.append(f"{pad}  - {scalar(element)}")
            elif isinstance(item, dict):
                lines.append(f"{pad}{_key(key)}: {{}}")
            elif isinstance(item, list | tuple):
                lines.append(f"{pad}{_key(key)}: []")
            else:
                lines.append(f"{pad}{_key(key)}: {scalar(item)}")
    return lines


SHARD_HEADER = (
    "# Written by `ktx ingest` from what the warehouse declares and what its data shows. Columns, types, keys and\n"
    "# formal joins are rebuilt on every scan; put your own meaning in an overlay file beside _schema/.\n"
)


def _detached(value: Any) -> Any:
    """A copy of the containers as YAML reads them back (lists for tuples, text keys), sharing the immutable values:
    a JSON round trip would also copy every string (twice the memory of a 100,000-table shard)."""
    if isinstance(value, dict):
        return {str(k): _detached(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_detached(v) for v in value]
    return value


def dump_shard(entries: dict[str, dict[str, Any]], *, consume: bool = False) -> str:
    """The shard's text; what it reads back as goes to the file cache, without reading it back: a detached copy
    (kept from later edits). `consume`: `entries` is emptied as each entry is written, so a 100,000-table shard
    is never held twice (its entries and their copy) on top of its text."""
    from ktx.project.yamlio import remember_parsed

    parts = [SHARD_HEADER + "tables:"]
    kept: dict[str, Any] = {}
    for name in sorted(entries):
        entry = entries.pop(name) if consume else entries[name]
        parts.append("\n".join([f"  {_key(name)}:", *_block(entry, 4)]))
        kept[name] = _detached(entry)
        del entry
    text = "\n".join(parts) + "\n"
    del parts
    remember_parsed(text, {"tables": kept})
    return text


@dataclass
class JoinSpec:
    to: str
    on: str
    relationship: str
    source: str
    alias: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"to": self.to, "on": self.on, "relationship": self.relationship, "source": self.source}
        return {**out, "alias": self.alias} if self.alias else out


def on_clause(from_key: str, from_cols: Iterable[str], to_key: str, to_cols: Iterable[str], dialect: str) -> str:
    """`a.x = b.y AND …`, each column quoted the way the connection's SQL needs (source names are plain)."""
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    d = Dialect.get_or_raise(dialect)

    def ref(table: str, column: str) -> str:
        name = d.quote_identifier(exp.to_identifier(column), identify=False).sql(dialect=dialect)
        return f"{table}.{name}"

    return " AND ".join(f"{ref(from_key, a)} = {ref(to_key, b)}" for a, b in zip(from_cols, to_cols, strict=True))


_IDENT = r'(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s=."`\[]+)'
_REF = rf"{_IDENT}(?:\.{_IDENT})*"
_ON_PART = re.compile(rf"^\s*({_REF})\s*=\s*({_REF})\s*$")


def _split_ref(ref: str) -> tuple[str, str]:
    """`a."Customer ID"` → (`a`, `Customer ID`); a bare column has no table."""
    parts = [_unquote(p) for p in re.findall(_IDENT, ref)]
    return (".".join(parts[:-1]), parts[-1]) if parts else ("", ref)


def join_columns(on: str, own: str) -> list[tuple[str, str]] | None:
    """The (own column, other column) pairs of an `on` clause, or None when it is not plain equalities."""
    pairs = []
    for part in re.split(r"\s+AND\s+", on.strip(), flags=re.I):
        match = _ON_PART.match(part)
        if not match:
            return None
        left_table, left_col = _split_ref(match.group(1))
        right_table, right_col = _split_ref(match.group(2))
        if left_table in ("", own) and right_table != own:
            pairs.append((left_col, right_col))
        elif right_table in ("", own) and left_table != own:
            pairs.append((right_col, left_col))
        else:
            pairs.append((left_col, right_col))
    return pairs


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    if len(name) >= 2 and name[0] == "[" and name[-1] == "]":
        return name[1:-1]
    return name


def build_entry(
    key: str,
    table: CatalogTable,
    dialect: str,
    *,
    pk: tuple[str, ...],
    table_descriptions: dict[str, str],
    column_descriptions: dict[str, dict[str, str]],
    joins: list[JoinSpec],
) -> dict[str, Any]:
    columns = []
    for column in table.columns:
        entry: dict[str, Any] = {"name": column.name, "type": column.native_type}
        if column.name in pk:
            entry["pk"] = True
        if not column.nullable:
            entry["nullable"] = False
        descriptions = {k: v for k, v in (column_descriptions.get(column.name) or {}).items() if v}
        if descriptions:
            entry["descriptions"] = descriptions
        columns.append(entry)
    out: dict[str, Any] = {"table": table_ref(table.schema, table.name, dialect)}
    descriptions = {k: v for k, v in table_descriptions.items() if v}
    if descriptions:
        out["descriptions"] = descriptions
    out["columns"] = columns
    if joins:
        out["joins"] = [j.to_dict() for j in joins]
    return out


def merge_entry(
    new: dict[str, Any], old: dict[str, Any] | None, present: dict[str, set[str]], key: str
) -> dict[str, Any]:
    """Keep what people and other tools added to an entry (see the module docstring for the rules).

    `present` maps every source in the new snapshot to its column names (for checking kept joins)."""
    if not isinstance(old, dict):
        return new
    merged = dict(new)
    merged["descriptions"] = _merge_descriptions(new.get("descriptions"), old.get("descriptions"))
    if not merged["descriptions"]:
        merged.pop("descriptions")
    old_columns = {c.get("name"): c for c in old.get("columns") or [] if isinstance(c, dict)}
    columns = []
    for column in new["columns"]:
        previous = old_columns.get(column["name"])
        if isinstance(previous, dict):
            column = dict(column)
            descriptions = _merge_descriptions(column.get("descriptions"), previous.get("descriptions"))
            if descriptions:
                column["descriptions"] = descriptions
            for extra in ("constraints", "enum_values", "tests", "metabase", "meta"):
                if previous.get(extra) is not None:
                    column[extra] = previous[extra]
        columns.append(column)
    merged["columns"] = columns
    joins = list(new.get("joins") or [])
    seen = {(j["to"], _norm(j["on"])) for j in joins}
    for join in old.get("joins") or []:
        if not isinstance(join, dict) or join.get("source") not in ("manual", "inferred"):
            continue
        target, on = str(join.get("to", "")), str(join.get("on", ""))
        if (target, _norm(on)) in seen or target not in present:
            continue
        pairs = join_columns(on, key)
        if pairs is None or not all(a in present[key] and b in present[target] for a, b in pairs):
            continue
        joins.append(dict(join))
        seen.add((target, _norm(on)))
    if joins:
        merged["joins"] = joins
    for extra_key, value in old.items():
        if extra_key not in merged and extra_key not in ("columns", "joins", "table", "descriptions"):
            merged[extra_key] = value
    return {k: merged[k] for k in [*ENTRY_KEYS, *merged] if k in merged}


def _merge_descriptions(new: Any, old: Any) -> dict[str, str]:
    out = dict(new or {})
    if isinstance(old, dict):
        for k, v in old.items():
            if k in SCAN_DESCRIPTION_KEYS or k in out or not isinstance(v, str):
                continue
            out[str(k)] = v
    return dict(sorted(out.items()))


def _norm(on: str) -> str:
    return re.sub(r"\s+", " ", on.strip())
