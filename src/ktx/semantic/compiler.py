"""The semantic compiler: a resolved query → join plan → one SQL statement built as sqlglot trees.

Three shapes:
- dimension-only: `SELECT DISTINCT` over the joined dimensions;
- one measure source: a single grouped query, joined outward from the fact (fan-out paths are refused);
- several measure sources (fan or chasm trap): one pre-aggregated CTE per source, each joined only
  many-to-one to the dimensions, then combined on the dimension keys.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from ktx.memo import remember
from ktx.semantic import sqlexpr, sqltree
from ktx.semantic.grains import GRANULARITIES, SUB_SECOND_GRAINS
from ktx.semantic.graph import Edge, JoinGraph, Path
from ktx.semantic.model import Source, custom_granularities, custom_unit, parse_window
from ktx.semantic.query import DimensionRef, OrderBy, SemanticQuery
from ktx.semantic.resolve import DERIVED, ROW_MARKER, WINDOW_MARK, Dimension, Measure, Resolved, Resolver, resolve
from ktx.semantic.sqlexpr import CompileError
from ktx.semantic.timegrain import shift_back, truncate

NO_FULL_JOIN = {"mysql"}


@dataclass
class CompiledQuery:
    sql: str
    dialect: str
    columns: list[dict[str, Any]]
    plan: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "dialect": self.dialect,
            "columns": self.columns,
            "plan": self.plan,
            "warnings": self.warnings,
        }


class SemanticEngine:
    """A loaded model for one dialect. Building it parses every join once; `compile` is cheap."""

    def __init__(self, sources: dict[str, Source], dialect: str = "postgres", *, ambiguous_paths: str = "refuse"):
        self.dialect = sqlexpr.check_dialect(dialect)
        self.sources = dict(sources)
        self.graph = JoinGraph.build(self.sources, self.dialect)
        # "refuse" (default): a path the query and the layer do not settle is an error; "pick": shortest + warning.
        self.ambiguous_paths = ambiguous_paths
        self._tables: dict[str, exp.Expression] = {}
        # Queries compiled by this engine (a process keeps one engine while the layer's files are unchanged, so a
        # server answers a repeated question without compiling it again). Shared by its shallow copies.
        self._compiled: dict[str, CompiledQuery] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_compiled"] = {}  # the on-disk cache holds the layer, not the answers of one process
        return state

    def __copy__(self) -> SemanticEngine:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)  # everything shared, the compiled queries included
        return twin

    def time_spine(self, base: str = "day") -> Source | None:
        """The calendar a measure whose rows are placed in `base` periods reads: of the sources marked
        `time_spine`, the coarsest at `base` or finer (a daily measure reads the daily spine even where an hourly
        one exists, as MetricFlow does), else the finest; then the first by name."""
        spines = [s for s in self.sources.values() if s.time_spine is not None]
        rank = {s.name: GRANULARITIES.index(s.time_spine.granularity) for s in spines}  # type: ignore[union-attr]
        within = [s for s in spines if rank[s.name] <= GRANULARITIES.index(base)]
        if within:
            return min(within, key=lambda s: (-rank[s.name], s.name))
        return min(spines, key=lambda s: (rank[s.name], s.name), default=None)

    def base_grain(self, node: str, column: str | None) -> str:
        """The period a time column's rows are placed in: its `natural_granularity` (an hourly `archived_at`),
        else a day. Finer grains than the layer knows (milliseconds) read as seconds."""
        source = self.sources.get(self.graph.base.get(node, node))
        col = source.column(column) if source is not None and column else None
        natural = (col.natural_granularity or "").lower() if col is not None else ""
        if natural in GRANULARITIES:
            return natural
        return "second" if natural in SUB_SECOND_GRAINS else "day"

    def _time_axis(self, resolved: Resolved) -> list[tuple[str, str]]:
        """(time dimension, grain) to add for the windowed measures asked without theirs (all-time totals excepted):
        the grain of the spine the measure reads."""
        out: list[tuple[str, str]] = []
        for m in resolved.aggregates:
            w = m.window
            if w is None or (w.kind == "cumulative" and not w.window and not w.grain_to_date):
                continue
            if any(d.metric_time or (d.node == m.node and d.column == m.time_column) for d in resolved.dimensions):
                continue
            spine = self.time_spine(self.base_grain(m.node, m.time_column))
            grain = spine.time_spine.granularity if spine is not None and spine.time_spine is not None else "day"
            if (f"{m.node}.{m.time_column}", grain) not in out:
                out.append((f"{m.node}.{m.time_column}", grain))
        return out

    def table_ref(self, node: str) -> exp.Expression:
        """FROM/JOIN item of a graph node: its table (or SQL-source CTE name), aliased to the node name."""
        ref = self._tables.get(node)
        if ref is None:
            source = self.sources[self.graph.base[node]]
            table: str = source.table or ""
            ref = sqltree.table(source.name) if source.sql else exp.to_table(table, dialect=self.dialect)
            if ref.name != node or ref.args.get("db") or ref.args.get("catalog"):
                ref.set("alias", exp.TableAlias(this=exp.to_identifier(node)))
            self._tables[node] = ref
        return sqltree.clone(ref)

    def compile(self, query: Any) -> CompiledQuery:
        parsed = SemanticQuery.parse(query)
        key = _query_key(parsed, self.ambiguous_paths)
        known = self._compiled.get(key)
        if known is None:
            known = remember(self._compiled, key, self._compile(parsed), COMPILED_MEMO_SIZE)
        return copy.deepcopy(known)  # callers may change what they are given

    def _compile(self, parsed: SemanticQuery) -> CompiledQuery:
        resolved = resolve(Resolver(self.sources, self.graph, self.dialect), parsed)
        axis = self._time_axis(resolved)
        if axis:
            # A trailing window or an offset has a value per period only: asked without its time dimension, it is
            # answered per period of the time spine, and the answer says so.
            parsed.dimensions = [*parsed.dimensions, *(DimensionRef(f, g) for f, g in axis)]
            resolved = resolve(Resolver(self.sources, self.graph, self.dialect), parsed)
        builder = _Builder(self, resolved, parsed)
        builder.warnings += [
            f"Answered per {g} of {f}: a measure of this query is a time window, which has a value per period "
            "(add the dimension yourself to choose another grain)."
            for f, g in axis
        ]
        compiled = builder.build()
        # One bad join never takes the connection's layer down: the graph left it out, and every answer says so
        # until it is fixed (a query that needed it finds no path and is refused with that reason).
        compiled.warnings[:0] = [f"Join left out of the layer: {error}" for error in self.graph.errors]
        return compiled


COMPILED_MEMO_SIZE = 512


def _query_key(parsed: SemanticQuery, ambiguous_paths: str) -> str:
    """Every field of the query as asked (the keys given explicitly in order), and the path setting."""
    values = [
        (f.name, sorted(value) if isinstance(value, frozenset) else value)
        for f in dataclasses.fields(parsed)
        for value in (getattr(parsed, f.name),)
    ]
    return repr((values, ambiguous_paths))


@dataclass
class _JoinStep:
    edge: Edge  # oriented from the already-joined side to the new node
    kind: str  # "LEFT" | "FULL" | "INNER"


class _Builder:
    def __init__(self, engine: SemanticEngine, resolved: Resolved, query: SemanticQuery):
        self.engine = engine
        self.graph: JoinGraph = engine.graph
        self.dialect = engine.dialect
        self.r = resolved
        self.asked = list(resolved.dimensions)  # as asked (`metric_time` not yet read per measure source)
        self.query = query
        self.warnings: list[str] = []
        self.sql_sources: list[str] = []
        self.row_flagged: set[str] = set()  # nodes a FULL JOIN may null-extend (see count_rows)
        self.plan: dict[str, Any] = {}

    # ---- helpers -----------------------------------------------------------------------------------------
    def source(self, node: str) -> Source:
        return self.engine.sources[self.graph.base[node]]

    def table(self, node: str) -> exp.Expression:
        source = self.source(node)
        if source.sql and source.name not in self.sql_sources:
            self.sql_sources.append(source.name)
        ref = self.engine.table_ref(node)
        attributed = [d for d in self.r.dimensions if d.attributed is not None and d.node == node]
        if attributed:
            # A conversion by metric_time: each conversion row with the time of the base event it is attributed to.
            inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(node))).from_(ref)
            for dim in {d.column: d for d in attributed}.values():
                inner = inner.select(exp.alias_(dim.attributed.copy(), dim.column))  # type: ignore[union-attr]
                # A row no base event precedes is no conversion (its group holds only this conversion count).
                inner = inner.where(exp.Not(this=exp.Is(this=dim.attributed.copy(), expression=exp.Null())))  # type: ignore[union-attr]
            ref = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(node)))
        custom = [d for d in self.r.dimensions if d.custom is not None and d.node == node]
        if custom:
            ref = self._with_custom_periods(node, ref, custom)
        if node in self.row_flagged:
            # Its rows may be null-extended by a FULL JOIN: carry a flag that is 1 on every real row of it.
            inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(node)))
            inner = inner.select(exp.alias_(exp.Literal.number(1), ROW_MARKER)).from_(ref)
            return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(node)))
        return ref

    def _with_custom_periods(self, node: str, ref: exp.Expression, dims: list[Dimension]) -> exp.Expression:
        """The node's rows, each with its period of every custom granularity the query asks (a LEFT JOIN to the
        time spine on the row's spine period: the spine has one row per period, so no row is repeated or lost),
        read through a subquery named like the node, so everything else reads it unchanged."""
        inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(node))).from_(ref)
        seen: set[str] = set()
        for index, dim in enumerate(dims):
            name = dim.expr.name  # type: ignore[union-attr]
            if name in seen:
                continue
            seen.add(name)
            spine_name, custom_column = dim.custom  # type: ignore[misc]
            spine = self.engine.sources[spine_name]
            assert spine.time_spine is not None
            alias = f"__ktx_calendar_{index}"
            table = self._spine_table(spine_name, spine, alias)
            day = truncate(dim.raw.copy(), spine.time_spine.granularity, self.dialect)  # type: ignore[union-attr]
            on = exp.EQ(this=sqltree.column(spine.time_spine.column, alias), expression=day)
            inner = inner.select(exp.alias_(sqltree.column(custom_column, alias), name))
            inner = inner.join(table, on=on, join_type="LEFT")
        return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(node)))

    def paths(self, start: str, targets: list[str]) -> dict[str, Path]:
        """The join path from `start` to each target; unreachable is an error, and so is a choice between several
        non-fanning paths the query and the layer do not settle (`via`, a `preferred` join) — unless the project
        opted into picking the shortest with a warning."""
        found = self.graph.shortest_paths(start)
        out = {}
        for target in targets:
            if target == start:
                continue
            if target not in found:
                raise CompileError(
                    f"No join path from '{start}' to '{target}'. These sources are not connected in the join graph."
                )
            path = found[target]
            if not path.fans_out:
                path = self._settle(start, target, path)
            out[target] = path
        return out

    def _settle(self, start: str, target: str, shortest: Path) -> Path:
        candidates, complete = self.graph.safe_paths(start, target)
        if len(candidates) <= 1:
            return shortest
        chosen = _choose_path(candidates, self.query.via)
        if chosen is not None:
            return Path(chosen, len(chosen))
        shown = "; ".join(_path_text(start, c) for c in candidates) + ("; …" if not complete else "")
        if self.engine.ambiguous_paths == "pick":
            warning = (
                f"Ambiguous join path from '{start}' to '{target}': {shown}. Using {_path_text(start, shortest.edges)}"
                ' (the project picks the shortest; add "via" to the query to choose).'
            )
            if warning not in self.warnings:
                self.warnings.append(warning)
            return shortest
        between = sorted({e.to for c in candidates for e in c[:-1]} - {start, target})
        raise CompileError(
            f"Ambiguous join path from '{start}' to '{target}': {shown}. The answer depends on the path, so ktx "
            f'will not guess. Choose one: add "via": ["{between[0] if between else target}"] to the query '
            f"(CLI: --via; any of {', '.join(between) or target}), or mark one join `preferred: true` in the "
            'semantic layer (see "When ktx refuses" in docs/semantic-layer.md).'
        )

    @staticmethod
    def tree(paths: dict[str, Path]) -> list[Edge]:
        edges: dict[str, Edge] = {}
        for path in paths.values():
            for edge in path.edges:
                edges.setdefault(edge.to, edge)
        return list(edges.values())

    def join_steps(self, anchor: str, tree: list[Edge], kinds: dict[str, str]) -> list[_JoinStep]:
        """Walk the tree outward from `anchor`, orienting each edge from the joined side."""
        steps, joined, remaining = [], {anchor}, list(tree)
        while remaining:
            for edge in list(remaining):
                oriented = edge if edge.frm in joined else edge.reversed() if edge.to in joined else None
                if oriented is None:
                    continue
                remaining.remove(edge)
                joined.add(oriented.to)
                steps.append(_JoinStep(oriented, kinds.get(oriented.to, "LEFT")))
                break
            else:  # pragma: no cover - a tree is always connected
                raise CompileError("Internal error: join tree is disconnected")
        return steps

    def apply_joins(self, select: exp.Select, steps: list[_JoinStep]) -> None:
        for step in steps:
            sqltree.join(select, self.table(step.edge.to), step.kind, step.edge.condition())

    def record_joins(self, steps: list[_JoinStep], scope: str | None = None) -> None:
        for step in steps:
            edge = step.edge
            pairs = edge.column_pairs()
            entry = {
                "from_source": edge.frm,
                "to_source": edge.to,
                "from_column": ",".join(a for a, _ in pairs),
                "to_column": ",".join(b for _, b in pairs),
                "relationship": edge.relationship,
                "join_type": step.kind,
            }
            if scope:
                entry["cte"] = scope
            self.plan.setdefault("joins", []).append(entry)
            self.plan.setdefault("join_paths", []).append(edge.describe())

    @staticmethod
    def safe_division(formula: exp.Expression) -> exp.Expression:
        """Divisions between measures are real divisions that yield NULL (not an error) for a zero divisor."""
        for div in list(formula.find_all(exp.Div)):
            div.set("typed", False)
            div.set("safe", True)
        return formula

    def measure_sql(self, measure: Measure, ref=None) -> exp.Expression:
        """Full SQL of a measure; `ref(m)` (locality path) returns a CTE column for aggregate leaves."""
        if not measure.derived:
            if ref is not None:
                return ref(measure)
            return _filled(sqlexpr.with_filter(measure.expr.copy(), measure.filter), measure)
        formula = self.safe_division(measure.expr.copy())
        return self.substitute(formula, measure.placeholders, ref)

    def substitute(self, formula: exp.Expression, placeholders: dict[str, Measure], ref=None) -> exp.Expression:
        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and not node.table and node.name in placeholders:
                value = self.measure_sql(placeholders[node.name], ref)
                return exp.Paren(this=value) if isinstance(value, exp.Binary | exp.Unary) else value
            return node

        return formula.transform(swap, copy=False)

    def ordered(self, select: exp.Select, dims: list[Dimension], measures: list[Measure]) -> None:
        sqltree.order_by(select, self.order_by(dims, measures))

    def order_by(self, dims: list[Dimension], measures: list[Measure]) -> list[exp.Ordered]:
        if not self.query.order_by:
            return [exp.Ordered(this=sqltree.column(d.alias), nulls_first=False) for d in dims]
        out = []
        for raw in self.query.order_by:
            spec = raw if isinstance(raw, OrderBy) else OrderBy(field=raw)
            text, target = spec.field.strip().lower(), None
            for m in measures:
                keys = {m.name.lower(), m.original.lower(), (m.qualified_ref or "").lower(), m.expr.sql().lower()}
                if text in keys:
                    target = m.name
                    break
            for d in dims if target is None else []:
                if text in {d.alias.lower(), d.field.lower(), d.column.lower()}:
                    target = d.alias
                    break
            if target is None:
                raise CompileError(
                    f"ORDER BY field '{spec.field}' is not a recognized measure or dimension in this query"
                )
            out.append(exp.Ordered(this=sqltree.column(target), desc=spec.direction == "desc", nulls_first=False))
        return out

    def count_rows(self, tree: exp.Expression) -> None:
        """`count(*)` markers become `COUNT(*)` (`1` inside a filter's CASE) — every FROM row is a row of the
        node — except for a node whose rows a FULL JOIN may null-extend, which counts its row flag."""
        for column in list(tree.find_all(exp.Column)):
            if column.name == ROW_MARKER and column.table not in self.row_flagged:
                column.replace(exp.Star() if isinstance(column.parent, exp.Count) else exp.Literal.number(1))

    def finish(self, select: exp.Select, ctes: list[tuple[str, exp.Expression]]) -> str:
        self.count_rows(select)
        for _, body in ctes:
            self.count_rows(body)
        sqltree.with_ctes(select, self.source_ctes() + ctes)
        sqltree.limit(select, self.query.limit)
        sqlexpr.quote_identifiers(select)
        return select.sql(dialect=self.dialect, pretty=True, copy=False)

    def source_ctes(self) -> list[tuple[str, exp.Expression]]:
        """SQL sources become leading CTEs; their own WITH clauses are hoisted as `<source>__<cte>`."""
        out: list[tuple[str, exp.Expression]] = []
        for name in self.sql_sources:
            body = sqlexpr.parse(
                self.engine.sources[name].sql or "", self.dialect, what=f"SQL of source '{name}'", query=True
            )
            inner = body.args.get("with_")
            if inner is not None:
                body.set("with_", None)
                renames = {cte.alias: f"{name}__{cte.alias}" for cte in inner.expressions}
                for cte in inner.expressions:
                    cte_body = cte.this.copy()
                    _rename_tables(cte_body, renames)
                    out.append((renames[cte.alias], cte_body))
                _rename_tables(body, renames)
            out.append((name, body))
        return out

    # ---- shapes ------------------------------------------------------------------------------------------
    def build(self) -> CompiledQuery:
        r = self.r
        if not r.dimensions and not r.measures:
            raise CompileError("Query does not reference any sources")
        for m in r.aggregates:
            if m.window is not None and m.window.kind == "cumulative" and not self._time_dimension(m):
                # Without its time dimension a running total has no periods: it is the aggregate of all rows.
                self.warnings.append(
                    f"Measure '{m.name}' is {_window_text(m.window)}; without {m.node}.{m.time_column} among the "
                    "dimensions it aggregates all rows."
                )
                m.window = None
        groups: list[str] = []
        for m in r.aggregates:
            if m.group not in groups:
                groups.append(m.group)  # type: ignore[arg-type]
        if len(groups) == 1:
            r.dimensions = self._concrete(groups[0])  # metric_time: the one measure source's time column
        if not groups:
            sql = self.dimension_only()
        elif len(groups) == 1 and WINDOW_MARK not in groups[0] and not self._spine_filled():
            sql = self.single(groups[0])
        else:
            sql = self.locality(groups)
        r.dimensions = self.asked
        columns = [
            {
                "name": d.alias,
                "kind": "dimension",
                "field": d.field,
                "granularity": d.granularity,
                "provenance": "dimension",
                "description": d.description,
            }
            for d in r.dimensions
        ]
        columns += [
            {
                "name": m.name,
                "kind": "measure",
                "field": m.qualified_ref or m.original,
                "provenance": m.provenance,
                "description": m.description,
            }
            for m in r.measures
        ]
        nodes = {d.node for d in r.dimensions if not d.metric_time} | {n for m in r.aggregates for n in m.nodes}
        nodes |= {n for _, ns, _ in r.where for n in ns}
        nodes |= {j["to_source"] for j in self.plan.get("joins", [])} | {
            j["from_source"] for j in self.plan.get("joins", [])
        }
        self.plan.update(
            {
                "sources_used": sorted(nodes),
                "dimensions": [
                    {"field": d.field, "alias": d.alias, "granularity": d.granularity} for d in r.dimensions
                ],
                "measures": [_measure_json(m) for m in r.measures],
                "where_filters": [text for _, _, text in r.where],
                "having_filters": [text for _, _, text in r.having],
                "order_by": [o if isinstance(o, str) else o.to_json() for o in self.query.order_by],
                "limit": self.query.limit,
                "include_empty": self.query.include_empty,
            }
        )
        self.plan.setdefault("joins", [])
        self.plan.setdefault("join_paths", [])
        ordered = {k: self.plan[k] for k in _PLAN_ORDER if k in self.plan}
        return CompiledQuery(sql, self.dialect, columns, ordered, self.warnings)

    @staticmethod
    def where_clause(select: exp.Select, clauses: list[exp.Expression]) -> None:
        sqltree.where(select, sqlexpr.conjunction(clauses))

    @staticmethod
    def dimension_columns(dims: list[Dimension]) -> list[exp.Expression]:
        return [sqltree.alias(d.expr.copy(), d.alias) for d in dims]

    def dimension_only(self) -> str:
        r = self.r
        anchor = r.dimensions[0].node
        targets = sorted({d.node for d in r.dimensions} | {n for _, ns, _ in r.where for n in ns})
        paths = self.paths(anchor, targets)
        steps = self.join_steps(anchor, self.tree(paths), {})
        select = sqltree.select(self.dimension_columns(r.dimensions), self.table(anchor), distinct=True)
        self.apply_joins(select, steps)
        self.where_clause(select, [c for c, _, _ in r.where])
        self.ordered(select, r.dimensions, [])
        self.record_joins(steps)
        self.plan.update(
            {
                "anchor_source": anchor,
                "anchor_grain": [d.field for d in r.dimensions],
                "fan_out_description": "No fanout",
                "has_fan_out": False,
                "measure_groups": [],
                "aggregate_locality": [],
            }
        )
        return self.finish(select, [])

    def single(self, fact: str) -> str:
        r = self.r
        dim_nodes = [d.node for d in r.dimensions]
        where_nodes = {n for _, ns, _ in r.where for n in ns}
        measure_nodes = {n for m in r.aggregates for n in m.nodes}
        targets = sorted(set(dim_nodes) | where_nodes | measure_nodes)
        paths = self.paths(fact, targets)
        for target in targets:
            path = paths.get(target)
            if path is None or not path.fans_out:
                continue
            hop = next(e for e in path.edges if e.fans_out)
            if target in dim_nodes:
                field_ = next(d.field for d in r.dimensions if d.node == target)
                raise CompileError(
                    f"Dimension '{field_}' is reached from measure source '{fact}' through a one_to_many join "
                    f"({hop.frm} → {hop.to}), which would count '{fact}' rows more than once (fanout). Group by a "
                    f"dimension '{fact}' reaches through many_to_one joins, or use a measure defined on '{target}'."
                )
            raise CompileError(
                f"Filter on '{target}' requires a one_to_many join from measure source '{fact}' "
                f"({hop.frm} → {hop.to}), which would cause incorrect aggregation (fanout). Filter on a source "
                f"'{fact}' reaches through many_to_one joins instead."
            )
        tree = self.tree(paths)
        anchor, kinds = fact, {}
        first_dim = dim_nodes[0] if dim_nodes else None
        if self.query.include_empty and first_dim and first_dim != fact:
            if self.dialect in NO_FULL_JOIN:
                if "include_empty" in self.query.given:
                    self.warnings.append(
                        f"include_empty is not supported on {self.dialect} (no FULL JOIN): '{first_dim}' members "
                        f"without '{fact}' rows are omitted."
                    )
            else:
                # Keep dimension members without facts *and* facts whose keys match no member.
                anchor = first_dim
                if any(c.name == ROW_MARKER for m in (*r.measures, *r.aggregates) for c in m.expr.find_all(exp.Column)):
                    self.row_flagged.add(fact)  # its count(*) must not count the rows the FULL JOIN adds
                kinds = {e.to: "FULL" for e in paths[first_dim].edges}
                kinds |= {e.frm: "FULL" for e in paths[first_dim].edges}
                kinds.pop(first_dim, None)
        steps = self.join_steps(anchor, tree, kinds)
        projections = self.dimension_columns(r.dimensions)
        projections += [sqltree.alias(self.measure_sql(m), m.name) for m in r.measures]
        select = sqltree.select(projections, self.table(anchor))
        self.apply_joins(select, steps)
        self.where_clause(select, [c for c, _, _ in r.where])
        if r.measures:
            sqltree.group_by(select, [d.expr.copy() for d in r.dimensions])
        having = [self.substitute(self.safe_division(f.copy()), ph) for f, ph, _ in r.having]
        having += self._rows_passing_filters()
        sqltree.having(select, sqltree.conjunction(having))
        self.ordered(select, r.dimensions, r.measures)
        self.record_joins(steps)
        self.plan.update(
            {
                "anchor_source": anchor,
                "anchor_grain": [d.field for d in r.dimensions],
                "fan_out_description": "No fanout",
                "has_fan_out": False,
                "measure_groups": [
                    {
                        "source_name": fact,
                        "measures": [m.name for m in r.aggregates],
                        "join_path_to_dims": [p.edges[-1].describe() for p in paths.values() if p.edges],
                    }
                ],
                "aggregate_locality": [],
            }
        )
        return self.finish(select, [])

    def _rows_passing_filters(self) -> list[exp.Expression]:
        """Without empty members a group is kept when it has data for the query's measures. When every measure
        filters its rows and none says anything but NULL over no rows (a count says 0: its group stays), a group
        none of whose rows passes a filter has no data: `HAVING COUNT(CASE WHEN f1 OR f2 THEN 1 END) > 0`.
        Without dimensions there is one group, the total, and it is always answered (NULL when nothing passes, as
        an aggregate over no rows and MetricFlow both say)."""
        aggregates = self.r.aggregates
        if self.query.include_empty or not aggregates or any(m.filter is None for m in aggregates):
            return []
        if not self.r.dimensions:
            return []
        if any(sqlexpr.over_no_rows(m.expr) is not None for m in aggregates):
            return []
        filters = list({m.filter.sql(): m.filter for m in aggregates if m.filter is not None}.values())
        passing = filters[0].copy() if len(filters) == 1 else exp.or_(*(exp.Paren(this=f.copy()) for f in filters))
        rows = exp.Count(this=exp.Case(ifs=[exp.If(this=passing, true=exp.Literal.number(1))]))
        return [exp.GT(this=rows, expression=exp.Literal.number(0))]

    def locality(self, groups: list[str]) -> str:
        """Several measure sources: pre-aggregate each in its own CTE, then join the CTEs on the dimension keys."""
        reach = {g: self.graph.shortest_paths(_node_of(g), safe_only=True) for g in groups}
        self._check_dimension_reach(groups, reach)
        clause_groups = self._filter_groups(groups, reach)
        taken = set(self.engine.sources) | set(self.graph.base)
        cte_names, ctes, group_measures, column_names = self._group_ctes(groups, reach, clause_groups, taken)

        def ref(m: Measure, coalesce: bool) -> exp.Expression:
            column = sqltree.column(column_names[id(m)], cte_names[m.group])  # type: ignore[index]
            # Inside a formula across groups, a group without rows in this measure's source gives what the measure
            # says over no rows — a count 0, a sum or an average NULL — as it would computed alone.
            empty = sqlexpr.over_no_rows(m.expr) if coalesce and not m.conversion else None
            if m.fill is not None:  # fill_nulls_with: what the measure answers instead of NULL, wherever it is read
                return _filled(column, m)
            return column if empty is None else exp.Coalesce(this=column, expressions=[empty])

        select, key_source = self._combine_groups(groups, cte_names, ctes, taken)
        for m in self.r.measures:
            spans = len({leaf.node for leaf in m.leaves()}) > 1
            select.append("expressions", sqltree.alias(self.measure_sql(m, lambda leaf, c=spans: ref(leaf, c)), m.name))
        outer_where = [
            self.substitute(self.safe_division(f.copy()), ph, lambda leaf: ref(leaf, True))
            for f, ph, _ in self.r.having
        ]
        sqltree.where(select, sqltree.conjunction(outer_where))
        self.ordered(select, self.r.dimensions, self.r.measures)
        self._locality_plan(groups, cte_names, group_measures, key_source)
        return self.finish(select, ctes)

    def _check_dimension_reach(self, groups: list[str], reach: dict[str, dict[str, Any]]) -> None:
        """Every dimension must be reachable, without fanning out, from every measure source."""
        dims = [d for d in self.r.dimensions if not d.metric_time]  # every source has its own
        for dim in dims:
            reached_by = [g for g in groups if dim.node in reach[g]]
            if not reached_by:
                raise CompileError(
                    f"Aggregate locality cannot safely reach '{dim.node}' from any measure source "
                    f"({_sources_text(groups)}) without traversing one_to_many edges"
                )
            if len(reached_by) < len(groups):
                missing = [g for g in groups if g not in reached_by]
                shared = [d.field for d in dims if all(d.node in reach[g] for g in groups)]
                raise CompileError(
                    f"Asymmetric dimension grain in chasm trap: '{_node_of(reached_by[0])}' groups by "
                    f"['{dim.field}'] but '{_node_of(missing[0])}' cannot reach ['{dim.field}']. FULL JOIN on shared "
                    f"dimensions ({shared}) would fan out '{_node_of(missing[0])}' measures. Remove '{dim.field}' or "
                    "query the measures separately."
                )

    def _filter_groups(self, groups: list[str], reach: dict[str, dict[str, Any]]) -> list[list[str]]:
        """For each WHERE clause, the measure sources it can narrow (a clause none can reach is an error)."""
        clause_groups: list[list[str]] = []
        for _clause, nodes, text in self.r.where:
            applies = [g for g in groups if all(n in reach[g] for n in nodes)]
            if not applies:
                raise CompileError(
                    f"Filter on '{', '.join(sorted(nodes))}' is not reachable via many_to_one/one_to_one edges from "
                    f"any measure source ({_sources_text(groups)}). The filter would be silently dropped; remove it or "
                    "add a measure on a source that reaches it."
                )
            if len(applies) < len(groups):
                self.warnings.append(f"Filter '{text}' narrows only measures of {', '.join(applies)}.")
            clause_groups.append(applies)
        return clause_groups

    def _group_ctes(
        self, groups: list[str], reach: dict[str, dict[str, Any]], clause_groups: list[list[str]], taken: set[str]
    ) -> tuple[dict[str, str], list[tuple[str, exp.Expression]], dict[str, list[Measure]], dict[int, str]]:
        """One grouped CTE per measure source, joined only along many-to-one paths from it."""
        r = self.r
        cte_names: dict[str, str] = {}
        ctes: list[tuple[str, exp.Expression]] = []
        group_measures: dict[str, list[Measure]] = {g: [m for m in r.aggregates if m.group == g] for g in groups}
        column_names: dict[int, str] = {}
        for g in groups:
            r.dimensions = self._concrete(g)
            node = _node_of(g)
            window = group_measures[g][0].window
            non_additive = group_measures[g][0].non_additive
            label = window.kind if window else "non_additive" if non_additive else "time" if WINDOW_MARK in g else None
            name = _free_name(f"{node}_{label}_agg" if label else f"{g}_agg", taken)
            cte_names[g] = name
            for index, m in enumerate(group_measures[g]):
                column_names[id(m)] = m.name if m.output else f"_{m.name}_{index}"
            applying = [(c, ns) for (c, ns, _), applies in zip(r.where, clause_groups, strict=True) if g in applies]
            needed = {d.node for d in r.dimensions} | {n for m in group_measures[g] for n in m.nodes}
            needed |= {n for _, ns in applying for n in ns}
            paths = {t: reach[g][t] for t in sorted(needed) if t != node}
            steps = self.join_steps(node, self.tree(paths), {})
            measures = [
                sqltree.alias(sqlexpr.with_filter(m.expr.copy(), m.filter), column_names[id(m)])
                for m in group_measures[g]
            ]
            extra: list[exp.Expression] = []
            rollup = None
            if window is not None:
                body, rollup = self._window_body(node, group_measures[g][0], measures)
            elif non_additive is not None:
                clauses = [c.copy() for c, _ in applying]
                body, on_edge = self._non_additive_body(node, group_measures[g][0], measures, steps, clauses)
                extra.append(on_edge)
            else:
                body = sqltree.select(self.dimension_columns(r.dimensions) + measures, self.table(node))
                sqltree.group_by(body, [d.expr.copy() for d in r.dimensions])
            self.apply_joins(body, steps)
            self.where_clause(body, [c for c, _ in applying] + extra)
            if rollup is not None:
                body = self._rolled_up(body, rollup, [column_names[id(m)] for m in group_measures[g]])
            ctes.append((name, body))
            self.record_joins(steps, name)
        r.dimensions = self.asked
        return cte_names, ctes, group_measures, column_names

    def _window_body(
        self, node: str, measure: Measure, measures: list[exp.Expression]
    ) -> tuple[exp.Select, tuple[Dimension, str, str] | None]:
        """A cumulative or offset group: each period of the time spine (at the query's grain of the measure's time
        dimension) joined to the rows the window gives it, then grouped by period and the other dimensions."""
        window = measure.window
        assert window is not None and measure.time_column is not None
        time_dims = self._time_dimension(measure)
        if not time_dims:
            raise CompileError(
                f"Measure '{measure.name}' is {_window_text(window)} over {node}.{measure.time_column}: group the "
                f"query by {node}.{measure.time_column} (with a granularity) to say which periods to answer."
            )
        time_dim = time_dims[0]
        period = sqltree.column("period", "__ktx_spine")
        rollup = None
        calendar_unit = custom_unit(window.window) if window.kind == "offset" else None
        if calendar_unit is not None:
            spine_name, periods, conditions = self._custom_offset(measure, time_dim, calendar_unit)
        else:
            spine_name, spine = self._time_spine(measure)
            self._refuse_custom(measure, time_dim, _window_text(window))
            spine_grain = spine.time_spine.granularity  # type: ignore[union-attr]
            grain = time_dim.granularity or spine_grain
            self._check_window_grains(measure, spine_name, spine_grain, grain)
            if window.kind == "cumulative" and grain != spine_grain:
                # Answered per spine period, then each coarser period takes its first or last day's value or their
                # average (MetricFlow's period_agg).
                rollup = (time_dim, grain, window.period_agg)
                time_dim = replace(
                    time_dim, expr=truncate(time_dim.raw.copy(), spine_grain, self.dialect), granularity=spine_grain
                )  # type: ignore[union-attr]
            period_expr = self._over_spine(measure, time_dim, spine, f"has a window over {node}.{measure.time_column}")
            spine_ref = self._spine_table(spine_name, spine, "__ktx_spine_rows")
            periods = exp.select(exp.alias_(period_expr, "period")).from_(spine_ref).distinct()
            row_period = time_dim.expr.copy()
            if time_dim.granularity is None:
                # Asked without a grain, the periods are the spine's: a row at 14:30 belongs to its day.
                row_period = truncate(row_period, grain, self.dialect)
            if window.kind == "cumulative":
                # As of each period, or as of an earlier day: `offset` before it, or the start of its `offset_to_grain`.
                asof: exp.Expression = period
                if window.offset:
                    count, unit = parse_window(window.offset)
                    asof = shift_back(period, count, unit, self.dialect)
                elif window.offset_to_grain:
                    asof = truncate(period, window.offset_to_grain, self.dialect)
                conditions = [exp.LTE(this=row_period.copy(), expression=asof.copy())]
                if window.window:
                    count, unit = parse_window(window.window)
                    start = shift_back(asof, count, unit, self.dialect)
                    conditions.append(exp.GT(this=row_period.copy(), expression=start))
                elif window.grain_to_date:
                    start = truncate(asof, window.grain_to_date, self.dialect)
                    conditions.append(exp.GTE(this=row_period.copy(), expression=start))
                # else: all time up to each period, to the spine's last period (MetricFlow's reading)
            elif grain != spine_grain and _offset_finer_than(window, grain):
                periods, conditions = self._offset_by_spine_period(measure, time_dim, spine, spine_ref, period_expr)
            elif window.window:
                count, unit = parse_window(window.window)
                conditions = [exp.EQ(this=row_period.copy(), expression=shift_back(period, count, unit, self.dialect))]
            else:
                start = truncate(period, window.grain_to_date or "day", self.dialect)
                conditions = [exp.EQ(this=row_period.copy(), expression=start)]
        asked = rollup[0] if rollup else time_dim
        projections = [
            sqltree.alias(period.copy() if d is asked else d.expr.copy(), d.alias) for d in self.r.dimensions
        ]
        source = exp.Subquery(this=periods, alias=exp.TableAlias(this=exp.to_identifier("__ktx_spine")))
        body = sqltree.select(projections + measures, source)
        sqltree.join(body, self.table(node), "INNER", sqltree.all_of(conditions))
        sqltree.group_by(body, [period.copy() if d is asked else d.expr.copy() for d in self.r.dimensions])
        self.plan.setdefault("time_spine", spine_name)
        return body, rollup

    def _custom_offset(
        self, measure: Measure, time_dim: Dimension, unit: str
    ) -> tuple[str, exp.Select, list[exp.Expression]]:
        """An offset by periods of the project's own calendar (`1 fiscal_quarter`), as MetricFlow reads it: each
        spine day is moved to the day at the same position (its row number) in the period `count` periods later —
        not past that period's last day — and its rows count there; asked by that calendar period itself, a
        period's value is the one `count` periods before. (spine name, periods with `base`, join conditions)."""
        window = measure.window
        assert window is not None and window.window is not None
        count, _ = parse_window(window.window, custom=True)
        found = custom_granularities(self.engine.sources.values()).get(unit)
        if found is None:
            raise CompileError(
                f"Measure '{measure.name}' is offset by {window.window}, and no time spine of the layer has the "
                f"custom granularity {unit} (`custom_granularities` on a `time_spine`)."
            )
        spine, custom = found
        assert spine.time_spine is not None
        grain, asked = spine.time_spine.granularity, time_dim.granularity
        if time_dim.custom is not None and asked != unit:
            self._refuse_custom(measure, time_dim, f"offset by {window.window}")
        if time_dim.custom is None and asked and GRANULARITIES.index(asked) < GRANULARITIES.index(grain):
            raise CompileError(
                f"Measure '{measure.name}' is offset by {window.window} over the {grain}s of {spine.name}: ask by "
                f"{grain} or coarser."
            )

        def days() -> exp.Expression:
            rows = "__ktx_spine_rows"
            day = sqltree.column(spine.time_spine.column, rows)  # type: ignore[union-attr]
            period = sqltree.column(custom.source_column, rows)
            number = exp.Window(this=exp.RowNumber(), partition_by=[period.copy()], order=exp.Order(expressions=[
                exp.Ordered(this=day.copy())]))  # fmt: skip
            select = exp.select(exp.alias_(day, "day"), exp.alias_(period, "cp"), exp.alias_(number, "rn"))
            return select.from_(self._spine_table(spine.name, spine, rows))

        def lead(value: exp.Expression) -> exp.Expression:
            ordered = exp.Order(expressions=[exp.Ordered(this=sqltree.column("cp"))])
            call = exp.Anonymous(this="LEAD", expressions=[value, exp.Literal.number(count)])
            return exp.Window(this=call, order=ordered)

        bounds = exp.select(
            sqltree.column("cp"),
            exp.alias_(lead(exp.Min(this=sqltree.column("day"))), "first_next"),
            exp.alias_(lead(exp.Max(this=sqltree.column("day"))), "last_next"),
            exp.alias_(lead(sqltree.column("cp")), "cp_next"),
        ).from_(exp.Subquery(this=days(), alias=exp.TableAlias(this=exp.to_identifier("__ktx_days"))))
        bounds = bounds.group_by(sqltree.column("cp"))
        d, b = "__ktx_day", "__ktx_next"
        base = exp.select(exp.alias_(sqltree.column("day", d), "base"))
        base = base.from_(exp.Subquery(this=days(), alias=exp.TableAlias(this=exp.to_identifier(d))))
        base = base.join(
            exp.Subquery(this=bounds, alias=exp.TableAlias(this=exp.to_identifier(b))),
            on=exp.EQ(this=sqltree.column("cp", b), expression=sqltree.column("cp", d)),
            join_type="INNER",
        )
        if asked == unit:
            periods = base.select(exp.alias_(sqltree.column("cp_next", b), "period"))
            periods = periods.where(exp.Not(this=exp.Is(this=sqltree.column("cp_next", b), expression=exp.Null())))
        else:
            one = exp.Literal.number(1)
            target = exp.DateAdd(
                this=sqltree.column("first_next", b),
                expression=exp.Sub(this=sqltree.column("rn", d), expression=one),
                unit=exp.var(grain.upper()),
            )
            periods = base.select(exp.alias_(truncate(target.copy(), asked or grain, self.dialect), "period"))
            periods = periods.where(exp.LTE(this=target, expression=sqltree.column("last_next", b)))
        row = truncate(time_dim.raw.copy(), grain, self.dialect)  # type: ignore[union-attr]
        return spine.name, periods, [exp.EQ(this=row, expression=sqltree.column("base", "__ktx_spine"))]

    def _offset_by_spine_period(
        self, measure: Measure, time_dim: Dimension, spine: Any, spine_ref: exp.Expression, period_expr: exp.Expression
    ) -> tuple[exp.Select, list[exp.Expression]]:
        """An offset in units finer than the asked grain, as MetricFlow reads it: each spine period (a day) takes the
        rows `window` before it, and the asked period (a month) aggregates what its days took — a month's value 14
        days earlier is the rows of its days shifted 14 days back. At the start of a `grain_to_date` (a
        month's start asked by week), only the first spine period of each asked period counts: the week's value is
        its Monday's month start's."""
        window = measure.window
        assert window is not None and spine.time_spine is not None
        spine_grain = spine.time_spine.granularity
        base_column = sqltree.column(spine.time_spine.column, "__ktx_spine_rows")
        periods = exp.select(exp.alias_(period_expr, "period"), exp.alias_(base_column.copy(), "base")).from_(spine_ref)
        base = sqltree.column("base", "__ktx_spine")
        if window.grain_to_date:
            # The first spine period of its asked period: the one before it is in another (type-safe in every
            # dialect, unlike comparing a truncated value with the spine's column).
            earlier = shift_back(base_column.copy(), 1, spine_grain, self.dialect)
            first = exp.NEQ(
                this=truncate(earlier, time_dim.granularity, self.dialect),  # type: ignore[arg-type]
                expression=truncate(base_column.copy(), time_dim.granularity, self.dialect),  # type: ignore[arg-type]
            )
            periods = periods.where(first)
            target = truncate(base, window.grain_to_date, self.dialect)
        else:
            count, unit = parse_window(window.window)  # type: ignore[arg-type]
            target = shift_back(base, count, unit, self.dialect)
        row_base = truncate(time_dim.raw.copy(), spine_grain, self.dialect)  # type: ignore[union-attr]
        return periods, [exp.EQ(this=row_base, expression=target)]

    @staticmethod
    def _refuse_custom(measure: Measure, time_dim: Dimension, what: str) -> None:
        if time_dim.custom is not None:
            raise CompileError(
                f"Measure '{measure.name}' is {what}; by a custom granularity ({time_dim.granularity}) it is not "
                "answered yet: ask by second, minute, hour, day, week, month, quarter or year."
            )

    def _check_window_grains(self, measure: Measure, spine_name: str, spine_grain: str, asked: str) -> None:
        """A window counted in units finer than the spine's periods, or asked by a finer grain, would match no row
        (an hour earlier than a day is no day): refused, saying which spine it needs."""
        window = measure.window
        assert window is not None
        spans = [w for w in (window.window, window.offset) if w]
        units = [parse_window(w)[1] for w in spans] + [g for g in (window.grain_to_date, window.offset_to_grain) if g]
        finer = [u for u in [*units, asked] if GRANULARITIES.index(u) < GRANULARITIES.index(spine_grain)]
        if finer:
            raise CompileError(
                f"Measure '{measure.name}' is {_window_text(window)}, in {finer[0]}s, and the time spine it reads "
                f"({spine_name}) has one row per {spine_grain}: mark a calendar with one row per {finer[0]} as a "
                f"`time_spine` (granularity: {finer[0]}), or ask by {spine_grain} or coarser."
            )

    def _rolled_up(self, daily: exp.Select, rollup: tuple[Dimension, str, str], columns: list[str]) -> exp.Select:
        """A cumulative group answered per spine day, read per coarser period: each period's first or last day's
        value (the day picked by a window function over the period and the other dimensions), or their average."""
        time_dim, grain, agg = rollup
        days, rows = "__ktx_daily", "__ktx_days"
        day = sqltree.column(time_dim.alias, days)
        others = [d.alias for d in self.r.dimensions if d is not time_dim]
        source = exp.Subquery(this=daily, alias=exp.TableAlias(this=exp.to_identifier(days)))
        if agg == "average":
            coarse = truncate(day, grain, self.dialect)
            select = sqltree.select(
                [sqltree.alias(coarse.copy(), time_dim.alias)]
                + [sqltree.alias(sqltree.column(a, days), a) for a in others]
                + [sqltree.alias(exp.Avg(this=sqltree.column(c, days)), c) for c in columns],
                source,
            )
            sqltree.group_by(select, [coarse.copy(), *[sqltree.column(a, days) for a in others]])
            return select
        partition = [truncate(day.copy(), grain, self.dialect), *[sqltree.column(a, days) for a in others]]
        pick = exp.Min(this=day.copy()) if agg == "first" else exp.Max(this=day.copy())
        inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(days)))
        inner = inner.select(exp.alias_(exp.Window(this=pick, partition_by=partition), "__ktx_edge")).from_(source)
        picked = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(rows)))
        coarse = truncate(sqltree.column(time_dim.alias, rows), grain, self.dialect)
        select = sqltree.select(
            [sqltree.alias(coarse.copy(), time_dim.alias)]
            + [sqltree.alias(sqltree.column(a, rows), a) for a in others]
            + [sqltree.alias(exp.Max(this=sqltree.column(c, rows)), c) for c in columns],
            picked,
        )
        self.where_clause(
            select, [exp.EQ(this=sqltree.column(time_dim.alias, rows), expression=sqltree.column("__ktx_edge", rows))]
        )
        sqltree.group_by(select, [coarse.copy(), *[sqltree.column(a, rows) for a in others]])
        return select

    def _non_additive_body(
        self,
        node: str,
        measure: Measure,
        measures: list[exp.Expression],
        steps: list[_JoinStep],
        clauses: list[exp.Expression],
    ) -> tuple[exp.Select, exp.Expression]:
        """A semi-additive group: the node's rows, each knowing the first/last day of its group (the query's
        dimensions and the measure's `per` columns), then only the rows on that day aggregated. The rows are read
        through a window function in a subquery named like the node, so the group's joins apply to it unchanged."""
        rule = measure.non_additive
        assert rule is not None
        day = truncate(sqltree.column(rule.column, node), "day", self.dialect)
        partition = [d.expr.copy() for d in self.r.dimensions] + [sqltree.column(c, node) for c in rule.per]
        edge_fn = exp.Min(this=day.copy()) if rule.choose == "min" else exp.Max(this=day.copy())
        edge = exp.Window(this=edge_fn, partition_by=partition)
        inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(node)))
        inner = inner.select(exp.alias_(edge, "__ktx_edge")).from_(self.table(node))
        self.apply_joins(inner, steps)
        self.where_clause(inner, clauses)  # the first/last day among the rows the query keeps
        rows = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(node)))
        body = sqltree.select(self.dimension_columns(self.r.dimensions) + measures, rows)
        sqltree.group_by(body, [d.expr.copy() for d in self.r.dimensions])
        return body, exp.EQ(this=day, expression=sqltree.column("__ktx_edge", node))

    def _spine_filled(self) -> tuple[Measure, Dimension] | None:
        """The measure joined to the time spine whose time dimension the query groups by (MetricFlow's
        join_to_timespine applies only then), with that dimension."""
        for m in self.r.aggregates:
            if m.spine_filled and self._time_dimension(m):
                return m, self._time_dimension(m)[0]
        return None

    def _spine_periods(self, measure: Measure, time_dim: Dimension, alias: str) -> exp.Select:
        """`SELECT DISTINCT <the time dimension read from the spine> AS alias FROM spine`: every period of the
        spine at the dimension's grain; the query's filters on that time column narrow the spine's days too."""
        self._refuse_custom(measure, time_dim, "joined to the time spine")
        spine_name, spine = self._time_spine(measure)
        spine_grain = spine.time_spine.granularity
        asked = time_dim.granularity
        if asked is not None and GRANULARITIES.index(asked) < GRANULARITIES.index(spine_grain):
            raise CompileError(
                f"Measure '{measure.name}' is joined to the time spine, whose periods are {spine_grain}s: asked by "
                f"{asked} it would leave out every {asked} without rows but the first of each {spine_grain}. Ask by "
                f"{spine_grain} or coarser."
            )
        spine_column = sqltree.column(spine.time_spine.column, "__ktx_spine_rows")
        node = measure.node
        period_expr = self._over_spine(
            measure, time_dim, spine, f"is joined to the time spine over {node}.{measure.time_column}"
        )
        select = exp.select(exp.alias_(period_expr, alias)).from_(
            self._spine_table(spine_name, spine, "__ktx_spine_rows")
        )
        on_time = []
        for clause in self._time_filters(measure):
            narrowed = clause.copy()
            for column in list(narrowed.find_all(exp.Column)):
                column.replace(spine_column.copy())
            on_time.append(narrowed)
        self.where_clause(select, on_time)
        self.plan.setdefault("time_spine", spine_name)
        return select.distinct()

    @staticmethod
    def _over_spine(measure: Measure, time_dim: Dimension, spine: Any, what: str) -> exp.Expression:
        """The time dimension's expression read from the spine (alias `__ktx_spine_rows`): its one stored column
        (a computed `ds` over `created_at` included) replaced by the spine's column."""
        spine_column = sqltree.column(spine.time_spine.column, "__ktx_spine_rows")
        period_expr = time_dim.expr.copy()
        node = measure.node
        stored = {c.name for c in period_expr.find_all(exp.Column) if c.table == node}
        if len(stored) != 1 or any(c.table != node for c in period_expr.find_all(exp.Column)):
            raise CompileError(
                f"Measure '{measure.name}' {what}, whose expression does not read exactly one stored column: the "
                "time spine cannot stand in for it."
            )
        for column in list(period_expr.find_all(exp.Column)):
            column.replace(spine_column.copy())
        if isinstance(period_expr, exp.Column):  # the bare spine column (no granularity asked)
            period_expr = spine_column.copy()
        return period_expr

    def _time_filters(self, measure: Measure) -> list[exp.Expression]:
        """The query's filters and the measure's own that read only its time column: MetricFlow applies filters on
        metric_time after the join to the spine, so they bound the periods answered too."""
        own = list(measure.filter.flatten()) if isinstance(measure.filter, exp.And) else [measure.filter]
        candidates = [clause for clause, _, _ in self.r.where] + [c for c in own if c is not None]
        out = []
        for clause in candidates:
            columns = list(clause.find_all(exp.Column))
            if columns and all(c.table == measure.node and c.name == measure.time_column for c in columns):
                out.append(clause)
        return out

    def _on_periods(self, clause: exp.Expression, time_dim: Dimension, table: str) -> exp.Expression | None:
        """A time filter read on the answered periods (`date_trunc('day', ds) <= x` on `ds_day`), or None when it
        reads the column at another grain than the query's periods."""
        target = time_dim.expr.sql(dialect=self.dialect)

        def swap(node: exp.Expression) -> exp.Expression:
            same = isinstance(node, exp.Func | exp.Column) and node.sql(dialect=self.dialect) == target
            return sqltree.column(time_dim.alias, table) if same else node

        moved = clause.copy().transform(swap)
        return None if any(c.table != table for c in moved.find_all(exp.Column)) else moved

    def _keys_with_spine(self, filled: tuple[Measure, Dimension], aliases: list[str], data_name: str) -> exp.Expression:
        """The data's dimension keys, plus each spine period no key has (its other dimensions NULL): MetricFlow's
        LEFT JOIN of the time spine to the measure."""
        measure, time_dim = filled
        periods = exp.Subquery(
            this=self._spine_periods(measure, time_dim, time_dim.alias),
            alias=exp.TableAlias(this=exp.to_identifier("__ktx_spine")),
        )
        # An anti-join (not NOT EXISTS): a correlated subquery is not portable to every dialect (ClickHouse).
        known = exp.Subquery(
            this=exp.select(sqltree.column(time_dim.alias)).from_(sqltree.table(data_name)).distinct(),
            alias=exp.TableAlias(this=exp.to_identifier("__ktx_known")),
        )
        spine_period = sqltree.column(time_dim.alias, "__ktx_spine")
        known_period = sqltree.column(time_dim.alias, "__ktx_known")
        empty = exp.select(
            *[sqltree.alias(spine_period.copy() if a == time_dim.alias else exp.Null(), a) for a in aliases]
        ).from_(periods)
        empty = empty.join(known, on=exp.EQ(this=known_period.copy(), expression=spine_period.copy()), join_type="LEFT")
        empty = empty.where(exp.Is(this=known_period.copy(), expression=exp.Null()))
        data = sqltree.select([sqltree.column(a) for a in aliases], sqltree.table(data_name))
        bounds = [self._on_periods(c, time_dim, data_name) for c in self._time_filters(measure)]
        self.where_clause(data, [b for b in bounds if b is not None])
        return exp.union(data, empty, distinct=False)

    def _time_dimension(self, measure: Measure) -> list[Dimension]:
        out = []
        for d in self.r.dimensions:
            if d.metric_time:  # not yet read for a group: the measure's own reading of it
                d = d.concrete.get((measure.node or "", measure.time_of or ""), d)
            if d.node == measure.node and d.column == measure.time_column:
                out.append(d)
        return out

    def _concrete(self, group: str) -> list[Dimension]:
        """The query's dimensions as one measure group reads them: `metric_time` is its measures' time column."""
        measure = next(m for m in self.r.aggregates if m.group == group)
        key = (measure.node or "", measure.time_of or "")
        return [d.concrete[key] if d.metric_time else d for d in self.asked]

    def _time_spine(self, measure: Measure) -> tuple[str, Any]:
        """The spine the measure reads: at its time column's grain, or at the grain asked when that is finer."""
        base = self.engine.base_grain(measure.node, measure.time_column)
        asked = next((d.granularity for d in self._time_dimension(measure) if d.granularity and not d.custom), None)
        if asked is not None and GRANULARITIES.index(asked) < GRANULARITIES.index(base):
            base = asked
        spine = self.engine.time_spine(base)
        if spine is None:
            what = _window_text(measure.window) if measure.window else "joined to the time spine"
            raise CompileError(
                f"Measure '{measure.name}' is {what} and needs a time spine: mark a calendar "
                "source (one row per day, no gaps) with `time_spine: {column: <its date column>}` (see "
                "docs/semantic-layer.md)."
            )
        return spine.name, spine

    def _spine_table(self, name: str, spine: Any, alias: str) -> exp.Expression:
        if spine.sql:
            if name not in self.sql_sources:
                self.sql_sources.append(name)
            ref = sqltree.table(name)
        else:
            ref = exp.to_table(spine.table, dialect=self.dialect)
        ref.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return ref

    def _combine_groups(
        self, groups: list[str], cte_names: dict[str, str], ctes: list[tuple[str, exp.Expression]], taken: set[str]
    ) -> tuple[exp.Select, str]:
        """The outer SELECT over the group CTEs. Keeping empty members: a spine of every key (UNION of each CTE's
        keys) NULL-safe LEFT JOINed to each CTE; otherwise an INNER join of the CTEs on the keys."""
        aliases = [d.alias for d in self.r.dimensions]
        first = cte_names[groups[0]]
        # A group with rows in any measure source is a group with data: kept, NULL for the sources without it
        # (MetricFlow's FULL OUTER JOIN of its inputs), whether or not empty members are asked for.
        if aliases:
            keys_name = _free_name("dimension_keys", taken)
            parts = [sqltree.select([sqltree.column(a) for a in aliases], sqltree.table(cte_names[g])) for g in groups]
            keys: exp.Expression = sqltree.union_distinct(parts)  # type: ignore[arg-type]
            filled = self._spine_filled()
            if filled is not None:
                data_name = _free_name("data_keys", taken)
                ctes.append((data_name, keys))
                keys = self._keys_with_spine(filled, aliases, data_name)
            ctes.append((keys_name, keys))
            select = sqltree.select(
                [sqltree.alias(sqltree.column(a, keys_name), a) for a in aliases], sqltree.table(keys_name)
            )
            for g in groups:
                on = sqltree.all_of(
                    [
                        exp.NullSafeEQ(this=sqltree.column(a, cte_names[g]), expression=sqltree.column(a, keys_name))
                        for a in aliases
                    ]
                )
                sqltree.join(select, sqltree.table(cte_names[g]), "LEFT", on)
            return select, keys_name
        select = sqltree.select([sqltree.alias(sqltree.column(a, first), a) for a in aliases], sqltree.table(first))
        for g in groups[1:]:
            if aliases:
                on = sqltree.all_of(
                    [
                        exp.NullSafeEQ(this=sqltree.column(a, first), expression=sqltree.column(a, cte_names[g]))
                        for a in aliases
                    ]
                )
                sqltree.join(select, sqltree.table(cte_names[g]), "INNER", on)
            else:
                sqltree.join(select, sqltree.table(cte_names[g]), "CROSS")
        return select, first

    def _locality_plan(
        self, groups: list[str], cte_names: dict[str, str], group_measures: dict[str, list[Measure]], key_source: str
    ) -> None:
        kind = "Chasm trap" if self._independent(groups) else "Fan trap"
        what = "independent measure sources"
        if any(WINDOW_MARK in g for g in groups):
            kind, what = "Time windows or semi-additive measures", "measure groups"
        aliases = [d.alias for d in self.r.dimensions]
        self.plan.update(
            {
                "anchor_source": groups[0],
                "anchor_grain": [d.field for d in self.r.dimensions],
                "key_source": key_source,
                "fan_out_description": f"{kind}: {len(groups)} {what} ({_sources_text(groups)})",
                "has_fan_out": True,
                "measure_groups": [
                    {
                        "source_name": _node_of(g),
                        "cte": cte_names[g],
                        "measures": [m.name for m in group_measures[g]],
                        "join_path_to_dims": [
                            e["to_source"] for e in self.plan.get("joins", []) if e.get("cte") == cte_names[g]
                        ],
                    }
                    for g in groups
                ],
                "aggregate_locality": [
                    f"Pre-aggregate {_node_of(g)} ({', '.join(m.name for m in group_measures[g])}) by "
                    f"{'dimension keys' if aliases else 'nothing (one row)'}"
                    for g in groups
                ],
            }
        )

    def _independent(self, groups: list[str]) -> bool:
        """Chasm: no measure source reaches another one; fan: one sits on the many side of another."""
        nodes = list(dict.fromkeys(_node_of(g) for g in groups))
        for n in nodes:
            paths = self.graph.shortest_paths(n)
            if any(other in paths and not paths[other].fans_out for other in nodes if other != n):
                return False
        return True


