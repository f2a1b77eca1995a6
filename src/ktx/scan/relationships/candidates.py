"""Deterministic relationship candidates from names, types and profiles.

A source column is key-shaped (`customer_id`, `o_custkey`, `PlanCode`, `kunde_nr`) or a self-reference name.
Its base (`customer`, `cust`, `plan`, `kunde`) is looked up in indexes of table aliases, so generation is
linear in columns: no pair of tables is compared unless a name ties them. Targets need key evidence: a
declared key, a key-shaped name, or a profile that says unique and non-null.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ktx.scan.profile import ColumnStats, TableStats
from ktx.scan.relationships.model import ColumnInfo, Edge, TableInfo
from ktx.scan.relationships.names import (
    KEY_SUFFIXES,
    NATURAL_KEY_WORDS,
    PERSON_ROLES,
    PERSON_TABLES,
    SELF_REFERENCE_NAMES,
    inflections,
    is_abbreviation,
    jaccard,
    singularize,
    stem,
    table_tokens,
    tokens,
)

MIN_CONFIDENCE = 0.72
LOCALITY_LIMIT = 20
_ID_SUFFIXES = ("id", "uuid")
_NAMED_KEY_SUFFIXES = ("key", "code", "no", "num", "nbr", "nr", "cd", "sk", "number", "nummer", "numero")
_MEASURE_WORDS = frozenset({"amount", "count", "price", "quantity", "qty", "subtotal", "total", "sum", "avg", "rate"})

_INTEGER = frozenset(
    {
        "integer",
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "mediumint",
        "int2",
        "int4",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "hugeint",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
        "number",
        "numeric",
        "decimal",
        "serial",
        "bigserial",
        "smallserial",
        "integer unsigned",
        "bigint unsigned",
        "int unsigned",
    }
)
_STRING = frozenset(
    {
        "text",
        "varchar",
        "char",
        "character",
        "character varying",
        "string",
        "nvarchar",
        "nchar",
        "bpchar",
        "citext",
        "name",
        "ntext",
        "tinytext",
        "mediumtext",
        "longtext",
        "varchar2",
        "lowcardinality",
        "fixedstring",
    }
)
_UUID = frozenset({"uuid", "uniqueidentifier"})


def type_family(native: str) -> str:
    from ktx.warehouse.catalog import normalize_native_type

    base = normalize_native_type(native)
    if base in _INTEGER or base.startswith(("int", "uint")):
        return "integer"
    if base in _STRING:
        return "string"
    if base in _UUID:
        return "uuid"
    return base


def types_compatible(a: ColumnInfo, b: ColumnInfo) -> bool:
    return type_family(a.native_type) == type_family(b.native_type)


@dataclass(slots=True)
class TableNames:
    """A table's name forms: tokens and the short prefix its columns carry (`c_` in TPC-H). Its aliases are not
    kept: a set of inflected forms per table was the largest part of a 100,000-table scan's name index."""

    table: TableInfo
    tokens: tuple[str, ...]
    column_prefix: str | None
    stripped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # column → tokens without the prefix
    # The tokens joined with `_` and without: compared with every column word of a scan (made once, not per use)
    joined: str = field(init=False)
    concat: str = field(init=False)

    def __post_init__(self) -> None:
        self.joined = "_".join(self.tokens)
        self.concat = "".join(self.tokens)

    def alias_words(self) -> list[frozenset[str]]:
        """The inflected forms the table is known by: of its whole name and, for `customer_accounts`, `account`."""
        if len(self.tokens) > 1:
            return [inflections(self.joined), inflections(self.tokens[-1])]
        return [inflections(self.joined)]

    def is_alias(self, word: str) -> bool:
        return any(word in forms for forms in self.alias_words())


def column_prefix(table: TableInfo) -> str | None:
    """A short token most columns start with (`o_orderkey`, `o_custkey`, …), when there is one."""
    firsts = [tokens(c.name)[0] for c in table.columns if len(tokens(c.name)) > 1]
    if len(table.columns) < 3 or not firsts:
        return None
    token, count = Counter(firsts).most_common(1)[0]
    if len(token) <= 3 and count >= max(2, 0.6 * len(table.columns)):
        return token
    return None


