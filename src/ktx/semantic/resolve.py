"""Resolving a semantic query's names against the model: dimensions, measures (predefined, inline,
derived), filters split into WHERE and HAVING, and segments. Produces qualified ASTs; no SQL text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ktx.semantic import sqlexpr
from ktx.semantic.grains import GRANULARITIES, unknown_granularity
from ktx.semantic.graph import JoinGraph
from ktx.semantic.model import NonAdditive, Source, Window, custom_granularities, parse_window
from ktx.semantic.query import DimensionRef, InlineMeasure, SemanticQuery
from ktx.semantic.sqlexpr import CompileError
from ktx.semantic.timegrain import shift_back, truncate

ROW_MARKER = "__ktx_row"  # `count(*)` of a node: see Resolver._count_rows_of

DERIVED = "__derived__"
WINDOW_MARK = "~"  # separates a node from its window in a measure group's key


class PendingName(Exception):
    """A named measure refers to another named measure that is not resolved yet."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def custom_column(granularity: str, column: str) -> str:
    """The column a node's rows carry for `column` read at a custom granularity (added by _Builder.table)."""
    return f"__ktx_{granularity}__{column}"


@dataclass
class Dimension:
    field: str  # node.column
    node: str
    column: str
    granularity: str | None
    expr: exp.Expression
    alias: str = ""
    description: str = ""
    raw: exp.Expression | None = None  # the expression before its granularity's truncation
    # A custom granularity: (time spine source, its custom column) — the node's rows are read joined to the spine,
    # and `expr` is the period column that join adds (see _Builder.table).
    custom: tuple[str, str] | None = None
    # A column the node's rows get from a correlated sub-query (a conversion's base event time; see _Builder.table).
    attributed: exp.Expression | None = None
    # `metric_time`: each measure's own time column (its time_dimension, else its source's default), by node and
    # column — the dimension each measure source groups by, the groups then joined on it (MetricFlow's reading).
    metric_time: bool = False
    concrete: dict[tuple[str, str], Dimension] = field(default_factory=dict)


@dataclass(eq=False)
class Measure:
    """A measure the query needs. Aggregates belong to one node; derived ones combine other measures.

    In a derived `formula` each dependency appears as a placeholder column named by `placeholders`.
    """

    name: str
    original: str
    node: str | None
    expr: exp.Expression
    filter: exp.Expression | None = None
    placeholders: dict[str, Measure] = field(default_factory=dict)
    output: bool = False
    provenance: str = "composed"
    qualified_ref: str | None = None
    description: str = ""
    nodes: set[str] = field(default_factory=set)  # every node its expression and filter touch
    window: Window | None = None  # cumulative or offset: read against the time spine
    time_column: str | None = None  # the column of `node` that places it in time (for a window)
    non_additive: NonAdditive | None = None  # semi-additive: only the rows at the first/last day count
    fill: float | None = None  # answered instead of NULL (fill_nulls_with)
    spine_filled: bool = False  # every period of the time spine (join_to_timespine), by `time_column`
    # A conversion count: where no row converts it is NULL, not 0 (MetricFlow counts matched conversions; a group
    # with none has no conversion rows, and its rate is NULL).
    conversion: bool = False
    # The column that places this measure's rows in time (its time_dimension, else the source's default): what
    # `metric_time` reads for it. `time_split`: asked by metric_time beside measures of the same node placed in time
    # by another column, so computed in its own group.
    time_of: str | None = None
    time_split: bool = False
    # A conversion count by metric_time: the time of the base event each conversion is attributed to (the latest
    # matching one), as a sub-query correlated on the conversion row.
    converted_from: exp.Expression | None = None

    @property
    def derived(self) -> bool:
        return self.node is None

    @property
    def group(self) -> str | None:
        """Measures computed together: one node's rows, or one node's rows through one window."""
        if self.node is not None and self.non_additive is not None:
            n = self.non_additive
            return f"{self.node}{WINDOW_MARK}non_additive_{n.column}_{n.choose}_{'_'.join(n.per)}"
        if self.node is not None and self.window is None and self.time_split:
            return f"{self.node}{WINDOW_MARK}time_{self.time_of}"
        if self.node is None or self.window is None:
            return self.node
        w = self.window
        shift = f"{(w.offset or '').replace(' ', '_')}{w.offset_to_grain or ''}"
        shape = f"{w.kind}_{(w.window or '').replace(' ', '_')}_{w.grain_to_date or ''}_{w.period_agg}_{shift}"
        shape += f"_{self.time_column}"
        return f"{self.node}{WINDOW_MARK}{shape}"

    def leaves(self) -> list[Measure]:
        if not self.derived:
            return [self]
        out: list[Measure] = []
        for dep in self.placeholders.values():
            out += [m for m in dep.leaves() if m not in out]
        return out


@dataclass
class Resolved:
    dimensions: list[Dimension]
    measures: list[Measure]  # requested, in order
    aggregates: list[Measure]  # every aggregate measure needed (requested, dependencies, HAVING-only)
    where: list[tuple[exp.Expression, set[str], str]]  # clause, nodes, original text
    having: list[tuple[exp.Expression, dict[str, Measure], str]]


