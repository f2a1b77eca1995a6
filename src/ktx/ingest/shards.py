"""From a scan's results to the `_schema/*.yaml` files of one connection, merged with what is already there."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.project.yamlio import safe_load, yaml_problem
from ktx.scan.describe import describe_column, describe_table
from ktx.scan.enrich import DescriptionUpdate
from ktx.scan.manifest import JoinSpec, build_entry, dump_shard, merge_entry, on_clause, shard_key
from ktx.scan.profile import TableStats
from ktx.scan.relationships.names import tokens
from ktx.scan.snapshot import Snapshot


@dataclass
class ExistingShards:
    entries: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # name → (shard path, entry)
    files: dict[str, str] = field(default_factory=dict)  # shard path → current text


def read_shards(root: Path, connection_id: str) -> ExistingShards:
    """Every entry of the connection's current shards; a shard that cannot be read stops the run (never lost)."""
    out = ExistingShards()
    folder = root / "semantic-layer" / connection_id / "_schema"
    for path in sorted(folder.glob("*.y*ml")):
        rel = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
            data = safe_load(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise KtxError(f"{rel} cannot be read ({exc}); fix or remove it, then rerun `ktx ingest`.") from None
        except Exception as exc:
            raise KtxError(f"{rel} is not valid YAML ({yaml_problem(exc)}); fix or remove it, then rerun.") from None
        out.files[rel] = text
        if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
            continue
        for name, entry in data["tables"].items():
            if isinstance(entry, dict):
                out.entries[str(name)] = (rel, entry)
    return out


def _alias_for(column: str, target: str) -> str | None:
    """A role-named second link to the same table gets an alias (`ship_region_id` → `ship_region`)."""
    parts = [t for t in tokens(column) if t not in ("id", "key", "code", "uuid", "sk", "no", "fk")]
    alias = "_".join(parts)
    return alias if alias and alias != target.lower() else None


def _unique_alias(alias: str | None, child: str, parent: str, taken: dict[str, str]) -> str | None:
    """`alias`, or a variant no table and no alias of another table already uses (`user` → `user_crm_users`)."""
    if alias is None:
        return None
    candidates = [alias, f"{alias}_{parent.split('.')[-1]}", f"{alias}_{parent.replace('.', '_')}"]
    candidates += [f"{alias}_{parent.replace('.', '_')}_{n}" for n in range(2, 100)]
    for candidate in candidates:
        owner = taken.get(candidate.lower())
        if owner is None or (owner == parent and candidate.lower() not in (parent.lower(), child.lower())):
            taken[candidate.lower()] = parent
            return candidate
    return None


def role_checker(snapshot: Snapshot) -> Any:
    """`is_role(child, column, parent)`: the column names a role of the parent (`ship_region_id` → regions), not
    the parent itself (`customer_id`, `o_custkey`)."""
    from ktx.scan.relationships.candidates import base_of, table_names
    from ktx.scan.snapshot import table_infos

    names = {info.key: table_names(info) for info in table_infos(snapshot)}

    def is_role(child: str, column: str, parent: str) -> bool:
        base = base_of(names[child].stripped.get(column, ()))
        target = names[parent].tokens
        return base is not None and len(base) > len(target) and tuple(base[-len(target) :]) == tuple(target)

    return is_role


def build_joins(
    accepted: list[dict[str, Any]], keys: set[str], dialect: str, is_role: Any = None
) -> dict[str, list[JoinSpec]]:
    """Both directions of every accepted edge: many_to_one on the child, one_to_many on the parent."""
    joins: dict[str, list[JoinSpec]] = {}
    seen: set[tuple[str, str, str]] = set()
    ordered = sorted(accepted, key=lambda e: (0 if e["source"] == "formal" else 1, e["id"]))
    per_pair: dict[tuple[str, str], int] = {}
    for edge in ordered:
        child, parent = edge["from"]["table"], edge["to"]["table"]
        if child not in keys or parent not in keys:
            continue
        per_pair[(child, parent)] = per_pair.get((child, parent), 0) + 1
    # An alias is a node of the connection's join graph: it must not be a table's name, nor another alias that
    # stands for a different table (`user` for app.users and for crm.users would make the layer fail to load).
    taken: dict[str, str] = {key.lower(): key for key in keys} | {key.split(".")[-1].lower(): key for key in keys}
    for edge in ordered:
        child, parent = edge["from"]["table"], edge["to"]["table"]
        if child not in keys or parent not in keys:
            continue
        child_cols, parent_cols = edge["from"]["columns"], edge["to"]["columns"]
        source = "formal" if edge["source"] == "formal" else "inferred"
        alias = None
        role = is_role is not None and is_role(child, child_cols[0], parent)
        if len(child_cols) == 1 and (child == parent or per_pair[(child, parent)] > 1 or role):
            # A role-named link (`ship_region_id`, `manager_id`) is its own node in the join graph, so
            # `regions.name` keeps meaning the customer's region rather than wherever an order shipped.
            alias = _unique_alias(_alias_for(child_cols[0], parent), child, parent, taken)
        forward_on = on_clause(child, child_cols, parent, parent_cols, dialect)
        forward = JoinSpec(parent, forward_on, "many_to_one", source, alias)
        backward = JoinSpec(child, on_clause(parent, parent_cols, child, child_cols, dialect), "one_to_many", source)
        for owner, join in ((child, forward), (parent, backward)):
            if join is backward and (child == parent or alias):
                continue  # a self-reference or a role link reads from the child side only
            key = (owner, join.to, join.on)
            if key in seen:
                continue
            seen.add(key)
            joins.setdefault(owner, []).append(join)
    return joins


def render_shards(
    snapshot: Snapshot,
    dialect: str,
    existing: ExistingShards,
    *,
    connection_id: str,
    stats: dict[str, TableStats],
    primary_keys: dict[str, list[str]],
    accepted: list[dict[str, Any]],
    descriptions: dict[str, DescriptionUpdate],
    deterministic: bool,
    unchanged: set[str],
    usage: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str | None]:
    """Shard path → new text (None to delete); only files whose text changes are returned. With `usage` (a
    query-history run), each entry's `usage:` block is replaced by it (or by none); otherwise the old one stays."""
    keys = set(snapshot.tables)
    joins = build_joins(accepted, keys, dialect, role_checker(snapshot))
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    points: dict[str, dict[str, str]] = {}
    for edge in accepted:
        child, parent = edge["from"]["table"], edge["to"]["table"]
        if child in keys and parent in keys:
            parents.setdefault(child, []).append(parent)
            if child != parent:
                children.setdefault(parent, []).append(child)
            if len(edge["from"]["columns"]) == 1:
                points.setdefault(child, {})[edge["from"]["columns"][0]] = f"{parent}.{edge['to']['columns'][0]}"
    present = {key: {c.name for c in table.columns} for key, table in snapshot.tables.items()}
    shards: dict[str, dict[str, dict[str, Any]]] = {}
    folder = f"semantic-layer/{connection_id}/_schema"
    for key, table in snapshot.tables.items():
        pk = tuple(primary_keys.get(key) or ())
        table_stats = stats.get(key)
        old = existing.entries.get(key, (None, None))[1]
        table_desc: dict[str, str] = {"db": table.comment or ""}
        column_desc: dict[str, dict[str, str]] = {c.name: {"db": c.comment or ""} for c in table.columns}
        if deterministic:
            keep = key in unchanged and isinstance(old, dict)
            old_profile = ((old or {}).get("descriptions") or {}).get("profile") if keep else None
            table_desc["profile"] = old_profile or describe_table(
                table, table_stats, pk=pk, parents=parents.get(key, []), children=children.get(key, [])
            )
            old_columns = {c.get("name"): c for c in (old or {}).get("columns") or [] if isinstance(c, dict)}
            for column in table.columns:
                previous = (
                    ((old_columns.get(column.name) or {}).get("descriptions") or {}).get("profile") if keep else None
                )
                column_desc[column.name]["profile"] = previous or describe_column(
                    column,
                    table_stats.columns.get(column.name) if table_stats else None,
                    is_pk=column.name in pk,
                    points_to=points.get(key, {}).get(column.name),
                )
        update = descriptions.get(key)
        if update is not None:
            if update.table_description:
                table_desc["ai"] = update.table_description
            for name, text in update.columns.items():
                if text and name in column_desc:
                    column_desc[name]["ai"] = text
        entry = build_entry(
            key,
            table,
            dialect,
            pk=pk,
            table_descriptions=table_desc,
            column_descriptions=column_desc,
            joins=joins.get(key, []),
        )
        entry = merge_entry(entry, old, present, key)
        if usage is not None:
            entry.pop("usage", None)
            if key in usage:
                entry = _with_usage(entry, usage[key])
        path = f"{folder}/{_safe_file(shard_key(snapshot.driver, table.schema))}.yaml"
        shards.setdefault(path, {})[key] = entry
    out: dict[str, str | None] = {}
    for path, entries in shards.items():
        text = dump_shard(entries, consume=True)
        if existing.files.get(path) != text:
            out[path] = text
    for path in existing.files:
        if path not in shards:
            out[path] = None  # its tables left the warehouse (or the scope), or moved to another shard
    return out


def _with_usage(entry: dict[str, Any], block: dict[str, Any]) -> dict[str, Any]:
    from ktx.scan.manifest import ENTRY_KEYS

    merged = {**entry, "usage": block}
    return {k: merged[k] for k in [*ENTRY_KEYS, *merged] if k in merged}


def _safe_file(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name) or "default"
