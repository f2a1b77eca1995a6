"""Column profiles for relationship discovery and descriptions: one read-only query per table.

The query is a UNION ALL of one row per column over a sample of the table's first rows: sampled and null
counts, distinct count, text length range, value range for numbers and times, and the five most frequent
values joined with U+001F. The full row count comes from one CTE. A table whose batched query fails (a type
without equality, a permission problem) is retried column by column so one odd column does not blank the rest.
SQL is a sqlglot tree rendered in the connection's dialect.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ktx.errors import KtxError

SEPARATOR = "\x1f"
# Each joined value is led by its rank and this mark: the SQL aggregates that join them (GROUP_CONCAT, STRING_AGG,
# LISTAGG) keep no order on a parallel engine, and the ranks put the values back in order, so the same data gives
# the same files on every scan.
RANK_MARK = "\x1e"
PROFILE_ALIAS = "relationship_profile_values"  # also marks scan probes for query-history mining
TOP_VALUES = 5
# The smallest distinct values of a column in (length, value) order, for inclusion dependencies: when one
# column's values are a subset of another's, its smallest values up to the other's largest sampled one are all
# in the other's sample. Wide values are never keys and stay out.
VALUE_SAMPLE = 32
VALUE_SAMPLE_WIDTH = 40


@dataclass(slots=True)
class ColumnStats:
    name: str
    sampled: int
    null_count: int
    distinct_count: int
    min_length: int | None = None
    max_length: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    # Tuples: a scan keeps two per column of every table until its files are written.
    top_values: tuple[str, ...] = ()
    value_sample: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A scan keeps every column's stats until its files are written: the two value lists are one tuple when
        # they hold the same values (a small column's most frequent values are all of them), and short bounds
        # (`1`, `2024-01-01`) are shared between columns.
        if self.value_sample == self.top_values:
            self.value_sample = self.top_values
        if self.min_value is not None:
            self.min_value = _shared_text(self.min_value)
        if self.max_value is not None:
            self.max_value = _shared_text(self.max_value)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sampled": self.sampled,
            "null_count": self.null_count,
            "distinct_count": self.distinct_count,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "top_values": list(self.top_values),
            "value_sample": list(self.value_sample),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnStats:
        return cls(
            **{
                **data,
                "top_values": _shared(data.get("top_values") or ()),
                "value_sample": _shared(data.get("value_sample") or ()),
            }
        )

    @property
    def uniqueness(self) -> float:
        return self.distinct_count / self.sampled if self.sampled else 0.0

    @property
    def null_rate(self) -> float:
        return self.null_count / self.sampled if self.sampled else 0.0

    @property
    def duplicates_seen(self) -> bool:
        """A value repeats among the sampled non-null values: the column is not a key, however close to 1.0 its
        uniqueness (16,044 distinct in 16,049 rows is a reference, not an identifier)."""
        return self.distinct_count < self.sampled - self.null_count


@dataclass(slots=True)
class TableStats:
    table: str
    row_count: int
    sampled: int
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rowCount": self.row_count,
            "sampled": self.sampled,
            "failed": self.failed,
            "warnings": self.warnings,
            # By hand: `dataclasses.asdict` deep-copies every value (5 s of a 1,000-table scan).
            "columns": {name: col.to_json() for name, col in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableStats:
        columns = {name: ColumnStats.from_json(col) for name, col in (data.get("columns") or {}).items()}
        return cls(
            data["table"], data["rowCount"], data["sampled"], columns, list(data.get("warnings") or []), data["failed"]
        )


@dataclass(frozen=True)
class ProfileColumn:
    name: str
    kind: str  # dimension type: string | number | time | boolean


def _is_placeholder(name: str | None) -> bool:
    from ktx.scan.sqltemplate import Placeholder

    return isinstance(name, Placeholder)


def _table(schema: str | None, name: str, catalog: str | None = None):
    from sqlglot import exp

    if _is_placeholder(name):
        return exp.Table(this=exp.to_identifier(name, quoted=False))
    return exp.Table(
        this=exp.to_identifier(name, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
        catalog=exp.to_identifier(catalog, quoted=True) if catalog else None,
    )


def _col(name: str, table: str | None = None):
    from sqlglot import exp

    if _is_placeholder(name):
        return exp.Column(this=exp.to_identifier(name, quoted=False))
    return exp.Column(
        this=exp.to_identifier(name, quoted=True), table=exp.to_identifier(table, quoted=True) if table else None
    )


def _label(name: str):
    """The column's name as a string literal (a placeholder of its own in a template)."""
    from sqlglot import exp

    if _is_placeholder(name):
        from ktx.scan.sqltemplate import placeholder

        return exp.Var(this=placeholder("n" + name[len("ktx__ph__c") : -2]))
    return exp.Literal.string(name)