class Resolver:
    def __init__(self, sources: dict[str, Source], graph: JoinGraph, dialect: str):
        self.sources = sources
        self.graph = graph
        self.dialect = dialect
        self._predefined: dict[tuple[str, str], Measure] = {}
        self._inline: dict[str, Measure] = {}
        self._resolving: list[tuple[str, str]] = []
        self._counter = 0
        self.pending_names: set[str] = set()

    # ---- names -------------------------------------------------------------------------------------------
    def source_of(self, node: str) -> Source:
        return self.sources[self.graph.base[node]]

    def _node(self, name: str, context: str) -> str:
        if name in self.graph.base:
            return name
        known = ", ".join(sorted(self.graph.base))
        raise CompileError(f"Source '{name}' referenced in {context} does not exist. Available: {known}")

    def _available(self, node: str) -> str:
        source = self.source_of(node)
        return ", ".join(sorted({c.name for c in source.columns} | {m.name for m in source.measures}))

    def _column_missing(self, node: str, column: str) -> CompileError:
        return CompileError(f"Column '{column}' does not exist in source '{node}'. Available: {self._available(node)}")

    def _check_visible(self, node: str, column: str) -> None:
        col = self.source_of(node).column(column)
        if col is not None and col.visibility == "hidden":
            raise CompileError(f"Column '{node}.{column}' is hidden and cannot be queried")

    def _placeholder(self) -> tuple[str, exp.Column]:
        self._counter += 1
        key = f"__ktx_m{self._counter}"
        return key, exp.column(key)

    # ---- computed columns --------------------------------------------------------------------------------
    def expand_computed(self, node_expr: exp.Expression, depth: int = 0) -> exp.Expression:
        """Replace `src.col` of a computed column by `(<its expr, qualified by src>)`."""
        if depth > 8:
            raise CompileError("Computed columns reference each other in a cycle")

        def swap(n: exp.Expression) -> exp.Expression:
            if not isinstance(n, exp.Column) or not n.table or n.table not in self.graph.base:
                return n
            col = self.source_of(n.table).column(n.name)
            if col is None or not col.expr:
                return n
            inner = sqlexpr.parse(col.expr, self.dialect, what=f"computed column '{n.table}.{n.name}'")
            for ref in sqlexpr.columns(inner):
                if not ref.table:
                    ref.set("table", exp.to_identifier(n.table))
            return exp.paren(self.expand_computed(inner, depth + 1), copy=False)

        return node_expr.transform(swap, copy=False)

    # ---- dimensions --------------------------------------------------------------------------------------
    def dimension(self, raw: str | DimensionRef) -> Dimension:
        spec = raw if isinstance(raw, DimensionRef) else DimensionRef(field=raw)
        text = spec.field.strip()
        if text.lower() == "metric_time" and not any(s.column("metric_time") for s in self.sources.values()):
            # Read per measure (see resolve()); its granularity is checked there, against each time column.
            return Dimension("metric_time", "", "metric_time", spec.granularity or None, exp.column("metric_time"),
                             description="Each measure's own time dimension.", metric_time=True)  # fmt: skip
        if "." in text:
            node_name, column = text.rsplit(".", 1)
            node = self._node(node_name, f"dimension '{text}'")
        else:
            column = text
            owners = sorted(n for n, base in self.graph.base.items() if n == base and self.sources[n].column(column))
            if not owners:
                raise CompileError(f"Column '{column}' does not exist in any source. Qualify it as 'source.{column}'.")
            if len(owners) > 1:
                raise CompileError(
                    f"Column '{column}' is ambiguous: it exists in multiple sources ({', '.join(owners)}). "
                    f"Use a qualified name like '{owners[0]}.{column}'."
                )
            node = owners[0]
        col = self.source_of(node).column(column)
        if col is None:
            raise self._column_missing(node, column)
        self._check_visible(node, column)
        expr = self.expand_computed(exp.column(column, node))
        raw = expr.copy()
        granularity = spec.granularity or None
        custom = None
        if granularity:
            if col.type not in ("time", "string"):
                raise CompileError(
                    f"Dimension '{node}.{column}' is a {col.type} column; granularity needs a time column"
                )
            if granularity.lower() in GRANULARITIES:
                granularity = granularity.lower()
                expr = truncate(expr, granularity, self.dialect)
            else:
                custom = self._custom_granularity(granularity, f"{text}:{granularity}")
                expr = exp.column(custom_column(granularity, column), node)
        return Dimension(
            f"{node}.{column}",
            node,
            column,
            granularity,
            expr,
            description=col.resolved_description,
            raw=raw,
            custom=custom,
        )

    def _custom_granularity(self, name: str, dimension: str) -> tuple[str, str]:
        """(time spine source, its column) of a custom granularity, or the list of what there is."""
        known = custom_granularities(self.sources.values())
        if name in known:
            spine, custom = known[name]
            return spine.name, custom.source_column
        raise CompileError(unknown_granularity(name, dimension, sorted(known)))

    # ---- measures ----------------------------------------------------------------------------------------
    def predefined(self, node: str, name: str) -> Measure:
        key = (node, name)
        if key in self._predefined:
            return self._predefined[key]
        if key in self._resolving:
            raise CompileError(f"Circular dependency detected: {name}")
        source = self.source_of(node)
        definition = next((m for m in source.measures if m.name == name), None)
        if definition is None:
            raise CompileError(f"Measure '{name}' does not exist on source '{node}'")
        self._resolving.append(key)
        try:
            parsed = sqlexpr.parse(definition.expr, self.dialect, what=f"measure '{source.name}.{name}'")
            self._reject_unsupported(parsed, definition.expr)
            siblings = {m.name for m in source.measures}
            columns = {c.name for c in source.columns}
            # Outside any aggregate a name can only mean a measure, even when a column shares it (a metric `cost`
            # over the column `cost`).
            formula = not sqlexpr.aggregates(parsed)
            deps = [
                (node, c)
                for c in sqlexpr.columns(parsed)
                if c.table in ("", source.name) and c.name in siblings and (formula or c.name not in columns)
            ]
            # A measure may also combine other sources' measures (`revenue - refunds.refunded_amount`): each input
            # is then aggregated at its own grain, as when a query combines them inline.
            deps += [
                (self._node(c.table, f"measure '{source.name}.{name}'"), c)
                for c in sqlexpr.columns(parsed)
                if c.table
                and c.table != source.name
                and c.table in self.graph.base
                and (formula or self._is_measure_ref(c, {}))
                and any(m.name == c.name for m in self.source_of(c.table).measures)
            ]
            if deps and not sqlexpr.aggregates(parsed):
                if definition.window is not None or definition.non_additive is not None:
                    raise CompileError(
                        f"Measure '{source.name}.{name}' has a window or is non-additive, which reads rows: "
                        "its expr must be an aggregate over the source's columns, not a formula over measures."
                    )
                unknown = [c.sql() for c in sqlexpr.columns(parsed) if not any(c is ref for _, ref in deps)]
                if unknown:
                    # Left in the SQL, a name that is no measure would be read as a column (or fail in the warehouse).
                    raise CompileError(
                        f"Measure '{source.name}.{name}' refers to '{unknown[0]}', which is not a measure: a formula "
                        "over measures reads only measures (this source's by name, another's as source.measure)."
                    )
                placeholders: dict[str, Measure] = {}
                for dep_node, ref in deps:
                    dep = self.predefined(dep_node, ref.name)
                    key_name, placeholder = self._placeholder()
                    placeholders[key_name] = dep
                    if ref is parsed:  # the whole formula is one other measure (a second name for it)
                        parsed = placeholder
                    else:
                        ref.replace(placeholder)
                measure = Measure(
                    name,
                    name,
                    None,
                    parsed,
                    placeholders=placeholders,
                    provenance="verified",
                    qualified_ref=f"{node}.{name}",
                    description=definition.description or "",
                )
            else:
                expr = self.expand_computed(self._qualify_bare(parsed, node, f"measure '{source.name}.{name}'"))
                expr = self._count_rows_of(sqlexpr.rewrite_custom_aggregates(expr, self.dialect), node)
                predicates = []
                if definition.filter:
                    predicates.append(
                        sqlexpr.parse(definition.filter, self.dialect, what=f"filter of measure '{name}'")
                    )
                for segment_name in definition.segments:
                    segment = source.segment(segment_name)
                    if segment is None:
                        raise CompileError(
                            f"Measure '{name}' on source '{source.name}' references unknown segment "
                            f"'{segment_name}'. Available segments: {source.segment_list}."
                        )
                    predicates.append(sqlexpr.parse(segment.expr, self.dialect, what=f"segment '{segment_name}'"))
                qualified = [
                    self.expand_computed(self._qualify_bare(p, node, f"filter of measure '{name}'")) for p in predicates
                ]
                converted_from = None
                if definition.conversion is not None:
                    exists, converted_from = self._converted(node, source, definition)
                    qualified.append(exists)
                measure = Measure(
                    name,
                    name,
                    node,
                    expr,
                    filter=sqlexpr.conjunction(qualified),
                    provenance="verified",
                    qualified_ref=f"{node}.{name}",
                    description=definition.description or "",
                )
                measure.nodes = self._nodes_of(measure)
                measure.fill = definition.fill_nulls_with
                measure.conversion = definition.conversion is not None
                measure.time_of = definition.time_dimension or (source.default_time_dimension or {}).get("column")
                if converted_from is not None:
                    # By metric_time a conversion counts at its base event's time (MetricFlow's reading).
                    measure.converted_from = converted_from
                    measure.time_of = f"__ktx_converted_{name}"
                if definition.window is not None:
                    self._windowed(measure, definition, source)
                if definition.join_to_timespine:
                    self._spine_filled(measure, definition, source)
                if definition.non_additive is not None:
                    for column in [definition.non_additive.column, *definition.non_additive.per]:
                        if source.column(column) is None:
                            raise self._column_missing(node, column)
                    measure.non_additive = definition.non_additive
        finally:
            self._resolving.pop()
        self._predefined[key] = measure
        return measure

    def _qualify_bare(self, node_expr: exp.Expression, node: str, what: str) -> exp.Expression:
        """Bare columns in a source's own expressions: its own columns first, then sources it reaches many-to-one."""
        reachable = sorted(
            ((p.cost, len(p.edges), n) for n, p in self.graph.shortest_paths(node, safe_only=True).items()),
        )
        for ref in sqlexpr.columns(node_expr):
            if ref.table:
                self._node(ref.table, what)
                continue
            owner = next((n for _, _, n in reachable if self.source_of(n).column(ref.name)), None)
            if owner is None:
                raise CompileError(
                    f"{what[0].upper()}{what[1:]} references unknown column '{ref.name}'. "
                    f"Available: {self._available(node)}"
                )
            ref.set("table", exp.to_identifier(owner))
        return node_expr

    def _count_rows_of(self, expr: exp.Expression, node: str) -> exp.Expression:
        """`count(*)` (and `count(1)`) counts the node's rows: a marker the compiler renders as `COUNT(1)` where the
        node's rows are the FROM rows, and as a presence flag where an outer join can null-extend them. Counting a
        column instead (the key, or a grain that is every column) skipped rows whose column was NULL."""
        for agg in sqlexpr.aggregates(expr):
            if isinstance(agg, exp.Count) and (agg.this is None or isinstance(agg.this, exp.Star | exp.Literal)):
                agg.set("this", exp.column(ROW_MARKER, node))
        return expr

    def _reject_unsupported(self, parsed: exp.Expression, text: str) -> None:
        if sqlexpr.has_window(parsed):
            raise CompileError(f"Window functions (OVER clause) are not supported in measures: '{text}'")
        if sqlexpr.nested_aggregate(parsed):
            raise CompileError(f"Nested aggregation is not supported: '{text}'")

    def _nodes_of(self, measure: Measure) -> set[str]:
        nodes = {measure.node} if measure.node else set()
        for part in (measure.expr, measure.filter):
            if part is not None:
                nodes |= {c.table for c in sqlexpr.columns(part) if c.table}
        return nodes

    def _owner(self, nodes: set[str]) -> str | None:
        """The node every other node is reachable from without fanning out (alphabetically first if several)."""
        for candidate in sorted(nodes):
            safe = self.graph.shortest_paths(candidate, safe_only=True)
            if all(n in safe for n in nodes):
                return candidate
        return None

    def _check_columns(self, node_expr: exp.Expression, context: str, *, allow_measures: bool) -> None:
        for ref in sqlexpr.columns(node_expr):
            if not ref.table or ref.name.startswith("__ktx_m"):
                continue
            node = self._node(ref.table, context)
            source = self.source_of(node)
            if source.column(ref.name) is None and not (
                allow_measures and any(m.name == ref.name for m in source.measures)
            ):
                raise self._column_missing(node, ref.name)
            self._check_visible(node, ref.name)

    def inline_aggregate(self, agg: exp.Expression, text: str, name: str | None) -> Measure:
        """One aggregate call over qualified columns (`sum(orders.amount)`), as a measure of its owning node."""
        refs = sqlexpr.columns(agg)
        if any(not r.table for r in refs) or not refs:
            raise CompileError(
                f"Measure '{text}' does not reference any source. Qualify columns like 'sum(orders.amount)' or "
                "name a predefined measure."
            )
        nodes = {r.table for r in refs}
        owner = self._owner(nodes)
        if owner is None:
            raise CompileError(
                f"Measure '{text}' references multiple independent sources ({', '.join(sorted(nodes))}) that no single "
                "source reaches through many_to_one joins. Decompose it into one aggregate per source."
            )
        expr = self._count_rows_of(sqlexpr.rewrite_custom_aggregates(self.expand_computed(agg), self.dialect), owner)
        key = f"{owner}|{expr.sql()}|{name or ''}"
        if key in self._inline:
            return self._inline[key]
        measure = Measure(name or sqlexpr.safe_identifier(text), text, owner, expr)
        measure.nodes = self._nodes_of(measure)
        measure.time_of = self._default_time(owner)
        self._inline.setdefault(key, measure)
        return measure

    def _default_time(self, node: str) -> str | None:
        """The column that places a node's rows in time when a measure names none (metric_time reads it)."""
        return (self.source_of(node).default_time_dimension or {}).get("column")

    def _converted(self, node: str, source: Source, definition: Any) -> tuple[exp.Expression, exp.Expression]:
        """`EXISTS (a base row for the same key at or before this row[, within the window]
        [, with the same values]`): the rows of a conversion measure; and the time of the latest such base row
        (what metric_time attributes the conversion to)."""
        rule = definition.conversion
        what = f"Conversion measure '{source.name}.{definition.name}'"
        if self.dialect in ("tsql", "clickhouse"):
            raise CompileError(f"{what}: a correlated EXISTS inside an aggregate is not supported on {self.dialect}")
        if rule.base not in self.sources:
            raise CompileError(f"{what} converts from '{rule.base}', which is not a source")
        base = self.sources[rule.base]
        if not base.table:
            raise CompileError(f"{what}: its base '{rule.base}' must be a table source")
        own_time = definition.time_dimension or (source.default_time_dimension or {}).get("column")
        base_time = (base.default_time_dimension or {}).get("column")
        if not own_time or not base_time:
            raise CompileError(f"{what}: both sources need a time dimension (default_time_dimension)")
        pairs = [(rule.key, rule.base_key or rule.key), (own_time, base_time), *rule.same.items()]
        for mine, theirs in pairs:
            if source.column(mine) is None:
                raise self._column_missing(node, mine)
            if base.column(theirs) is None:
                raise CompileError(f"{what}: column '{theirs}' does not exist in '{rule.base}'")
        alias = "__ktx_base"
        conditions: list[exp.Expression] = [
            exp.EQ(this=exp.column(rule.base_key or rule.key, alias), expression=exp.column(rule.key, node)),
            exp.LTE(this=exp.column(base_time, alias), expression=exp.column(own_time, node)),
        ]
        if rule.window:
            count, unit = parse_window(rule.window)
            start = shift_back(exp.column(own_time, node), count, unit, self.dialect)
            conditions.append(exp.GTE(this=exp.column(base_time, alias), expression=start))
        conditions += [
            exp.EQ(this=exp.column(theirs, alias), expression=exp.column(mine, node))
            for mine, theirs in rule.same.items()
        ]
        if rule.base_filter:
            conditions.append(self._base_condition(rule.base_filter, base, alias, what))
        table = exp.to_table(base.table, dialect=self.dialect)
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        inner = exp.select(exp.Literal.number(1)).from_(table).where(exp.and_(*conditions))
        latest = exp.Subquery(this=inner.copy().select(exp.Max(this=exp.column(base_time, alias)), append=False))
        return exp.Exists(this=inner), latest

    def _base_condition(self, text: str, base: Source, alias: str, what: str) -> exp.Expression:
        """A conversion's `base_filter`, its columns read from the base row (`alias`)."""
        try:
            condition = sqlexpr.parse(text, self.dialect)
        except Exception as exc:
            raise CompileError(f"{what}: base_filter {text!r} is not an SQL condition ({exc})") from None
        for column in list(condition.find_all(exp.Column)):
            if column.table:
                raise CompileError(f"{what}: base_filter {text!r} may name only the base's own columns")
            if base.column(column.name) is None:
                raise CompileError(f"{what}: base_filter column '{column.name}' does not exist in '{base.name}'")
            column.set("table", exp.to_identifier(alias))
        return condition

    def _windowed(self, measure: Measure, definition: Any, source: Source) -> None:
        """A cumulative or offset measure: its rows placed in time by its time dimension."""
        time = definition.time_dimension or (source.default_time_dimension or {}).get("column")
        if not time:
            raise CompileError(
                f"Measure '{source.name}.{definition.name}' has a {definition.window.kind} window but no time "
                f"dimension: set its `time_dimension` or the source's `default_time_dimension`."
            )
        column = source.column(str(time))
        if column is None:
            raise self._column_missing(measure.node or source.name, str(time))
        measure.window = definition.window
        measure.time_column = column.name

    def _spine_filled(self, measure: Measure, definition: Any, source: Source) -> None:
        """join_to_timespine: the measure's periods are the spine's, read by its time dimension."""
        time = definition.time_dimension or (source.default_time_dimension or {}).get("column")
        if not time:
            raise CompileError(
                f"Measure '{source.name}.{definition.name}' is joined to the time spine but has no time dimension: "
                "set its `time_dimension` or the source's `default_time_dimension`."
            )
        column = source.column(str(time))
        if column is None:
            raise self._column_missing(measure.node or source.name, str(time))
        measure.spine_filled = True
        measure.time_column = column.name

    def formula(
        self, parsed: exp.Expression, text: str, names: dict[str, Measure], context: str
    ) -> tuple[exp.Expression, dict[str, Measure]]:
        """Turn measure references and aggregate calls in an expression into placeholders."""
        placeholders: dict[str, Measure] = {}

        def bind(measure: Measure) -> exp.Column:
            key, column = self._placeholder()
            placeholders[key] = measure
            return column

        for agg in sqlexpr.aggregates(parsed):
            agg.replace(bind(self.inline_aggregate(agg.copy(), agg.sql(dialect=self.dialect), None)))
        for ref in sqlexpr.columns(parsed):
            if ref.name.startswith("__ktx_m"):
                continue
            if not ref.table:
                if ref.name.lower() in names:
                    ref.replace(bind(names[ref.name.lower()]))
                    continue
                if ref.name.lower() in self.pending_names:
                    raise PendingName(ref.name)
                raise CompileError(
                    f"'{ref.name}' in {context} '{text}' is not a measure of this query or a qualified column"
                )
            node = self._node(ref.table, f"{context} '{text}'")
            source = self.source_of(node)
            if any(m.name == ref.name for m in source.measures) and source.column(ref.name) is None:
                ref.replace(bind(self.predefined(node, ref.name)))
            elif source.column(ref.name) is None:
                raise self._column_missing(node, ref.name)
            else:
                raise CompileError(
                    f"Column '{ref.table}.{ref.name}' in {context} '{text}' is outside an aggregate; wrap it in "
                    f"sum(), count(), avg(), …"
                )
        return parsed, placeholders

    def measure(self, raw: str | InlineMeasure, names: dict[str, Measure]) -> Measure:
        text = (raw.expr if isinstance(raw, InlineMeasure) else raw).strip()
        explicit_name = raw.name if isinstance(raw, InlineMeasure) else None
        parsed = sqlexpr.parse(text, self.dialect, what="measure")
        self._reject_unsupported(parsed, text)
        self._check_columns(parsed, f"measure '{text}'", allow_measures=True)
        if isinstance(parsed, exp.Column):
            measure = self._named_measure(parsed, text, names)
            if explicit_name and explicit_name != measure.name:
                return Measure(explicit_name, text, None, exp.column("__ktx_m0"), placeholders={"__ktx_m0": measure})
            return measure
        aggs = sqlexpr.aggregates(parsed)
        refs = sqlexpr.columns(parsed)
        measure_refs = [r for r in refs if self._is_measure_ref(r, names) and not self._inside_aggregate(r, aggs)]
        if len(aggs) == 1 and aggs[0] is parsed:
            return self.inline_aggregate(parsed, text, explicit_name)
        if aggs and not measure_refs:
            nodes = {r.table for r in refs if r.table}
            owner = self._owner(nodes) if nodes and all(r.table for r in refs) else None
            if owner is not None:
                # One aggregate expression over one row set (`sum(a) / count(b)` on one source): keep it whole.
                expr = self._count_rows_of(
                    sqlexpr.rewrite_custom_aggregates(self.expand_computed(parsed), self.dialect), owner
                )
                measure = Measure(explicit_name or sqlexpr.safe_identifier(text), text, owner, expr)
                measure.nodes = self._nodes_of(measure)
                measure.time_of = self._default_time(owner)
                return measure
        if not aggs and not measure_refs:
            qualified = [r for r in refs if r.table]
            if qualified:
                src = qualified[0].table
                raise CompileError(
                    f"Measure '{text}' is not a pre-defined measure on source '{src}' and has no aggregate function. "
                    f"Use an aggregate like sum({text}), count({text}), avg({text}), etc."
                )
            raise CompileError(f"Measure '{text}' does not reference any source")
        formula, placeholders = self.formula(parsed, text, names, "measure")
        return Measure(explicit_name or sqlexpr.safe_identifier(text), text, None, formula, placeholders=placeholders)

    def _inside_aggregate(self, ref: exp.Expression, aggs: list[exp.Expression]) -> bool:
        parent = ref.parent
        while parent is not None:
            if any(parent is a for a in aggs):
                return True
            parent = parent.parent
        return False

    def _is_measure_ref(self, ref: exp.Column, names: dict[str, Measure]) -> bool:
        if not ref.table:
            return ref.name.lower() in names or ref.name.lower() in self.pending_names
        if ref.table not in self.graph.base:
            return False
        source = self.source_of(ref.table)
        return source.column(ref.name) is None and any(m.name == ref.name for m in source.measures)

    def _named_measure(self, ref: exp.Column, text: str, names: dict[str, Measure]) -> Measure:
        if ref.table:
            node = self._node(ref.table, f"measure '{text}'")
            source = self.source_of(node)
            if any(m.name == ref.name for m in source.measures):
                return self.predefined(node, ref.name)
            raise CompileError(
                f"Measure '{text}' is not a pre-defined measure on source '{node}' and has no aggregate function. "
                f"Use an aggregate like sum({text}), count({text}), avg({text}), etc."
            )
        if ref.name.lower() in names:
            return names[ref.name.lower()]
        if ref.name.lower() in self.pending_names:
            raise PendingName(ref.name)
        owners = sorted(n for n, s in self.sources.items() if any(m.name == ref.name for m in s.measures))
        if len(owners) > 1:
            raise CompileError(
                f"Measure '{ref.name}' is ambiguous: it exists in multiple sources ({', '.join(owners)}). Use a "
                f"qualified name like '{owners[0]}.{ref.name}'."
            )
        if owners:
            return self.predefined(owners[0], ref.name)
        raise CompileError(f"Measure '{text}' does not reference any source")

    # ---- filters -----------------------------------------------------------------------------------------
    def is_having(self, clause: exp.Expression, names: dict[str, Measure]) -> bool:
        if sqlexpr.aggregates(clause):
            return True
        return any(self._is_measure_ref(r, names) for r in sqlexpr.columns(clause))

    def where_clause(self, clause: exp.Expression, text: str) -> tuple[exp.Expression, set[str]]:
        self._check_columns(clause, f"filter '{text}'", allow_measures=False)
        for ref in sqlexpr.columns(clause):
            if not ref.table:
                owners = sorted(n for n, s in self.sources.items() if s.column(ref.name))
                if len(owners) != 1:
                    raise CompileError(
                        f"Column '{ref.name}' in filter '{text}' must be qualified as 'source.{ref.name}'"
                        + (f" (it exists in {', '.join(owners)})" if owners else " (no source has it)")
                    )
                ref.set("table", exp.to_identifier(owners[0]))
                self._check_visible(owners[0], ref.name)
        clause = self.expand_computed(clause)
        return clause, {c.table for c in sqlexpr.columns(clause) if c.table}


