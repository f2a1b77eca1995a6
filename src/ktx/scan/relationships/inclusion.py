"""Candidates from the values: inclusion dependencies over the profile's value samples.

A column whose values all occur in another table's unique column may reference it, whatever the names say
(`debate_people.Affirmative` → `people.People_ID`, `orders.ship_via` → `shippers.shipper_id`). The profile keeps each
column's smallest distinct values in (length, value) order; if A ⊆ B, every sampled value of A up to B's largest
sampled value is in B's sample, so one value index over the key columns' samples finds the tables that may contain
a column without comparing column pairs. Values shared by very many keys (`1`, `2`) carry no information and are
skipped. Names, the key's strength and how the values spread over the key's range score the candidates; SQL
validation then checks containment exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ktx.scan.profile import ColumnStats, TableStats
from ktx.scan.relationships.candidates import (
    _MEASURE_WORDS,
    KEY_SUFFIXES,
    Indexes,
    abbreviation_pool,
    alias_match,
    base_of,
    date_key_evidence,
    names_whole_table,
    sample_containment,
    type_family,
)
from ktx.scan.relationships.model import ColumnInfo, Edge, TableInfo
from ktx.scan.relationships.names import PERSON_ROLES, PERSON_TABLES, is_abbreviation, jaccard, stem

MIN_CONTAINMENT = 0.9
STOP_VALUE_TARGETS = 50  # a value in more key columns than this says nothing about which one a column references
MAX_TARGETS_PER_COLUMN = 5
JOINABLE = ("integer", "string", "uuid")
SCORE_WORDS = frozenset(
    {
        "rating",
        "score",
        "satisfaction",
        "stars",
        "level",
        "age",
        "menge",
        "anzahl",
        "cantidad",
        "quantite",
        "quantita",
        "hoeveelheid",
        "aantal",
        "bewertung",
        "puntuacion",
        "note",
    }
)
SEQUENCE_WORDS = frozenset({"line", "linenumber", "seq", "sequence", "position", "pos", "rank", "ordinal"})
OWN_KEY_REASONS = frozenset({"declared_pk", "id_column", "table_id_column", "table_key_column", "table_named_column"})


@dataclass(frozen=True)
class KeyColumn:
    table: str
    column: ColumnInfo
    stats: ColumnStats
    position: int
    complete: bool  # the profile saw every row, so its distinct count is exact
    is_key: bool  # the table's first column or a key by name: what a link with no name tie may point at
    named_key: bool  # a key by name (`f_id` in files), not only by position


def _joinable(column: ColumnInfo, stats: ColumnStats | None, names: tuple[str, ...]) -> bool:
    """Integer, text and uuid columns, and dates (which may reference a calendar table's date key)."""
    return (
        stats is not None
        and bool(stats.value_sample)
        and column.kind != "boolean"
        and (column.kind == "time" or type_family(column.native_type) in JOINABLE)
        and not any(t in _MEASURE_WORDS for t in names)
    )


def key_columns(tables: list[TableInfo], stats: dict[str, TableStats], indexes: Indexes) -> list[KeyColumn]:
    """Columns that can be referenced: unique and non-null on the sample, two values or more."""
    out = []
    for table in tables:
        table_stats = stats.get(table.key)
        if table_stats is None or table_stats.failed or table.kind == "view":
            continue
        for position, column in enumerate(table.columns):
            col = table_stats.columns.get(column.name)
            names = indexes.names[table.key].stripped.get(column.name, ())
            if not _joinable(column, col, names) or col is None:
                continue
            if col.null_count or col.duplicates_seen or col.distinct_count < 2:
                continue
            if column.kind == "time" and date_key_evidence(indexes.names[table.key], column, col) is None:
                continue  # dates are referenced only as a calendar table's key
            complete = table_stats.row_count <= table_stats.sampled
            named_key = any(
                c == column.name and why in OWN_KEY_REASONS for c, _, why in indexes.targets.get(table.key, ())
            )
            out.append(KeyColumn(table.key, column, col, position, complete, position == 0 or named_key, named_key))
    return out


def _spread_ok(source: ColumnStats, target: ColumnStats) -> bool:
    """Integer references spread over the key's range like a sample of it: `rating` 1–5 inside ids 1–900 does
    not, `ship_via` 1–3 inside shippers 1–3 does."""
    try:
        s_min, s_max = float(source.min_value or ""), float(source.max_value or "")
        t_min, t_max = float(target.min_value or ""), float(target.max_value or "")
    except ValueError:
        return True
    if s_min < t_min or s_max > t_max:
        return False
    span = t_max - t_min
    if span <= 0:
        return True
    k = source.distinct_count
    return (s_max - t_min) / span >= 0.5 * k / (k + 1)


def name_tie(source_table: str, source: ColumnInfo, target: KeyColumn, indexes: Indexes) -> tuple[float, str]:
    """How much the names agree, as a score feature (never a gate): same column name, the column's base naming
    the target table, a shared word, a prefix (`ship_via` ~ shippers), or nothing (a role: `Affirmative`)."""
    child = indexes.names[source_table].stripped.get(source.name, ())
    parent_names = indexes.names[target.table]
    key = parent_names.stripped.get(target.column.name, ())
    if child and child == key and len("".join(child)) > 2:
        return 0.88, "exact_column_match"
    base = base_of(child) or (child if child else None)
    if base:
        match = alias_match(tuple(base), parent_names)
        if match is not None:
            return match
    initial = len(child) == 2 and len(child[0]) == 1 and child[1] in KEY_SUFFIXES
    if initial and parent_names.tokens and parent_names.tokens[0].startswith(child[0]):
        return 0.7, "initial"  # `s_ID` → student, `i_ID` → instructor
    role = "_".join(child)
    if role in PERSON_ROLES and parent_names.joined in PERSON_TABLES:
        return 0.8, "role_name"
    words = {stem(t) for t in child if t not in KEY_SUFFIXES}
    table_words = {stem(t) for t in parent_names.tokens}
    if words & table_words:
        return 0.7 + 0.1 * jaccard(words, table_words), "shared_word"
    if any(is_abbreviation(w, t) or t.startswith(w) for w in words for t in table_words if len(w) >= 3):
        return 0.7, "prefix"
    if parent_names.joined in indexes.names[source_table].tokens or set(parent_names.tokens) < set(
        indexes.names[source_table].tokens
    ):
        return 0.5, "source_table_name"  # `debate_people.Affirmative` → people
    return 0.4, "values_only"


def _roots(edges: list[Edge], keys: dict[tuple[str, str], KeyColumn]) -> list[Edge]:
    """Of value-only targets where one key's values lie within another's (`advisor.s_ID` ⊂ `student.ID`), keep
    the larger: a column contained in both refers to the root, not to another reference to it."""
    weak = [e for e in edges if e.name_score < 0.7]
    dropped = set()
    for a in weak:
        ka = keys[(a.to_table, a.to_columns[0])]
        for b in weak:
            kb = keys[(b.to_table, b.to_columns[0])]
            if a is b or kb.stats.distinct_count <= ka.stats.distinct_count:
                continue
            contained = sample_containment(ka.stats, kb.stats)
            if contained is not None and contained[0] >= MIN_CONTAINMENT:
                dropped.add(a.id)
    return [e for e in edges if e.id not in dropped]


def _named_tables(table_key: str, column: ColumnInfo, indexes: Indexes) -> set[str]:
    """Tables the column's name refers to (`dept_store_chain_id` → Department_Store_Chain, `Scientist` →
    Scientists), its own table included."""
    child = indexes.names[table_key].stripped.get(column.name, ())
    key_shaped = base_of(child)
    base = key_shaped or child
    if not base or len("".join(base)) <= 2:
        return set()
    word = "_".join(base)
    found = set()
    # Abbreviations (`cust_id` → customer) are looked up by first letter, for key-shaped names only: a scan over
    # every table starting with that letter, not to be paid for each attribute of a wide warehouse.
    by_letter = abbreviation_pool(indexes, tuple(base)) if key_shaped else ()
    for key in (*indexes.named(word, stem(word), base[-1], "".join(base)), *by_letter):
        if key not in found and alias_match(tuple(base), indexes.names[key]) is not None:
            found.add(key)
    return found


def _own_identifier(table_key: str, column: ColumnInfo, col: ColumnStats, indexes: Indexes) -> bool:
    """The table's own identifier (`id`, `Museum_ID` in Museums, `order_id` in Customer_Orders): it refers
    elsewhere only as a subtype's key."""
    if col.duplicates_seen or col.null_count:
        return False
    child = indexes.names[table_key].stripped.get(column.name, ())
    if "_".join(child) in ("id", "uuid"):
        return True
    if any(c == column.name and why in OWN_KEY_REASONS for c, _, why in indexes.targets.get(table_key, ())):
        return True
    return bool(child) and names_whole_table(base_of(child) or child, indexes.names[table_key])


def _subtype_shaped(source: ColumnStats, target: KeyColumn) -> bool:
    """A subtype's key is a scattered subset of its supertype's keys; a run 1..n (an identity column of its own)
    inside another identity column is a coincidence."""
    if source.distinct_count >= target.stats.distinct_count:
        return False
    try:
        low, high = float(source.min_value or ""), float(source.max_value or "")
    except ValueError:
        return True
    return high - low + 1 != source.distinct_count


def inclusion_candidates(
    tables: list[TableInfo], stats: dict[str, TableStats], indexes: Indexes, *, exclude: set[str]
) -> list[Edge]:
    """Single-column candidates whose values are contained in another table's unique column."""
    keys = key_columns(tables, stats, indexes)
    index: dict[str, list[int]] = {}
    for i, target in enumerate(keys):
        for value in target.stats.value_sample:
            index.setdefault(value, []).append(i)
    by_target = {(k.table, k.column.name): k for k in keys}
    edges: list[Edge] = []
    for table in tables:
        table_stats = stats.get(table.key)
        # A view's columns are copies of its tables' columns: their values are contained by construction.
        if table_stats is None or table_stats.failed or table.kind == "view":
            continue
        # Columns whose sampled values some key holds (values held by very many keys say nothing): most columns of a
        # wide warehouse have none, and cost nothing more.
        with_hits: list[tuple[ColumnInfo, ColumnStats, tuple[str, ...], Counter[int]]] = []
        for column in table.columns:
            col = table_stats.columns.get(column.name)
            names = indexes.names[table.key].stripped.get(column.name, ())
            if col is None or not _joinable(column, col, names) or col.distinct_count < 2:
                continue
            if set(names) & SEQUENCE_WORDS or (set(names) & SCORE_WORDS and base_of(names) is None):
                # A line number counts within its parent, a rating or a quantity counts things: small integers that
                # fit inside any small table's ids, and reference nothing.
                continue
            hits: Counter[int] = Counter()
            for value in col.value_sample:
                found = index.get(value, ())
                if len(found) <= STOP_VALUE_TARGETS:
                    hits.update(found)
            if hits:
                with_hits.append((column, col, names, hits))
        if not with_hits:
            continue
        named_by_column = {c.name: _named_tables(table.key, c, indexes) for c in table.columns}
        # A table with a reference of its own to another table is an entity in its own right: its identifier is
        # not a subtype's key, however its values fall.
        has_parent = any(found - {table.key} for found in named_by_column.values())
        for column, col, names, hits in with_hits:
            named = named_by_column[column.name]
            own = _own_identifier(table.key, column, col, indexes)
            if own and has_parent:
                continue
            found_edges: list[Edge] = []
            for i in hits:
                target = keys[i]
                if named - {table.key} and not own and target.table not in named:
                    continue  # `tracks.album_id` names albums: values that also fit invoices.id do not make it a link there
                if own and not _subtype_shaped(col, target):
                    continue
                edge = _candidate(table, column, col, target, indexes)
                if edge is not None and edge.id not in exclude:
                    found_edges.append(edge)
            if any(e.name_score < 0.7 for e in found_edges):
                # Values alone do not add a second link to a table the row already references by name
                # (`wedding.Male_ID` fits church ids too, but `Church_ID` is the church).
                referenced = {t for c, found in named_by_column.items() if c != column.name for t in found}
                found_edges = [e for e in found_edges if e.name_score >= 0.7 or e.to_table not in referenced]
            found_edges = _roots(found_edges, by_target)
            weak = [e for e in found_edges if e.name_score < 0.7]
            if any(by_target[(e.to_table, e.to_columns[0])].named_key for e in weak):
                # A key by name (`student.ID`) over one by position only (`advisor.s_ID`, itself a reference).
                found_edges = [
                    e for e in found_edges if e.name_score >= 0.7 or by_target[(e.to_table, e.to_columns[0])].named_key
                ]
            found_edges.sort(key=lambda e: (-e.name_score, -e.features["targetCoverage"], e.to_table))
            if len(found_edges) > 1 and found_edges[0].name_score < 0.7:
                best = found_edges[0].name_score
                found_edges = [e for e in found_edges if e.name_score == best]
                if len(found_edges) > 1:
                    # Values alone fit several keys: kept, but none is accepted on the data's word alone.
                    for edge in found_edges:
                        edge.reasons.append("inclusion_ambiguous")
            if not found_edges and base_of(names) is not None and not own and not named - {table.key}:
                found_edges = _polymorphic(table, column, col, [keys[i] for i in hits], exclude)
            edges += found_edges[:MAX_TARGETS_PER_COLUMN]
    return edges


def _polymorphic(
    table: TableInfo, column: ColumnInfo, col: ColumnStats, targets: list[KeyColumn], exclude: set[str]
) -> list[Edge]:
    """A column whose values no one key holds but two or more hold between them (`activity_events.entity_id`:
    `U1` in users, `O1` in organizations): one candidate per target with its share of the values, reported for
    review as polymorphic — never silently one accepted link."""
    found: dict[int, set[str]] = {}
    for i, target in enumerate(targets):
        if target.table == table.key or not target.is_key:
            continue
        if type_family(column.native_type) != type_family(target.column.native_type):
            continue
        share = set(col.value_sample) & set(target.stats.value_sample)
        if len(share) >= MIN_CONTAINMENT * len(col.value_sample):
            return []  # one key holds (nearly) all of them: not split, only filtered out above
        if len(share) >= max(1, 0.1 * len(col.value_sample)):
            found[i] = share
    covered = set().union(*found.values()) if found else set()
    overlapping = sum(len(share) for share in found.values()) > 1.2 * len(covered)
    if len(found) < 2 or overlapping or len(covered) < MIN_CONTAINMENT * len(col.value_sample):
        return []
    edges = []
    for i, share in sorted(found.items(), key=lambda item: -len(item[1])):
        target = targets[i]
        edge = Edge(
            table.key,
            (column.name,),
            target.table,
            (target.column.name,),
            match="polymorphic_partial",
            name_score=0.5,
            target_key_score=0.8,
            reasons=["polymorphic_partial"],
            features={"sampleContainment": len(share) / len(col.value_sample), "targetCoverage": 0.0},
        )
        if edge.id not in exclude:
            edges.append(edge)
    return edges


def _candidate(
    table: TableInfo,
    column: ColumnInfo,
    col: ColumnStats,
    target: KeyColumn,
    indexes: Indexes,
) -> Edge | None:
    if target.table == table.key and (target.column.name == column.name or not col.duplicates_seen):
        return None  # a column is not its own reference; two unique columns of one table are not a link
    if type_family(column.native_type) != type_family(target.column.native_type) or (
        (column.kind == "time") != (target.column.kind == "time")
    ):
        return None
    containment = sample_containment(col, target.stats)
    if containment is None or containment[0] < MIN_CONTAINMENT or containment[1] < min(2, len(col.value_sample)):
        return None
    if col.distinct_count > target.stats.distinct_count and target.complete:
        return None
    if type_family(column.native_type) == "integer" and not _spread_ok(col, target.stats):
        return None
    score, how = name_tie(table.key, column, target, indexes)
    if not col.duplicates_seen and col.null_count == 0 and col.distinct_count >= target.stats.distinct_count:
        # Both sides unique with the same values: the data does not say which refers to which. The names do when
        # this column names the other table (`AssignedTo.Scientist`) or the other is its table's named key and
        # this one is not (`song.f_id` → files.f_id).
        own_key = any(c == column.name for c, _, _ in indexes.targets.get(table.key, ()))
        if not (score >= 0.7 and how != "exact_column_match") and not (target.named_key and not own_key):
            return None
    if not target.is_key or (score < 0.7 and target.table == table.key):
        return None  # values link a column to a table's key (not to a copy of an attribute), and to its own table
        # only when the name says so
    coverage = min(1.0, col.distinct_count / target.stats.distinct_count)
    evidence = indexes.targets.get(target.table, ())
    key_score = max((s for c, s, _ in evidence if c == target.column.name), default=0.0)
    if not key_score:
        key_score = 0.8 if target.position == 0 else 0.7
    return Edge(
        table.key,
        (column.name,),
        target.table,
        (target.column.name,),
        match="inclusion_dependency",
        name_score=score,
        target_key_score=key_score,
        reasons=["inclusion_dependency", how],
        features={"sampleContainment": containment[0], "targetCoverage": coverage},
    )