def _text(node):
    from sqlglot import exp

    return exp.cast(node, exp.DataType.build("text"))


def profile_sql(
    schema: str | None,
    table: str,
    columns: list[ProfileColumn],
    sample_rows: int,
    dialect: str,
    catalog: str | None,
    *,
    engine_specific: bool = True,
) -> str:
    """The profile query of one table (see `profile_tree`), rendered from a cached template of its shape."""
    from ktx.scan import sqltemplate as t

    shape = tuple(c.kind == "number" for c in columns)
    placeholders = [ProfileColumn(t.placeholder(f"c{i}"), c.kind) for i, c in enumerate(columns)]
    template = t.render_template(
        ("profile", shape, sample_rows),
        lambda: profile_tree(None, t.placeholder("table"), placeholders, sample_rows, None),
        dialect,
    )
    values = {"table": t.table(schema, table, catalog, dialect)}
    for i, column in enumerate(columns):
        values[f"c{i}"] = t.ident(column.name, dialect)
        values[f"n{i}"] = t.literal(column.name, dialect)
    sql = t.fill(template, values)
    if dialect == "duckdb" and columns and engine_specific:
        sql = _duckdb_unpivot(sql, columns)
    return sql


def _duckdb_unpivot(sql: str, columns: list[ProfileColumn]) -> str:
    """DuckDB plans a UNION ALL of one branch per column slowly (~20 ms of a 20-column table's ~30 ms): its own
    UNPIVOT gives the same (column, text value, numeric value) rows and plans in a fraction of that. Only the
    `ktx_values` step changes; the rest of the query is the generic one."""
    start = sql.index("ktx_values AS (") + len("ktx_values AS (")
    end = sql.index("), ktx_groups AS (")
    return sql[:start] + _duckdb_values(columns, "ktx_sample") + sql[end:]


def _duckdb_values(columns: list[ProfileColumn], sample: str, table_number: int | None = None) -> str:
    """DuckDB's `ktx_values` rows of one table's sample: (column, text value, numeric value), led by the table's
    number in a query of several tables."""
    from ktx.scan import sqltemplate as t

    names = [t.ident(c.name, "duckdb") for c in columns]
    as_text = ", ".join(f"CAST({name} AS TEXT) AS {name}" for name in names)
    numeric = ", ".join(t.literal(c.name, "duckdb") for c in columns if c.kind == "number")
    x = f"CASE WHEN c IN ({numeric}) THEN TRY_CAST(v AS DOUBLE) END" if numeric else "CAST(NULL AS DOUBLE)"
    lead = "" if table_number is None else f"{table_number} AS t, "
    return (
        f"SELECT {lead}c, v, {x} AS x FROM (UNPIVOT (SELECT {as_text} FROM {sample}) ON COLUMNS(*) INTO NAME c VALUE v)"
    )


def _ranked(rank: str):
    """`<rank> RANK_MARK <value>`: a value as it is joined, with the rank that orders it (see RANK_MARK)."""
    from sqlglot import exp

    mark = exp.Literal.string(RANK_MARK)
    return exp.DPipe(this=exp.DPipe(this=_text(exp.column(rank)), expression=mark), expression=exp.column("v"))