def resolve(resolver: Resolver, query: SemanticQuery) -> Resolved:
    """Dimensions, measures, filters (WHERE/HAVING) and segments of a query, in that order."""
    dims = _resolve_dimensions(resolver, query)
    measures, names = _resolve_measures(resolver, query)
    _unique_output_names(measures, dims)
    for measure in measures:
        names.setdefault(measure.name.lower(), measure)
    where, having = _split_filters(resolver, query, names)
    aggregates = _aggregates_behind(measures, having)
    _check_cycles(measures)
    _apply_segments(resolver, query, aggregates)
    _metric_time(resolver, dims, aggregates)
    return Resolved(dims, measures, aggregates, where, having)


def _metric_time(resolver: Resolver, dims: list[Dimension], aggregates: list[Measure]) -> None:
    """`metric_time` by measure: each aggregate's own time column at the asked granularity. Measures of one node
    placed in time by different columns are computed in groups of their own."""
    placeholders = [d for d in dims if d.metric_time]
    if not placeholders:
        return
    if not aggregates:
        raise CompileError("metric_time is each measure's own time dimension: ask it with a measure.")
    by_node: dict[str, set[str]] = {}
    for m in aggregates:
        if m.time_of is None or m.node is None:
            raise CompileError(
                f"Measure '{m.name}' has no time dimension, so metric_time cannot place it in time: set the "
                "measure's `time_dimension` or its source's `default_time_dimension`, or group by a time column."
            )
        by_node.setdefault(m.node, set()).add(m.time_of)
    for m in aggregates:
        m.time_split = len(by_node[m.node or ""]) > 1
    for dim in placeholders:
        for m in aggregates:
            key = (m.node or "", m.time_of or "")
            if key in dim.concrete:
                continue
            if m.converted_from is not None:
                concrete = _attributed_time(resolver, m, dim)
            else:
                concrete = resolver.dimension(DimensionRef(f"{key[0]}.{key[1]}", dim.granularity))
            concrete.field, concrete.alias, concrete.description = "metric_time", dim.alias, dim.description
            dim.concrete[key] = concrete