def table_names(table: TableInfo) -> TableNames:
    toks = table_tokens(table.name) or (table.name.lower(),)
    # `customer_accounts` is also known as `account`; a dotted name by its last segment.
    prefix = column_prefix(table)
    names = TableNames(table, toks, prefix)
    for column in table.columns:
        col_tokens = tokens(column.name)
        if prefix and len(col_tokens) > 1 and col_tokens[0] == prefix:
            col_tokens = col_tokens[1:]
        names.stripped[column.name] = col_tokens
    return names


def base_of(col_tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    """`(customer, id)` → `(customer,)`; None when the column is not key-shaped."""
    if len(col_tokens) < 2 or col_tokens[-1] not in KEY_SUFFIXES:
        return None
    base = tuple(col_tokens[:-1])
    if len("".join(base)) <= 1:
        return None
    return (*base[:-1], singularize(base[-1]))


def is_polymorphic(table: TableNames, column: str) -> bool:
    """`commentable_id` beside `commentable_type`: the target table varies row by row."""
    col_tokens = table.stripped.get(column, ())
    base = base_of(col_tokens)
    if base is None:
        return False
    type_names = {"_".join((*col_tokens[:-1], word)) for word in ("type", "kind", "class", "model", "table")}
    return any("_".join(table.stripped[c.name]) in type_names for c in table.table.columns)


def key_evidence(names: TableNames, column: ColumnInfo, stats: ColumnStats | None) -> tuple[float, str] | None:
    """How much a column looks like the key of its table: (score, reason), or None."""
    table = names.table
    if column.kind == "time":
        return date_key_evidence(names, column, stats)
    if column.kind == "boolean":
        return None
    if table.declared_pk and table.declared_pk == (column.name,):
        return 1.0, "declared_pk"
    col_tokens = names.stripped.get(column.name, tokens(column.name))
    joined = "_".join(col_tokens)
    base = base_of(col_tokens)
    if joined in ("id", "uuid"):
        return 0.92, "id_column"
    if names.tokens and joined == names.tokens[0][0] + "id":
        return 0.90, "table_id_column"  # `pid` in people, `uid` in users
    initial = (names.tokens[0][0],) if names.tokens else ()
    if len(col_tokens) == 2 and col_tokens[:1] == initial and col_tokens[1] in _ID_SUFFIXES:
        return 0.90, "table_id_column"  # `f_id` in files, `pID` in player
    unique = stats is not None and stats.sampled >= 2 and not stats.duplicates_seen and stats.null_count == 0
    if unique and len(col_tokens) >= 2 and col_tokens[-1] in ("name", "title"):
        head = col_tokens[:-1]
        if head == initial or names_whole_table(head, names):
            return 0.84, "table_named_column"  # `artist_name` in artist, `g_name` in genre, `dept_name` in department
    if base is not None and alias_match(base, names) is not None:
        if col_tokens[-1] in _ID_SUFFIXES:
            return 0.90, "table_id_column"
        return 0.82, "table_key_column"
    if joined in ("key", "code", "no", "nr", "num"):
        return 0.74, "key_column"
    if stats is not None and stats.sampled == 0 and base is not None and table.columns[0].name == column.name:
        return 0.74, "empty_table_key"  # nothing to profile: a key-named first column is the best guess
    if (
        stats is not None
        and stats.sampled - stats.null_count >= 2
        and not stats.duplicates_seen
        and stats.null_count == 0
        and len(col_tokens) > 1
        and "".join(col_tokens) == "".join(names.tokens)
    ):
        return 0.84, "table_named_column"  # `productLine` in productlines: a text code that names its table
    if (
        joined in NATURAL_KEY_WORDS
        and stats is not None
        and stats.sampled
        and stats.uniqueness >= 0.98
        and not stats.duplicates_seen
    ):
        return 0.86, "profile_unique_target"
    # Uniqueness alone says little on a handful of rows, and a column that references another table is a
    # reference, not a key of its own.
    non_null = stats.sampled - stats.null_count if stats is not None else 0
    if stats is None or non_null < 10 or any(t in _MEASURE_WORDS for t in col_tokens):
        return None
    if any(column.name in fk.columns for fk in table.foreign_keys):
        return None
    if stats.uniqueness >= 0.98 and stats.null_rate <= 0.05 and not stats.duplicates_seen:
        if col_tokens and col_tokens[-1] in (*_NAMED_KEY_SUFFIXES, *_ID_SUFFIXES):
            return 0.86, "profile_unique_target"
        if type_family(column.native_type) in ("integer", "string", "uuid"):
            return 0.78, "profile_unique"
    return None


DATE_WORDS = frozenset({"date", "day", "dt"})


def date_key_evidence(names: TableNames, column: ColumnInfo, stats: ColumnStats | None) -> tuple[float, str] | None:
    """A date that names its table (`Calendar_Date` in Ref_Calendar, `date` in dim_date) and is unique: the key of a
    calendar table, which other tables' dates reference."""
    if stats is None or stats.sampled < 2 or stats.duplicates_seen or stats.null_count:
        return None
    col_tokens = names.stripped.get(column.name, tokens(column.name))
    head = tuple(t for t in col_tokens if t not in DATE_WORDS)
    if (not head or head == ("calendar",)) and set(names.tokens) & (DATE_WORDS | {"calendar"}):
        return 0.84, "table_named_column"
    if head and len(col_tokens) > len(head) and names_whole_table(head, names):
        return 0.84, "table_named_column"
    return None


def alias_match(base: tuple[str, ...], target: TableNames) -> tuple[float, str] | None:
    """Whether a column base names `target`: (name score, match reason)."""
    return _alias_match(base, "_".join(base), "".join(base), target)


def _alias_match(base: tuple[str, ...], word: str, flat: str, target: TableNames) -> tuple[float, str] | None:
    """`alias_match` with the base's joined forms made once by a caller that tries it against many tables."""
    joined = target.joined
    if word == joined or flat == target.concat:  # `product_line` names productlines
        return 0.92, "normalized_table_match"
    if target.is_alias(word) or joined in inflections(word) or stem(word) == stem(joined):
        return 0.88, "inflection"
    if len(target.tokens) > 1 and (word in inflections(target.tokens[-1]) or stem(word) == stem(target.tokens[-1])):
        return 0.82, "parent_table_name_match"
    if _abbreviates_each_word(base, target.tokens):
        return 0.84, "abbreviation"
    if len(base) == 1 and len(target.tokens) > 1 and word == "".join(t[0] for t in target.tokens):
        return 0.80, "abbreviation"
    if len(base) > len(target.tokens) and base[-len(target.tokens) :] == target.tokens:
        return 0.82, "parent_table_name_match"  # a role prefix: `ship_region_id` → regions
    return None


def names_whole_table(base: tuple[str, ...], table: TableNames) -> bool:
    """The base is the table's whole name (`address` of addresses, `cust` of customer), not one word of a
    longer name (`actor` of film_actor): the column is the table's own identifier."""
    word = "_".join(base)
    if word == table.joined or table.joined in inflections(word) or stem(word) == stem(table.joined):
        return True
    return "".join(base) == "".join(table.tokens) or _abbreviates_each_word(base, table.tokens)


def _abbreviates_each_word(base: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """Word for word the same, an abbreviation or the same stem: `cust_ord` of customer_order."""
    return len(base) == len(words) and all(
        b == t or is_abbreviation(b, t) or stem(b) == stem(t) for b, t in zip(base, words, strict=True)
    )


def junction_columns(table: TableNames, indexes: Indexes | None = None) -> frozenset[str]:
    """The reference columns of a junction table: key-named columns each named after a different word of the
    table's name, two or more of them (employee_territories: employee_id, territory_id), each word naming another
    table when `indexes` is given (`Customer_Orders.order_id` is the orders' own id: no `orders` table exists for
    it to reference). Empty otherwise."""
    words = {stem(t) for t in table.tokens}
    named: dict[str, list[str]] = {}
    for column, column_tokens in table.stripped.items():
        base = base_of(column_tokens)
        if base is not None and len(base) == 1 and stem(base[0]) in words:
            if indexes is not None and not _names_another_table(base[0], table.table.key, indexes):
                continue
            named.setdefault(stem(base[0]), []).append(column)
    if len(named) < 2:
        return frozenset()
    return frozenset(column for columns in named.values() for column in columns)


def _names_another_table(word: str, own: str, indexes: Indexes) -> bool:
    return any(
        key != own and alias_match((word,), indexes.names[key]) is not None for key in indexes.named(word, stem(word))
    )


def _another_table_named(base: tuple[str, ...], own: str, indexes: Indexes) -> bool:
    """Another table carries exactly this name: `orderNumber` in orderdetails names orders, not (by abbreviation)
    its own table. A view does not count: `customers.customer_id` is the customers' own id even beside a view
    named `customer` over them."""
    word = "_".join(base)
    return any(
        key != own
        and indexes.names[key].table.kind != "view"
        and (indexes.names[key].joined == word or indexes.names[key].joined in inflections(word))
        for key in indexes.named(word)
    )


@dataclass
class Indexes:
    names: dict[str, TableNames]
    # alias → its table, or its tables when several share it (a 100,000-table catalog has over a million aliases,
    # nearly all of one table: a string each, not a tuple or a list)
    by_alias: dict[str, str | tuple[str, ...]]
    by_first: dict[str, list[str]]  # first 1, 2 and 3 letters of the first token → tables (abbreviations)
    targets: dict[str, list[tuple[str, float, str]]]  # table → key-evidence columns
    key_columns: dict[str, list[tuple[str, str]]]  # stripped key-shaped column name → (table, column)
    person_tables: list[str] = field(default_factory=list)
    table_named_keys: frozenset[str] = frozenset()  # stripped names of `table_named_column` keys

    def named(self, *words: str) -> tuple[str, ...]:
        """The tables known by each of `words`, in order (a table may repeat)."""
        found: tuple[str, ...] = ()
        for word in words:
            keys = self.by_alias.get(word)
            if keys is not None:
                found += (keys,) if isinstance(keys, str) else keys
        return found


# Most tables an abbreviation (`cust` → customer) is tried against. Tables sharing a first letter are the pool;
# past this many, those sharing two, then three letters; past that (100,000 tables named t000001…), none: an
# abbreviation among so many look-alike names proves nothing, and trying every one for every column is quadratic.
ABBREVIATION_POOL = 2000


def abbreviation_pool(indexes: Indexes, base: tuple[str, ...]) -> list[str]:
    for size in (1, 2, 3):
        pool = indexes.by_first.get(base[0][:size], [])
        if len(pool) <= ABBREVIATION_POOL or len(base[0]) <= size:
            return pool if len(pool) <= ABBREVIATION_POOL else []
    return []


def build_indexes(tables: list[TableInfo], stats: dict[str, TableStats]) -> Indexes:
    names = {t.key: table_names(t) for t in tables}
    by_alias: dict[str, Any] = {}

    def add(alias: str, key: str) -> None:
        known = by_alias.get(alias)
        if known is None:
            by_alias[alias] = key
        elif isinstance(known, str):
            if known != key:
                by_alias[alias] = [known, key]
        elif known[-1] != key:  # a table adds its aliases together: a repeat is the last one added
            known.append(key)

    by_first: dict[str, list[str]] = {}
    targets: dict[str, list[tuple[str, float, str]]] = {}
    key_columns: dict[str, list[tuple[str, str]]] = {}
    for key, tn in names.items():
        for forms in tn.alias_words():
            for alias in forms:
                add(alias, key)
        add(stem(tn.joined), key)
        if len(tn.tokens) > 1:
            add(stem(tn.tokens[-1]), key)
        for size in range(1, min(3, len(tn.tokens[0]) if tn.tokens else 0) + 1):
            by_first.setdefault(tn.tokens[0][:size], []).append(key)
        table_stats = stats.get(key)
        found = []
        for column in tn.table.columns:
            col_stats = table_stats.columns.get(column.name) if table_stats else None
            evidence = key_evidence(tn, column, col_stats)
            if evidence is not None:
                found.append((column.name, *evidence))
                stripped = tn.stripped[column.name]
                if len(stripped) >= 2 or "_".join(stripped) in NATURAL_KEY_WORDS:
                    key_columns.setdefault("_".join(stripped), []).append((key, column.name))
        targets[key] = found
    for alias, known in by_alias.items():
        if not isinstance(known, str):
            by_alias[alias] = tuple(known)
    people = [key for key, tn in names.items() if tn.joined in PERSON_TABLES]
    table_named = frozenset(
        "_".join(names[key].stripped[column])
        for key, found in targets.items()
        for column, _score, reason in found
        if reason == "table_named_column"
    )
    return Indexes(names, by_alias, by_first, targets, key_columns, people, table_named)


def source_columns(
    table: TableNames, stats: TableStats | None, named_keys: Collection[str] = ()
) -> list[tuple[ColumnInfo, tuple[str, ...] | None]]:
    """Columns that may point at another table, with their base (None for self-reference names). `named_keys`:
    the names of other tables' key columns that name their table (`product_line` of productlines), so a column of
    that name elsewhere (`products.productLine`) is a reference although it has no key suffix."""
    out = []
    declared = set(table.table.declared_pk) if len(table.table.declared_pk) == 1 else set()
    for column in table.table.columns:
        if column.name in declared or column.kind in ("time", "boolean"):
            continue
        col_tokens = table.stripped[column.name]
        if "_".join(tokens(column.name)) in SELF_REFERENCE_NAMES or "_".join(col_tokens) in SELF_REFERENCE_NAMES:
            out.append((column, None))
            continue
        base = base_of(col_tokens)
        joined = "_".join(col_tokens)
        if base is None and (joined in NATURAL_KEY_WORDS or joined in PERSON_ROLES or joined in named_keys):
            base = col_tokens
        if base is None or is_polymorphic(table, column.name):
            continue
        if stats is not None:
            col_stats = stats.columns.get(column.name)
            if col_stats is not None and col_stats.sampled and col_stats.null_count == col_stats.sampled:
                continue  # an all-NULL column points nowhere
        out.append((column, base))
    return out


def _locality(child: TableNames, column: str, parents: list[str], indexes: Indexes) -> list[str]:
    """The `LOCALITY_LIMIT` parent tables whose names are closest to the column and its table."""
    if len(parents) <= LOCALITY_LIMIT:
        return parents
    col = set(child.stripped[column]) - set(KEY_SUFFIXES)
    both = col | set(child.tokens)

    def score(parent: str) -> tuple[float, str]:
        ptoks = set(indexes.names[parent].tokens)
        return (-max(jaccard(col, ptoks), 0.6 * jaccard(both, ptoks)), parent)

    return sorted(parents, key=score)[:LOCALITY_LIMIT]


def _order(value: str) -> tuple[int, str]:
    return (len(value), value)


def sample_containment(source: ColumnStats, target: ColumnStats) -> tuple[float, int] | None:
    """(share of the source's sampled values found in the target's sample, values checked), counting only the
    values the target's sample can answer for: those up to its largest sampled value in (length, value) order, or
    all when the sample holds every distinct value of the target."""
    if not source.value_sample or not target.value_sample:
        return None
    have = set(target.value_sample)
    whole = len(have) >= target.distinct_count
    top = max(_order(v) for v in have)
    checked = [v for v in source.value_sample if whole or _order(v) <= top]
    if not checked:
        return None
    return sum(1 for v in checked if v in have) / len(checked), len(checked)


def value_overlap(source: ColumnStats | None, target: ColumnStats | None) -> float | None:
    """Share of the source's sampled values found among the target's: from the value samples when both have one,
    else from the most frequent values (case-insensitive)."""
    if source is None or target is None:
        return None
    contained = sample_containment(source, target)
    if contained is not None:
        return contained[0]
    if not source.top_values or not target.top_values:
        return None
    wanted = {v.lower() for v in source.top_values}
    have = {v.lower() for v in target.top_values}
    return len(wanted & have) / len(wanted)


def generate_candidates(
    tables: list[TableInfo], stats: dict[str, TableStats], indexes: Indexes, *, exclude: set[str]
) -> list[Edge]:
    """Single-column many-to-one candidates, deduplicated by id, best name match per pair."""
    found: dict[str, Edge] = {}
    # Tables a column base names through its first letter (an abbreviation, a role prefix), per base: the same
    # base (`customer`, `cust`) recurs in thousands of tables, and each time every table of that letter was tried.
    by_letter: dict[tuple[str, ...], list[tuple[str, tuple[float, str]]]] = {}
    by_name: dict[tuple[str, ...], list[tuple[str, tuple[float, str]]]] = {}  # tables a base names by an alias
    for table in tables:
        child = indexes.names[table.key]
        child_stats = stats.get(table.key)
        for column, base in source_columns(child, child_stats, indexes.table_named_keys):
            hits: dict[str, tuple[float, str]] = {}
            if base is None:
                hits[table.key] = (0.82, "self_reference")
            elif names_whole_table(base, child) and not _another_table_named(base, table.key, indexes):
                # `address.address_id` is address's own identifier: `customer.address_id` refers to it, never the
                # reverse — even when each customer has its own address and both columns look unique.
                continue
            else:
                word, flat = "_".join(base), "".join(base)
                if base not in by_name:
                    named: dict[str, tuple[float, str]] = {}
                    # flat: a column splits `t000123_id` into t / 000123 where the table `t000123` is one token
                    for key in indexes.named(word, stem(word), base[-1], flat):
                        if key not in named and (match := _alias_match(base, word, flat, indexes.names[key])):
                            named[key] = match
                    by_name[base] = list(named.items())
                for key, match in by_name[base]:
                    # A table points at itself only through a role (`parent_category_id` in categories).
                    self_ok = key != table.key or len(base) > len(indexes.names[key].tokens)
                    if self_ok and match[0] > hits.get(key, (0.0, ""))[0]:
                        hits[key] = match
                if base not in by_letter:
                    by_letter[base] = [
                        (key, match)
                        for key in abbreviation_pool(indexes, base)
                        if (match := _alias_match(base, word, flat, indexes.names[key])) is not None
                    ]
                for key, match in by_letter[base]:
                    if key not in hits and key != table.key:
                        hits[key] = match
                if word in PERSON_ROLES and len(indexes.person_tables) == 1:
                    hits.setdefault(indexes.person_tables[0], (0.80, "role_name"))
                stripped = "_".join(child.stripped[column.name])
                for key, _target_column in indexes.key_columns.get(stripped, ()):
                    if key != table.key and hits.get(key, (0.0, ""))[0] < 0.90:
                        hits[key] = (0.90, "exact_column_match")
                col_tokens = child.stripped[column.name]
                for start in range(1, len(col_tokens) - 1):
                    for key, _ in indexes.key_columns.get("_".join(col_tokens[start:]), ()):
                        if key != table.key and key not in hits:
                            hits[key] = (0.78, "column_suffix_match")
            for parent in _locality(child, column.name, list(hits), indexes):
                name_score, reason = hits[parent]
                for edge in _pair_edges(table, column, parent, name_score, reason, stats, indexes):
                    if edge.id in exclude:
                        continue
                    current = found.get(edge.id)
                    if current is None or edge.name_score > current.name_score:
                        found[edge.id] = edge
    return list(found.values())


def _pair_edges(
    table: TableInfo,
    column: ColumnInfo,
    parent: str,
    name_score: float,
    reason: str,
    stats: dict[str, TableStats],
    indexes: Indexes,
) -> list[Edge]:
    parent_names = indexes.names[parent]
    child_stripped = "_".join(indexes.names[table.key].stripped[column.name])
    edges = []
    for target_column, key_score, key_reason in indexes.targets.get(parent, ()):
        if parent == table.key and target_column == column.name:
            continue
        target = parent_names.table.column(target_column)
        if target is None or not types_compatible(column, target):
            continue
        target_stripped = "_".join(parent_names.stripped[target_column])
        score = name_score
        match = reason
        if target_stripped == child_stripped and (
            len(parent_names.stripped[target_column]) >= 2 or target_stripped in NATURAL_KEY_WORDS
        ):
            score, match = max(score, 0.90), "exact_column_match" if score < 0.90 else reason
        elif reason == "exact_column_match":
            continue  # the exact match was with another column of this table
        elif reason == "column_suffix_match" and not child_stripped.endswith("_" + target_stripped):
            continue
        source_stats = stats.get(table.key)
        target_stats = stats.get(parent)
        overlap = value_overlap(
            source_stats.columns.get(column.name) if source_stats else None,
            target_stats.columns.get(target_column) if target_stats else None,
        )
        if key_reason == "profile_unique_target" and overlap == 0.0 and match != "exact_column_match":
            continue
        if key_reason == "profile_unique" and score < 0.88:
            continue  # a unique column that is not key-named needs a strong name tie
        edges.append(
            Edge(
                table.key,
                (column.name,),
                parent,
                (target_column,),
                match=match,
                name_score=score,
                target_key_score=key_score,
                reasons=[match, key_reason],
            )
        )
    return edges