def _filled(value: exp.Expression, measure: Measure) -> exp.Expression:
    """`coalesce(value, fill)` for a measure with fill_nulls_with."""
    if measure.fill is None:
        return value
    fill = int(measure.fill) if float(measure.fill).is_integer() else measure.fill
    return exp.Coalesce(this=value, expressions=[exp.Literal.number(fill)])


def _node_of(group: str) -> str:
    return group.split(WINDOW_MARK, 1)[0]


def _window_text(window: Any) -> str:
    if window.kind == "offset":
        return f"offset by {window.window}" if window.window else f"offset to the start of its {window.grain_to_date}"
    if window.window:
        text = f"cumulative over a trailing {window.window}"
    else:
        text = f"cumulative {window.grain_to_date} to date" if window.grain_to_date else "cumulative over all time"
    if window.offset or window.offset_to_grain:
        text += f" as of {window.offset} earlier" if window.offset else f" as of its {window.offset_to_grain}'s start"
    return text


def _offset_finer_than(window: Any, grain: str) -> bool:
    """An offset that does not move whole periods of the asked grain (14 days by month, a month's start by week):
    MetricFlow shifts each spine day and sums them per period. One that does (a month by month, a year by quarter,
    the start of the month by month) shifts the periods themselves."""
    if window.grain_to_date:
        return window.grain_to_date != grain
    unit = parse_window(window.window)[1]
    return GRANULARITIES.index(unit) < GRANULARITIES.index(grain)