def _attributed_time(resolver: Resolver, m: Measure, dim: Dimension) -> Dimension:
    """metric_time of a conversion count: the time of the latest base event each conversion matched, a column
    its rows get from a correlated sub-query (MetricFlow attributes a conversion to that base event)."""
    grain = dim.granularity
    if grain is not None and grain not in GRANULARITIES:
        raise CompileError(f"Measure '{m.name}' counts conversions: by a custom granularity ({grain}) of "
                           "metric_time it is not answered yet.")  # fmt: skip
    node, column = m.node or "", m.time_of or ""
    raw = exp.column(column, node)
    expr = truncate(raw.copy(), grain, resolver.dialect) if grain else raw.copy()
    return Dimension("metric_time", node, column, grain, expr, raw=raw, attributed=m.converted_from)


def _resolve_dimensions(resolver: Resolver, query: SemanticQuery) -> list[Dimension]:
    """Deduplicated by field + granularity, with collision-free output names."""
    dims: list[Dimension] = []
    for raw in query.dimensions:
        dim = resolver.dimension(raw)
        if not any(d.field == dim.field and d.granularity == dim.granularity for d in dims):
            dims.append(dim)
    nodes_per_leaf: dict[str, set[str]] = {}
    for dim in dims:
        nodes_per_leaf.setdefault(dim.column, set()).add(dim.node)
    for dim in dims:
        base = dim.column if len(nodes_per_leaf[dim.column]) == 1 else f"{dim.node}_{dim.column}"
        dim.alias = f"{base}_{dim.granularity}" if dim.granularity else base
    return dims


