"""From validated candidates to a consistent graph: primary keys (declared, from incoming evidence, or from the
profile alone), foreign-key acceptance against the target key, and one accepted target per source column."""

from __future__ import annotations

from ktx.scan.profile import TableStats
from ktx.scan.relationships.candidates import (
    _MEASURE_WORDS,
    Indexes,
    alias_match,
    base_of,
    junction_columns,
    key_evidence,
    names_whole_table,
    type_family,
)
from ktx.scan.relationships.model import Edge, PrimaryKey, TableInfo
from ktx.scan.relationships.names import NATURAL_KEY_WORDS, tokens

MIN_TARGET_PK_SCORE = 0.78
PROFILE_PK_MIN_NAME = 0.74


def _profile_name_score(indexes: Indexes, table: TableInfo, column: str) -> float:
    names = indexes.names[table.key]
    stripped = names.stripped.get(column, tokens(column))
    joined = "_".join(stripped)
    if any(t in _MEASURE_WORDS for t in stripped):
        return 0.0
    if joined in ("id", "uuid"):
        return 1.0
    if names.tokens and joined == names.tokens[0][0] + "id":
        return 0.96
    if len(stripped) >= 2 and stripped[-1] in ("id", "uuid", "key", "code", "no", "nr", "num", "sk", "number"):
        base = tuple(stripped[:-1])
        # `state_id` keys us_states, but `territory_id` in employee_territories refers to territories: in a
        # junction table, a column named after one word of the table's name is a reference.
        if names_whole_table(base, names) or (
            alias_match(base, names) is not None and not junction_columns(names, indexes)
        ):
            return 0.96 if stripped[-1] in ("id", "uuid") else 0.88
    if joined in ("key", "code"):
        return 0.76
    return 0.0


def _evidence_name_score(indexes: Indexes, table: TableInfo, column: str, stats: TableStats | None) -> float:
    """Names that say "this table's key" beyond the id-suffix forms: `f_id` in files, `artist_name` in artist,
    `dept_name` in department, `ssn` — each only for a column the profile saw unique."""
    info = table.column(column)
    col = stats.columns.get(column) if stats else None
    evidence = key_evidence(indexes.names[table.key], info, col) if info is not None else None
    if evidence is None or junction_columns(indexes.names[table.key], indexes):
        return 0.0
    return {"table_id_column": 0.96, "table_named_column": 0.9, "table_key_column": 0.88}.get(evidence[1], 0.0) or (
        0.86 if evidence[1] == "profile_unique_target" and "_".join(tokens(column)) in NATURAL_KEY_WORDS else 0.0
    )


def _unique(stats: TableStats | None, column: str) -> tuple[float, float] | None:
    """(uniqueness, null rate) of a column the profile saw; uniqueness is 0 once a value repeats — a sampled
    duplicate disproves a key outright."""
    col = stats.columns.get(column) if stats else None
    if col is None or not col.sampled:
        return None
    return (0.0 if col.duplicates_seen else col.uniqueness), col.null_rate