def _sources_text(groups: list[str]) -> str:
    return ", ".join(dict.fromkeys(_node_of(g) for g in groups))


def _path_text(start: str, edges: list[Edge]) -> str:
    return " → ".join([start] + [e.to for e in edges])


def _choose_path(candidates: list[list[Edge]], via: list[str]) -> list[Edge] | None:
    """The one candidate the query's `via` sources, then the layer's preferred joins, single out; else None."""
    nodes = [{e.to for e in c} for c in candidates]
    wanted = [v for v in via if any(v in n for n in nodes)]
    if wanted:
        kept = [c for c, n in zip(candidates, nodes, strict=True) if all(v in n for v in wanted)]
        if len(kept) == 1:
            return kept[0]
        candidates = kept or candidates
    scores = [sum(e.preferred for e in c) for c in candidates]
    best = max(scores)
    if best > 0 and scores.count(best) == 1:
        return candidates[scores.index(best)]
    return None


def _free_name(base: str, taken: set[str]) -> str:
    """`base`, else `base_1`, `base_2`, … — the first name not yet taken (and now taken)."""
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _rename_tables(body: exp.Expression, renames: dict[str, str]) -> None:
    for table in body.find_all(exp.Table):
        if not table.args.get("db") and table.name in renames:
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(renames[table.name]))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))


def _measure_json(m: Measure) -> dict[str, Any]:
    return {
        "name": m.name,
        "expr": m.expr.sql() if not m.derived else None,
        "source_name": m.node or DERIVED,
        "original_name": m.original,
        "qualified_ref": m.qualified_ref,
        "filter": m.filter.sql() if m.filter is not None else None,
        "provenance": m.provenance,
        "is_derived": m.derived,
        "depends_on": [d.name for d in m.placeholders.values()],
        "description": m.description,
    }


_PLAN_ORDER = (
    "sources_used",
    "anchor_source",
    "anchor_grain",
    "key_source",
    "joins",
    "join_paths",
    "fan_out_description",
    "has_fan_out",
    "measure_groups",
    "aggregate_locality",
    "where_filters",
    "having_filters",
    "dimensions",
    "measures",
    "order_by",
    "limit",
    "include_empty",
    "time_spine",  # the calendar a window or a join to the time spine read
)