def profile_tree(
    schema: str | None, table: str, columns: list[ProfileColumn], sample_rows: int, catalog: str | None
) -> Any:
    """One query: the sample unpivoted to (column, text value, numeric value), grouped by value, ranked by count.

    Each output row is one column with at least one non-null value: distinct and non-null counts, text length
    range, numeric and text value range, and its most frequent values joined with U+001F."""
    from sqlglot import exp

    source = _table(schema, table, catalog)
    total = exp.select(exp.Count(this=exp.Star())).from_(source.copy()).subquery()
    if not columns:
        return exp.select(exp.alias_(total, "total_rows"))
    sample = exp.select(*(_col(c.name) for c in columns)).from_(source.copy()).limit(sample_rows)
    branches = []
    for column in columns:
        numeric = (
            exp.cast(_col(column.name), exp.DataType.build("double"))
            if column.kind == "number"
            else exp.cast(exp.Null(), exp.DataType.build("double"))
        )
        branches.append(
            exp.select(
                exp.alias_(_label(column.name), "c"),
                exp.alias_(_text(_col(column.name)), "v"),
                exp.alias_(numeric, "x"),
            ).from_("ktx_sample")
        )
    unpivot = branches[0]
    for branch in branches[1:]:
        unpivot = exp.union(unpivot, branch, distinct=False)
    grouped = (
        exp.select(
            "c", "v", exp.alias_(exp.Min(this=exp.column("x")), "x"), exp.alias_(exp.Count(this=exp.Star()), "n")
        )
        .from_("ktx_values")
        .where(exp.Not(this=exp.Is(this=exp.column("v"), expression=exp.Null())))
        .group_by("c", "v")
    )
    ranked = exp.select(
        "c",
        "v",
        "x",
        "n",
        exp.alias_(
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[exp.column("c")],
                order=exp.Order(
                    expressions=[exp.Ordered(this=exp.column("n"), desc=True), exp.Ordered(this=exp.column("v"))]
                ),
            ),
            "rk",
        ),
        exp.alias_(
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[exp.column("c")],
                order=exp.Order(
                    expressions=[
                        exp.Ordered(this=exp.Length(this=exp.column("v"))),
                        exp.Ordered(this=exp.column("v")),
                    ]
                ),
            ),
            "vk",
        ),
    ).from_("ktx_groups")
    top = exp.Case(
        ifs=[exp.If(this=exp.LTE(this=exp.column("rk"), expression=exp.Literal.number(TOP_VALUES)), true=_ranked("rk"))]
    )
    smallest = exp.Case(
        ifs=[
            exp.If(
                this=exp.and_(
                    exp.LTE(this=exp.column("vk"), expression=exp.Literal.number(VALUE_SAMPLE)),
                    exp.LTE(this=exp.Length(this=exp.column("v")), expression=exp.Literal.number(VALUE_SAMPLE_WIDTH)),
                ),
                true=_ranked("vk"),
            )
        ]
    )
    query = (
        exp.select(
            exp.alias_(exp.column("c"), "column_name"),
            exp.alias_(total, "total_rows"),
            exp.alias_(exp.select(exp.Count(this=exp.Star())).from_("ktx_sample").subquery(), "sampled"),
            exp.alias_(exp.Sum(this=exp.column("n")), "non_null"),
            exp.alias_(exp.Count(this=exp.Star()), "distinct_count"),
            exp.alias_(exp.Min(this=exp.Length(this=exp.column("v"))), "min_length"),
            exp.alias_(exp.Max(this=exp.Length(this=exp.column("v"))), "max_length"),
            exp.alias_(exp.Min(this=exp.column("x")), "min_number"),
            exp.alias_(exp.Max(this=exp.column("x")), "max_number"),
            exp.alias_(exp.Min(this=exp.column("v")), "min_text"),
            exp.alias_(exp.Max(this=exp.column("v")), "max_text"),
            exp.alias_(exp.GroupConcat(this=top, separator=exp.Literal.string(SEPARATOR)), "top_values"),
            exp.alias_(exp.GroupConcat(this=smallest, separator=exp.Literal.string(SEPARATOR)), "value_sample"),
        )
        .from_(exp.alias_(ranked.subquery(), PROFILE_ALIAS))
        .group_by("c")
        .with_("ktx_sample", as_=sample)
        .with_("ktx_values", as_=unpivot)
        .with_("ktx_groups", as_=grouped)
    )
    return query


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _opt_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _opt_text(value: Any) -> str | None:
    return None if value is None else _shared_text(str(value))