def _resolve_measures(resolver: Resolver, query: SemanticQuery) -> tuple[list[Measure], dict[str, Measure]]:
    """Named inline measures may refer to each other by name in any order: resolve what can be resolved, retry
    the rest, and report a cycle when no progress is possible. Returns the output measures and the names."""
    names: dict[str, Measure] = {}
    resolver.pending_names = {m.name.lower() for m in query.measures if isinstance(m, InlineMeasure) and m.name}
    done: dict[int, Measure] = {}
    while len(done) < len(query.measures):
        progress, blocked = False, ""
        for index, raw in enumerate(query.measures):
            if index in done:
                continue
            try:
                measure = resolver.measure(raw, names)
            except PendingName as pending:
                blocked = blocked or pending.name
                continue
            done[index], progress = measure, True
            if isinstance(raw, InlineMeasure) and raw.name:
                names[raw.name.lower()] = measure
                resolver.pending_names.discard(raw.name.lower())
        if not progress:
            raise CompileError(f"Circular dependency detected: {blocked}")
    measures: list[Measure] = []
    for index in range(len(query.measures)):
        measure = done[index]
        if not any(m is measure for m in measures):
            measure.output = True
            measures.append(measure)
    return measures, names


def _split_filters(resolver: Resolver, query: SemanticQuery, names: dict[str, Measure]) -> tuple[list, list]:
    """Each top-level AND clause is WHERE (row level) or HAVING (over measures)."""
    where, having = [], []
    for text in query.filters:
        if not text.strip():
            continue
        parsed = sqlexpr.parse(text, resolver.dialect, what="filter")
        clauses = sqlexpr.split_and(parsed)
        for clause in clauses:
            clause_text = clause.sql(dialect=resolver.dialect) if len(clauses) > 1 else text.strip()
            if sqlexpr.has_window(clause):
                raise CompileError(f"Window functions (OVER clause) are not supported in filters: '{clause_text}'")
            if resolver.is_having(clause, names):
                branches = sqlexpr.or_branches(clause)
                if len(branches) > 1 and not all(resolver.is_having(b, names) for b in branches):
                    raise CompileError(
                        f"Filter '{clause_text}' mixes aggregate and non-aggregate conditions with OR, which cannot be "
                        "split into WHERE and HAVING. Split it into separate filters or rewrite it."
                    )
                resolver._check_columns(clause, f"filter '{clause_text}'", allow_measures=True)
                formula, placeholders = resolver.formula(clause.copy(), clause_text, names, "filter")
                having.append((formula, placeholders, clause_text))
            else:
                expr, nodes = resolver.where_clause(clause.copy(), clause_text)
                where.append((expr, nodes, clause_text))
    return where, having