def infer_primary_keys(
    tables: dict[str, TableInfo], stats: dict[str, TableStats], edges: list[Edge], indexes: Indexes
) -> tuple[dict[str, PrimaryKey], dict[tuple[str, str], float]]:
    """One key per table (declared wins) and a pk score for every column that some candidate targets."""
    incoming: dict[tuple[str, str], list[Edge]] = {}
    targeted: set[tuple[str, str]] = set()
    for edge in edges:
        if len(edge.to_columns) == 1:
            incoming.setdefault((edge.to_table, edge.to_columns[0]), []).append(edge)
        else:
            targeted.add((edge.to_table, edge.to_columns[0]))
    scores: dict[tuple[str, str], float] = {}
    keys: dict[str, PrimaryKey] = {}
    outgoing = {(e.from_table, e.from_columns[0]) for e in edges if len(e.from_columns) == 1 and e.validation_passed}
    for key, table in tables.items():
        # Every scored column of the table is compared here; only those some candidate targets are returned (a
        # 100,000-table scan scores ~400,000 unique columns and links ~100,000).
        table_scores: dict[str, float] = {}
        if table.declared_pk:
            keys[key] = PrimaryKey(key, tuple(table.declared_pk), "declared", 1.0)
            if len(table.declared_pk) == 1:
                table_scores[table.declared_pk[0]] = 1.0
        best: tuple[float, str, str] | None = None
        # A junction table (film_category: film_id, category_id) is keyed by its references together; one of them
        # alone is unique only when the data happens so (each film in one category).
        references = junction_columns(indexes.names[key], indexes)
        for column in table.columns:
            if column.name in references:
                continue
            if column.kind == "time" and _evidence_name_score(indexes, table, column.name, stats.get(key)):
                pass  # a calendar table's date
            elif column.kind in ("time", "boolean") or type_family(column.native_type) not in (
                "integer",
                "string",
                "uuid",
            ):
                continue
            profile = _unique(stats.get(key), column.name)
            edges_in = incoming.get((key, column.name), [])
            if column.name in table_scores:
                continue
            validated = max((e.score for e in edges_in if e.validation and e.validation.get("passed")), default=0.0)
            if edges_in and validated > 0:
                uniqueness = profile[0] if profile else 0.0
                key_score = max(e.target_key_score for e in edges_in)
                accepted = sum(1 for e in edges_in if e.status == "accepted")
                reviewed = sum(1 for e in edges_in if e.status == "review")
                score = (
                    0.52 * uniqueness
                    + 0.28 * validated
                    + 0.12 * key_score
                    + 0.08 * min(1.0, 0.3 * accepted + 0.15 * reviewed)
                )
                table_scores[column.name] = score
                eligible = (
                    profile is not None and profile[0] >= 0.98 and profile[1] <= 0.05 and score >= MIN_TARGET_PK_SCORE
                )
                # Evidence from validated incoming links outranks a profile-only guess.
                if eligible and validated > 0 and (best is None or best[2] == "profile" or score > best[0]):
                    best = (score, column.name, "inferred")
            elif profile is not None and profile[0] >= 0.98 and profile[1] <= 0.05:
                # Incoming candidates that all failed validation say nothing against the column's own evidence.
                name_score = max(
                    _profile_name_score(indexes, table, column.name),
                    _evidence_name_score(indexes, table, column.name, stats.get(key)),
                )
                score = 0.6 * profile[0] + 0.4 * name_score
                table_scores[column.name] = score
                better = best is None or (best[2] == "profile" and score > best[0])
                if name_score >= PROFILE_PK_MIN_NAME and score >= 0.55 and better:
                    best = (score, column.name, "profile")
        if best is not None and best[2] == "inferred":
            own = _own_named_key(indexes, table, stats.get(key), references)
            if own is not None and own != best[1] and _name_strength(indexes, table, best[1], stats.get(key)) < 0.88:
                # `tasks.task_id` names the table; `tasks.project_id` (unique because each project has one task, and
                # pointed at by some other table) names projects: links into it do not make it the tasks' key.
                best = (table_scores.get(own, best[0]), own, "profile")
        for column_name, score in table_scores.items():
            if (key, column_name) in incoming or (key, column_name) in targeted:
                scores[(key, column_name)] = score
        table_stats = stats.get(key)
        if key not in keys and table_stats is not None and not table_stats.failed and table_stats.row_count == 0:
            named = _name_only_key(table, indexes)
            if named:
                keys[key] = PrimaryKey(key, named, "name", 0.6)
            continue
        if key not in keys and best is None:
            best = _first_column_key(table, stats.get(key), outgoing)
        if key not in keys and best is not None:
            keys[key] = PrimaryKey(key, (best[1],), best[2], best[0])
    return keys, scores


def _name_strength(indexes: Indexes, table: TableInfo, column: str, stats: TableStats | None) -> float:
    return max(_profile_name_score(indexes, table, column), _evidence_name_score(indexes, table, column, stats))


def _own_named_key(
    indexes: Indexes, table: TableInfo, stats: TableStats | None, references: frozenset[str]
) -> str | None:
    """The unique, non-null column whose name says it is this table's key (`task_id` in tasks), if any."""
    for column in table.columns:
        profile = _unique(stats, column.name)
        if column.name in references or profile is None or profile[0] < 0.98 or profile[1] > 0.05:
            continue
        if _name_strength(indexes, table, column.name, stats) >= 0.88:
            return column.name
    return None