def _number_text(value: Any) -> str | None:
    if value is None:
        return None
    number = float(value)
    return sys.intern(str(int(number)) if number.is_integer() and abs(number) < 2**53 else f"{number:g}")


# Sampled values at most this long are shared between columns (`sys.intern`): statuses, flags, small numbers and
# years repeat across thousands of tables, and a scan keeps every column's values until its files are written.
SHARED_VALUE_WIDTH = 64


def _shared_text(value: str) -> str:
    return sys.intern(value) if len(value) <= SHARED_VALUE_WIDTH else value


def _shared(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(_shared_text(v) for v in values)


def _split(joined: Any) -> tuple[str, ...]:
    """The values of one joined aggregate, in the order of the ranks that lead them (see RANK_MARK)."""
    if joined in (None, ""):
        return ()
    ranked = []
    for item in str(joined).split(SEPARATOR):
        rank, _, value = item.partition(RANK_MARK)
        if value != "":
            ranked.append((int(rank), value))
    ranked.sort()
    return _shared(value for _, value in ranked)


def _parse_rows(rows: list[tuple[Any, ...]], columns: list[ProfileColumn]) -> tuple[int, int, dict[str, ColumnStats]]:
    kinds = {c.name: c.kind for c in columns}
    names = {c.name: c.name for c in columns}  # the catalog's own strings, not a copy per profile
    total = sampled = 0
    found: dict[str, ColumnStats] = {}
    for name, total_rows, n, non_null, distinct, min_len, max_len, min_x, max_x, min_v, max_v, top, smallest in rows:
        total, sampled = _int(total_rows), _int(n)
        name = names.get(str(name), str(name))
        kind = kinds.get(name, "string")
        values = _split(top)
        found[name] = ColumnStats(
            name,
            sampled,
            sampled - _int(non_null),
            _int(distinct),
            _opt_int(min_len),
            _opt_int(max_len),
            _number_text(min_x) if kind == "number" else _opt_text(min_v) if kind == "time" else None,
            _number_text(max_x) if kind == "number" else _opt_text(max_v) if kind == "time" else None,
            values[:TOP_VALUES],
            _split(smallest)[:VALUE_SAMPLE],
        )
    # Columns with no non-null value in the sample produce no row.
    stats = {c.name: found.get(c.name) or ColumnStats(c.name, sampled, sampled, 0) for c in columns}
    return total, sampled, stats


def profile_table(
    connector: Any,
    key: str,
    schema: str | None,
    table: str,
    columns: list[ProfileColumn],
    sample_rows: int,
    catalog: str | None = None,
) -> TableStats:
    """Profile one table; never raises for warehouse errors (the stats say `failed` and why)."""
    dialect = connector.dialect
    try:
        raw = connector.execute(profile_sql(schema, table, columns, sample_rows, dialect, catalog))
        if not columns:
            count = _int(raw.rows[0][0]) if raw.rows else 0
            return TableStats(key, count, min(count, sample_rows))
        if not raw.rows:  # an empty table: no value rows at all
            return _empty_table(connector, key, schema, table, columns, catalog, sample_rows)
        total, sampled, stats = _parse_rows(list(raw.rows), columns)
        return TableStats(key, total, sampled, stats)
    except KeyboardInterrupt:
        raise
    except KtxError as exc:
        first_error = exc.message
    if len(columns) <= 1:
        return TableStats(key, 0, 0, {}, [f"profile_failed:{key}: {first_error}"], failed=True)
    # One column may be the problem (a JSON column without equality): profile the others one by one.
    result = TableStats(key, 0, 0)
    for column in columns:
        try:
            raw = connector.execute(profile_sql(schema, table, [column], sample_rows, dialect, catalog))
        except KeyboardInterrupt:
            raise
        except KtxError as exc:
            result.warnings.append(f"profile_failed:{key}.{column.name}: {exc.message}")
            continue
        if not raw.rows:
            continue
        total, sampled, stats = _parse_rows(list(raw.rows), [column])
        result.row_count, result.sampled = total, sampled
        result.columns.update(stats)
    if not result.columns:
        result.failed = True
        result.warnings = [f"profile_failed:{key}: {first_error}"]
    return result


def _empty_table(
    connector: Any,
    key: str,
    schema: str | None,
    table: str,
    columns: list[ProfileColumn],
    catalog: str | None,
    sample_rows: int,
) -> TableStats:
    """No row came back: the table is empty, or every sampled value is NULL (count to tell which)."""
    raw = connector.execute(profile_sql(schema, table, [], 0, connector.dialect, catalog))
    count = _int(raw.rows[0][0]) if raw.rows else 0
    sampled = min(count, sample_rows)
    return TableStats(key, count, sampled, {c.name: ColumnStats(c.name, sampled, sampled, 0) for c in columns})


T = TypeVar("T")
R = TypeVar("R")

# Tables profiled between two releases of what an embedded warehouse caches of them (see release_cache).
RELEASE_EVERY = 300


def profile_tables(
    connector: Any,
    targets: list[tuple[str, str | None, str, list[ProfileColumn], str | None]],
    *,
    sample_rows: int,
    concurrency: int,
    on_done: Any = None,
) -> dict[str, TableStats]:
    """Profile many tables with bounded concurrency; `on_done(key)` after each one (progress). A connector with a
    `profile_batch_size` above one (DuckDB) is asked about that many tables per query."""
    results: dict[str, TableStats] = {}
    size = max(1, int(getattr(connector, "profile_batch_size", 1)))
    batches = [targets[start : start + size] for start in range(0, len(targets), size)]

    def work(batch: list[tuple[str, str | None, str, list[ProfileColumn], str | None]]) -> list[TableStats]:
        if len(batch) > 1:
            return profile_batch(connector, batch, sample_rows)
        key, schema, table, columns, catalog = batch[0]
        return [profile_table(connector, key, schema, table, columns, sample_rows, catalog)]

    workers = max(1, min(concurrency, connector.max_connections, len(batches) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ktx-profile") as pool:
        for profiled in releasing_map(pool, work, batches, connector, every=max(1, RELEASE_EVERY // size)):
            for stats in profiled:
                results[stats.table] = stats
                if on_done is not None:
                    on_done(stats.table)
    return results


def profile_batch(
    connector: Any, batch: list[tuple[str, str | None, str, list[ProfileColumn], str | None]], sample_rows: int
) -> list[TableStats]:
    """Several tables in one query (DuckDB: planning a query costs more than profiling a small table). The same
    figures as `profile_table`, table by table; if the query fails, each table is profiled on its own (and a bad
    column there found column by column)."""
    with_columns = [target for target in batch if target[3]]
    alone = [target for target in batch if not target[3]]  # nothing to profile but the row count
    out: list[TableStats] = []
    if len(with_columns) > 1:
        try:
            raw = connector.execute(_duckdb_batch_sql(with_columns, sample_rows))
        except KeyboardInterrupt:
            raise
        except KtxError:
            alone = batch
        else:
            rows: dict[int, list[tuple[Any, ...]]] = {i: [] for i in range(len(with_columns))}
            counts: dict[int, tuple[int, int]] = {}
            for row in raw.rows:
                counts[int(row[0])] = (_int(row[2]), _int(row[3]))
                if row[1] is not None:  # a table with no non-null sampled value has its counts alone
                    rows[int(row[0])].append(tuple(row[1:]))
            for i, (key, _schema, _table, columns, _catalog) in enumerate(with_columns):
                if rows[i]:
                    total, sampled, stats = _parse_rows(rows[i], columns)
                else:
                    total, sampled = counts.get(i, (0, 0))
                    stats = {c.name: ColumnStats(c.name, sampled, sampled, 0) for c in columns}
                out.append(TableStats(key, total, sampled, stats))
    else:
        alone = batch
    for key, schema, table, columns, catalog in alone:
        out.append(profile_table(connector, key, schema, table, columns, sample_rows, catalog))
    return out


def _duckdb_batch_sql(
    batch: list[tuple[str, str | None, str, list[ProfileColumn], str | None]], sample_rows: int
) -> str:
    """`profile_sql`'s DuckDB query for several tables at once: each table's sample unpivoted and numbered, grouped
    and ranked per (table, column), every table's row counts joined on (a table with no value row keeps them)."""
    from ktx.scan import sqltemplate as t

    ctes, values, counts = [], [], []
    for i, (_key, schema, table, columns, catalog) in enumerate(batch):
        source = t.table(schema, table, catalog, "duckdb")
        names = ", ".join(t.ident(c.name, "duckdb") for c in columns)
        ctes.append(f"ktx_sample_{i} AS (SELECT {names} FROM {source} LIMIT {int(sample_rows)})")
        values.append(_duckdb_values(columns, f"ktx_sample_{i}", i))
        counts.append(
            f"SELECT {i} AS t, (SELECT COUNT(*) FROM {source}) AS total_rows, "
            f"(SELECT COUNT(*) FROM ktx_sample_{i}) AS sampled"
        )
    separator, mark = t.literal(SEPARATOR, "duckdb"), t.literal(RANK_MARK, "duckdb")
    ranked = (
        "SELECT t, c, v, x, n, ROW_NUMBER() OVER (PARTITION BY t, c ORDER BY n DESC, v) AS rk, "
        "ROW_NUMBER() OVER (PARTITION BY t, c ORDER BY LENGTH(v), v) AS vk FROM ktx_groups"
    )
    per_column = (
        "SELECT t, c, SUM(n) AS non_null, COUNT(*) AS distinct_count, MIN(LENGTH(v)) AS min_length, "
        "MAX(LENGTH(v)) AS max_length, MIN(x) AS min_number, MAX(x) AS max_number, MIN(v) AS min_text, "
        f"MAX(v) AS max_text, LISTAGG(CASE WHEN rk <= {TOP_VALUES} THEN rk || {mark} || v END, {separator}) "
        "AS top_values, LISTAGG(CASE WHEN vk <= "
        f"{VALUE_SAMPLE} AND LENGTH(v) <= {VALUE_SAMPLE_WIDTH} THEN vk || {mark} || v END, {separator}) "
        f"AS value_sample FROM ({ranked}) AS {PROFILE_ALIAS} GROUP BY t, c"
    )
    return (
        f"WITH {', '.join(ctes)}, ktx_values AS ({' UNION ALL '.join(values)}), "
        "ktx_groups AS (SELECT t, c, v, MIN(x) AS x, COUNT(*) AS n FROM ktx_values WHERE NOT v IS NULL "
        f"GROUP BY t, c, v), ktx_counts AS ({' UNION ALL '.join(counts)}) "
        "SELECT k.t, p.c, k.total_rows, k.sampled, p.non_null, p.distinct_count, p.min_length, p.max_length, "
        "p.min_number, p.max_number, p.min_text, p.max_text, p.top_values, p.value_sample "
        f"FROM ktx_counts AS k LEFT JOIN ({per_column}) AS p ON p.t = k.t"
    )


def releasing_map(
    pool: ThreadPoolExecutor, work: Callable[[T], R], items: list[T], connector: Any, every: int = 0
) -> Iterator[R]:
    """`pool.map(work, items)` in batches of `every` (default RELEASE_EVERY), releasing what the warehouse cached of
    the tables read (`connector.release_cache`, when it has one) after each batch, when no query is in flight."""
    release = getattr(connector, "release_cache", None)
    every = every or RELEASE_EVERY
    for start in range(0, len(items), every):
        yield from pool.map(work, items[start : start + every])
        if release is not None:
            release()


def profile_infos(
    connector: Any, tables: list[Any], *, sample_rows: int, concurrency: int, on_done: Any = None
) -> dict[str, TableStats]:
    """Profile the tables relationship discovery sees (`TableInfo`s), keyed by source key."""
    targets = [(t.key, t.schema, t.name, [ProfileColumn(c.name, c.kind) for c in t.columns], t.catalog) for t in tables]
    return profile_tables(connector, targets, sample_rows=sample_rows, concurrency=concurrency, on_done=on_done)