def _aggregates_behind(measures: list[Measure], having: list) -> list[Measure]:
    """Every aggregate measure behind the request, dependencies and HAVING-only ones included."""
    aggregates: list[Measure] = []
    for measure in measures + [m for _, ph, _ in having for m in ph.values()]:
        for leaf in measure.leaves():
            if leaf not in aggregates:
                aggregates.append(leaf)
    return aggregates


def _apply_segments(resolver: Resolver, query: SemanticQuery, aggregates: list[Measure]) -> None:
    """Query-time segments narrow every aggregate measure of their source."""
    for raw in query.segments:
        if "." not in raw:
            raise CompileError(f"Query-time segment '{raw}' must be a dotted 'source.segment_name' reference.")
        node, segment_name = raw.rsplit(".", 1)
        if node not in resolver.graph.base:
            raise CompileError(f"Query-time segment '{raw}' references unknown source '{node}'.")
        source = resolver.source_of(node)
        segment = source.segment(segment_name)
        if segment is None:
            raise CompileError(
                f"Query-time segment '{raw}' references unknown segment '{segment_name}' on source '{node}'. "
                f"Available: {source.segment_list}"
            )
        targets = [m for m in aggregates if m.node == node]
        if not targets:
            raise CompileError(
                f"Query-time segment(s) on source '{node}' have no matching measure in the query. Segments only "
                f"filter measures of their own source; add a measure of '{node}'."
            )
        predicate = resolver.expand_computed(
            resolver._qualify_bare(sqlexpr.parse(segment.expr, resolver.dialect), node, f"segment '{raw}'")
        )
        for measure in targets:
            measure.filter = sqlexpr.conjunction([p for p in (measure.filter, predicate) if p is not None])
            measure.nodes = resolver._nodes_of(measure)