def _name_only_key(table: TableInfo, indexes: Indexes) -> tuple[str, ...]:
    """An empty table's key from names alone (nothing to profile): a junction's references together, else the
    column named as the table's identifier (`id`, `customer_type_id` in customer_demographics)."""
    names = indexes.names[table.key]
    references = junction_columns(names, indexes)
    if references:
        return tuple(c.name for c in table.columns if c.name in references)
    key_named = [c.name for c in table.columns if base_of(names.stripped.get(c.name, ())) is not None]
    if 2 <= len(key_named) == len(table.columns) <= 4:
        return tuple(key_named)  # every column a reference: a link table
    found = [
        (score, column.name)
        for column in table.columns
        if (evidence := key_evidence(names, column, None)) is not None
        and evidence[1] in ("declared_pk", "id_column", "table_id_column", "table_key_column")
        for score in (evidence[0],)
    ]
    if found:
        return (max(found)[1],)
    return (table.columns[0].name,) if table.columns and table.columns[0].name in key_named else ()


def _first_column_key(
    table: TableInfo, stats: TableStats | None, outgoing: set[tuple[str, str]]
) -> tuple[float, str, str] | None:
    """No column is named as a key: the first column, when it is unique and non-null and references nothing
    (`Scientists.SSN`, `flight.flno`) — tables lead with their key."""
    if not table.columns:
        return None
    first = table.columns[0]
    profile = _unique(stats, first.name)
    if (
        profile is None
        or profile[0] < 1.0
        or profile[1] > 0
        or (table.key, first.name) in outgoing
        or first.kind in ("time", "boolean")
        or type_family(first.native_type) not in ("integer", "string", "uuid")
        or any(t in _MEASURE_WORDS for t in tokens(first.name))
        or stats is None
        or stats.row_count > stats.sampled  # unique on a sample of a larger table is not enough alone
    ):
        return None
    return 0.7, first.name, "profile"


def resolve_edges(
    edges: list[Edge],
    pk_scores: dict[tuple[str, str], float],
    *,
    validation_required: bool,
    review_floor: float,
    keys: dict[str, PrimaryKey] | None = None,
) -> None:
    """Final status per edge, then keep only the best accepted edge for each source column."""
    for edge in edges:
        pk = pk_scores.get((edge.to_table, edge.to_columns[0]), 0.0)
        edge.pk_score = pk
        edge.fk_score = (
            0.48 * edge.score + 0.3 * pk + 0.14 * edge.confidence + 0.08 * (1 if edge.validation_passed else 0)
        )
        if edge.validation is None or edge.validation.get("emptyTable"):
            edge.status = "review"
            edge.fk_score = max(edge.fk_score, review_floor)
            continue
        if edge.status == "accepted" and "inclusion_ambiguous" in edge.reasons:
            edge.status = "review"  # the values fit several keys and no name says which
            continue
        if edge.status == "accepted" and (
            pk >= MIN_TARGET_PK_SCORE and (edge.validation_passed or not validation_required) and edge.fk_score >= 0.85
        ):
            continue
        if edge.status == "accepted":
            edge.reasons.append("weak_target_key" if pk < MIN_TARGET_PK_SCORE else "low_fk_score")
        if edge.status != "rejected" or edge.validation_passed:
            edge.status = "review" if edge.fk_score >= 0.55 else "rejected"
    best: dict[tuple[str, tuple[str, ...]], Edge] = {}
    for edge in edges:
        if edge.status != "accepted":
            continue
        slot = (edge.from_table, edge.from_columns)
        current = best.get(slot)
        if current is None or _rank(edge, keys) > _rank(current, keys):
            if current is not None:
                current.status = "rejected"
                current.reasons.append("conflict_lost")
            best[slot] = edge
        else:
            edge.status = "rejected"
            edge.reasons.append("conflict_lost")


def _rank(edge: Edge, keys: dict[str, PrimaryKey] | None = None) -> tuple[float, bool, float, float, float, str]:
    coverage = (edge.validation or {}).get("coverage", 0.0)
    # Into one table, its key beats a copy of it (`plan_code` over an identical `canonical_plan_code`); name
    # strength breaks near-ties: `customer_id` → customers beats an equally covered lookup table.
    to_key = keys is not None and edge.to_table in keys and keys[edge.to_table].columns == edge.to_columns
    return (round(edge.fk_score, 2), to_key, edge.name_score, coverage, edge.pk_score, edge.to_table)
