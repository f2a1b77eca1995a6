"""Composite keys: tables with no strong single-column key get 2–3 column key tuples tested by SQL, and other
tables carrying the same (prefix-stripped) columns are checked as composite foreign keys."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from ktx.errors import KtxError
from ktx.scan.profile import TableStats
from ktx.scan.relationships.candidates import Indexes, alias_match, base_of, junction_columns, type_family
from ktx.scan.relationships.model import Edge, PrimaryKey, TableInfo
from ktx.scan.relationships.names import stem
from ktx.scan.relationships.validation import _table, check_tuple

KEY_PARTS = frozenset(
    {"id", "key", "code", "number", "num", "no", "nr", "line", "warehouse", "account", "order", "seq", "sku", "date"}
)
MAX_COLUMNS = 8


def _distinct_tuples_sql(info: TableInfo, columns: tuple[str, ...], dialect: str) -> str:
    from sqlglot import exp

    not_null = exp.and_(
        *(exp.Not(this=exp.Is(this=exp.column(c, quoted=True), expression=exp.Null())) for c in columns)
    )
    inner = exp.select(*(exp.column(c, quoted=True) for c in columns)).distinct().from_(_table(info)).where(not_null)
    return exp.select(exp.Count(this=exp.Star())).from_(inner.subquery("ktx_tuples")).sql(dialect=dialect)


def _strong_single_key(
    table: TableInfo, stats: TableStats, indexes: Indexes, linked: frozenset[str] = frozenset()
) -> bool:
    names = indexes.names[table.key]
    references = junction_columns(names, indexes) | linked
    for column in table.columns:
        if column.name in references:
            continue  # a junction table's reference is not its key, however unique (see junction_columns)
        col = stats.columns.get(column.name)
        stripped = names.stripped.get(column.name, ())
        if column.kind in ("time", "boolean") or col is None or not stripped:
            continue
        if (
            stripped[-1] in ("id", "key", "uuid", "code")
            and col.null_rate <= 0.02
            and col.uniqueness >= 0.98
            and not col.duplicates_seen
        ):
            return True
    return False


def _key_like(table: TableInfo, stats: TableStats, indexes: Indexes, shared: frozenset[str] = frozenset()) -> list[str]:
    """Columns that may be part of a composite key: key-named ones, and ones another table carries under the same
    name (`classroom.building` beside `section.building`: a pair other tables join on)."""
    names = indexes.names[table.key]
    out = []
    for column in table.columns:
        col = stats.columns.get(column.name)
        stripped = set(names.stripped.get(column.name, ()))
        if column.kind == "boolean" or col is None or col.null_rate > 0.02:
            continue
        if column.kind == "time":
            # An event table is keyed by who and when: (customer_id, datetime_payment).
            if stripped & {"date", "datetime", "timestamp", "time"}:
                out.append(column.name)
            continue
        if stripped & KEY_PARTS or (column.name.lower() in shared and type_family(column.native_type) == "string"):
            out.append(column.name)
    return out[:MAX_COLUMNS]


def _covers_table_name(table: TableInfo, tuple_cols: tuple[str, ...], indexes: Indexes) -> bool:
    """`order_lines` needs both an `order` and a `line` column in the tuple."""
    names = indexes.names[table.key]
    needed = {t for t in names.tokens if t in KEY_PARTS}
    have = {t for c in tuple_cols for t in names.stripped.get(c, ())}
    return needed <= have


def _sequence_parts(combo: tuple[str, ...], names) -> int:
    """Minus the number of line/sequence-like columns in a tuple (more sort first)."""
    return -sum(1 for c in combo if set(names.stripped.get(c, ())) & {"line", "seq", "sequence", "position", "pos"})


def _extension_key(table: TableInfo, stats: TableStats, indexes: Indexes, targets: dict[str, str]) -> str | None:
    """A table named as another plus a qualifier (`Documents_to_be_Destroyed`, `Documents_with_Expenses`) that
    leads with a unique reference to it is keyed by that reference: one row per document. Not when another of its
    references names the rest of the name (`debate_people`: `Affirmative` → people is a link table's part)."""
    names = indexes.names[table.key]
    if not table.columns or len(names.tokens) < 2 or stats.row_count > stats.sampled:
        return None
    first = table.columns[0].name
    col = stats.columns.get(first)
    if first not in targets or col is None or col.duplicates_seen or col.null_count or not col.sampled:
        return None
    parent = indexes.names[targets[first]]
    if stem(names.tokens[0]) != stem(parent.tokens[-1]):
        return None
    rest = {stem(t) for t in names.tokens[1:]}
    for column, target in targets.items():
        if column != first and rest & {stem(t) for t in indexes.names[target].tokens}:
            return None
    return first


def _widened_by_children(
    key: str, best: tuple[str, ...], tables: dict[str, TableInfo], indexes: Indexes
) -> tuple[str, ...]:
    """A unique tuple found on these rows may be narrower than the key the schema means: when every table that
    carries it also carries more of this table's columns under the same names (college `section(course_id,
    sec_id)`: takes and teaches also carry `semester` and `year`), those belong to the key. Still unique (a
    superset of a unique tuple)."""
    names = indexes.names[key]
    own = {"_".join(names.stripped[c.name]): c for c in tables[key].columns}
    wanted = {"_".join(names.stripped[c]) for c in best}
    common: set[str] | None = None
    for other, info in tables.items():
        if other == key:
            continue
        carried = {"_".join(indexes.names[other].stripped[c.name]) for c in info.columns}
        if wanted <= carried:
            common = carried if common is None else common & carried
    if not common:
        return best
    extra = {
        name
        for name in (common & set(own)) - wanted
        if own[name].kind not in ("boolean", "time") and type_family(own[name].native_type) in ("integer", "string")
    }
    if not extra:
        return best
    return tuple(c.name for c in tables[key].columns if c.name in best or "_".join(names.stripped[c.name]) in extra)


def _shared_key_roots(composite: dict[str, tuple[str, ...]], indexes: Indexes) -> dict[str, str]:
    """Tables keyed by the same tuple of names (college `section` and `teaches`: course_id, sec_id, semester, year):
    the one a column of the tuple names (`sec_id` → section) is the root the others extend. Table → root, for the
    groups where exactly one member is so named."""
    groups: dict[frozenset[str], list[str]] = {}
    for key, columns in composite.items():
        groups.setdefault(frozenset("_".join(indexes.names[key].stripped[c]) for c in columns), []).append(key)
    roots: dict[str, str] = {}
    for names, members in groups.items():
        if len(members) < 2:
            continue
        named = [
            key
            for key in members
            if any(
                (base := base_of(tuple(name.split("_")))) is not None and alias_match(base, indexes.names[key])
                for name in names
            )
        ]
        if len(named) == 1:
            roots.update({key: named[0] for key in members})
    return roots


def _reference_key(
    connector: Any, table: TableInfo, stats: TableStats, refs: tuple[str, ...], warnings: list[str]
) -> tuple[tuple[str, ...], int]:
    """The key of a table with no key of its own, from its references: two to four of them together when unique
    (a link table: `Likes(student_id, liked_id)`, `orderdetails(orderNumber, productCode)`), even where fewer
    happen to be unique on these rows. Returns (key, queries run)."""
    if not 2 <= len(refs) <= 4 or not stats.row_count:
        return (), 0
    try:
        raw = connector.execute(_distinct_tuples_sql(table, refs, connector.dialect))
    except KtxError as exc:
        warnings.append(f"composite_probe_failed:{table.key}: {exc.message}")
        return (), 1
    return (refs if int(raw.rows[0][0] or 0) == stats.row_count else ()), 1


def discover_composites(
    connector: Any,
    tables: dict[str, TableInfo],
    stats: dict[str, TableStats],
    indexes: Indexes,
    primary_keys: dict[str, PrimaryKey],
    *,
    sample: int,
    references: dict[str, dict[str, str]] | None = None,
) -> tuple[list[Edge], int, list[str]]:
    """Composite PKs are added to `primary_keys`; returns composite FK edges, queries run, warnings.

    `references`: per table, its columns with an accepted link to another table, and that table. A table whose key is none of
    its own columns but two to four references together (a link table: `Likes(student_id, liked_id)`,
    `orderdetails(orderNumber, productCode)`) is keyed by those references, not by the narrowest tuple that
    happens to be unique (a line number)."""
    references = references or {}
    queries = 0
    warnings: list[str] = []
    composite: dict[str, tuple[str, ...]] = {key: pk.columns for key, pk in primary_keys.items() if len(pk.columns) > 1}
    for key, table in tables.items():
        table_stats = stats.get(key)
        if key in primary_keys or table_stats is None or table_stats.failed or not table_stats.sampled:
            continue
        targets = references.get(key, {})
        linked = frozenset(targets)
        extension = _extension_key(table, table_stats, indexes, targets)
        if extension is not None:
            primary_keys[key] = PrimaryKey(key, (extension,), "inferred", 0.9)
            continue
        if _strong_single_key(table, table_stats, indexes, linked):
            continue
        refs = tuple(c.name for c in table.columns if c.name in linked)
        if len(refs) > 2 and _sequence_parts(tuple(c.name for c in table.columns), indexes.names[key]):
            refs = ()  # (order, line number) is narrower than three references together
        found, probes = _reference_key(connector, table, table_stats, refs, warnings)
        queries += probes
        if found:
            primary_keys[key] = PrimaryKey(key, found, "composite", 0.95)
            composite[key] = found
            continue
        shared = frozenset(
            c.name.lower() for other, info in tables.items() if other != key for c in info.columns
        ) & frozenset(c.name.lower() for c in table.columns)
        columns = _key_like(table, table_stats, indexes, shared)
        accepted: list[tuple[str, ...]] = []
        for width in (2, 3):
            for combo in combinations(columns, width):
                if any(set(a) <= set(combo) for a in accepted) or not _covers_table_name(table, combo, indexes):
                    continue
                try:
                    raw = connector.execute(_distinct_tuples_sql(table, combo, connector.dialect))
                except KtxError as exc:
                    warnings.append(f"composite_probe_failed:{key}: {exc.message}")
                    continue
                queries += 1
                distinct = int(raw.rows[0][0] or 0)
                # A key is unique on every row: one duplicate or NULL tuple in a million disproves it.
                if table_stats.row_count and distinct == table_stats.row_count:
                    accepted.append(combo)
            if accepted:
                break
        if accepted:
            # Keys lead a table and carry line/sequence parts; several unique tuples → the earliest columns.
            order = {c.name: i for i, c in enumerate(table.columns)}
            best = min(
                accepted, key=lambda combo: (_sequence_parts(combo, indexes.names[key]), sum(order[c] for c in combo))
            )
            best = _widened_by_children(key, best, tables, indexes)
            primary_keys[key] = PrimaryKey(key, best, "composite", 0.95)
            composite[key] = best
    edges: list[Edge] = []
    roots = _shared_key_roots(composite, indexes)
    for parent_key, parent_cols in composite.items():
        if parent_key in roots and roots[parent_key] != parent_key:
            continue  # keyed like its root (teaches like section): children link to the root, not to it
        parent_names = indexes.names[parent_key]
        wanted = ["_".join(parent_names.stripped[c]) for c in parent_cols]
        for child_key, child in tables.items():
            if child_key == parent_key:
                continue
            child_names = indexes.names[child_key]
            by_stripped = {"_".join(child_names.stripped[c.name]): c for c in child.columns}
            match = [by_stripped.get(w) for w in wanted]
            if any(m is None for m in match):
                continue
            parent_table = tables[parent_key]
            if any(
                type_family(m.native_type) != type_family(parent_table.column(p).native_type)  # type: ignore[union-attr]
                for m, p in zip(match, parent_cols, strict=True)
            ):
                continue
            child_cols = tuple(m.name for m in match)  # type: ignore[union-attr]
            same_key = child_key in composite and set(composite[child_key]) == set(child_cols)
            if same_key and roots.get(child_key) != parent_key:
                continue  # two tables keyed by the same tuple, neither named by it: 1:1, not a foreign key
            result = check_tuple(connector, child, child_cols, parent_table, parent_cols, sample)
            queries += 1
            if "error" in result:
                warnings.append(f"composite_validation_failed:{child_key}: {result['error']}")
                continue
            coverage, violations = result["coverage"], result["violationRatio"]
            edge = Edge(
                child_key, child_cols, parent_key, tuple(parent_cols), match="composite_key", reasons=["composite_key"]
            )
            edge.validation = {**result, "passed": coverage >= 0.9 and violations <= 0.01}
            if coverage >= 0.9 and violations <= 0.01:
                edge.status, edge.confidence = "accepted", 0.95
            elif coverage >= 0.55:
                edge.status, edge.confidence = "review", 0.62
            else:
                continue
            edge.score = edge.fk_score = edge.confidence
            edges.append(edge)
    return edges, queries, warnings