def _unique_output_names(measures: list[Measure], dims: list[Dimension]) -> None:
    by_name: dict[str, list[Measure]] = {}
    for measure in measures:
        by_name.setdefault(measure.name.lower(), []).append(measure)
    for group in by_name.values():
        if len(group) < 2:
            continue
        if all(m.qualified_ref for m in group):
            for m in group:
                m.name = m.qualified_ref.replace(".", "_")  # type: ignore[union-attr]
        else:
            raise CompileError(
                f"Two different measures in this query are both named '{group[0].name}' "
                f"({', '.join(m.original for m in group)}). Name one explicitly: "
                '{"expr": "...", "name": "..."}.'
            )
    seen = {d.alias.lower(): f"dimension '{d.field}'" for d in dims}
    for measure in measures:
        if measure.name.lower() in seen:
            raise CompileError(
                f"Output column '{measure.name}' is used by both {seen[measure.name.lower()]} and measure "
                f'\'{measure.original}\'. Name the measure explicitly: {{"expr": "...", "name": "..."}}.'
            )
        seen[measure.name.lower()] = f"measure '{measure.original}'"


def _check_cycles(measures: list[Measure]) -> None:
    def visit(measure: Measure, trail: list[Measure]) -> None:
        if any(measure is t for t in trail):
            raise CompileError(f"Circular dependency detected: {measure.name}")
        for dep in measure.placeholders.values():
            visit(dep, [*trail, measure])

    for measure in measures:
        visit(measure, [])
