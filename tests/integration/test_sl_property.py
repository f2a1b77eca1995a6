"""Property-style correctness: on layers the suite builds (the demo shop, and what a real scan writes for the
relationship fixtures, TPC-H among them), random valid queries — an aggregate of a fact's column, grouped by a column
the fact reaches many-to-one, sometimes filtered — compile, run, and return exactly what a brute-force evaluation of
the joined rows at the fact's grain returns, on DuckDB and SQLite."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.layer import build_engine
from ktx.services import Services
from tests.fixtures.demo import copy_demo_layer
from tests.fixtures.relationships.schemas import all_fixtures, build

AGGREGATES = ("count(*)", "count", "sum", "min", "max", "count_distinct")
QUERIES_PER_LAYER = 40


def _value(value: Any) -> Any:
    if isinstance(value, Decimal | float):
        return round(float(value), 4)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _plain_public(column: Any) -> bool:
    """A stored column anyone may query (not computed, not hidden or internal)."""
    return not column.expr and (getattr(column, "visibility", None) or "public") == "public"


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present)


class Layer:
    """A compiled layer plus its warehouse's rows, and the brute-force reference for a query."""

    def __init__(self, engine: SemanticEngine, run: Callable[[str], tuple[list[str], list[tuple]]]):
        import dataclasses

        from ktx.semantic.model import Measure

        # Every source gets a `count(*)` measure of its own, so a query can count a fact's rows by name.
        sources = {
            name: dataclasses.replace(source, measures=[*source.measures, Measure("ktx_rows", "count(*)")])
            for name, source in engine.sources.items()
        }
        self.engine, self.run = SemanticEngine(sources, engine.dialect), run
        self.rows: dict[str, list[dict[str, Any]]] = {}
        for name, source in engine.sources.items():
            if source.table and not source.sql:
                headers, rows = run(f"SELECT * FROM {exp.to_table(source.table).sql(dialect=engine.dialect)}")
                self.rows[name] = [dict(zip(headers, row, strict=True)) for row in rows]

    def base(self, node: str) -> str:
        return self.engine.graph.base[node]

    def column_values(self, node: str, column: str) -> list[Any]:
        return [r.get(column) for r in self.rows.get(self.base(node), [])]

    def reachable(self, fact: str) -> dict[str, list[Any]]:
        """Nodes the fact reaches through exactly one non-fanning path of plain column equalities."""
        out = {}
        for node in self.engine.graph.adjacency:
            if node == fact or self.base(node) not in self.rows:
                continue
            paths, complete = self.engine.graph.safe_paths(fact, node)
            if len(paths) != 1 or not complete:
                continue
            edges = paths[0]
            plain = all(isinstance(a, exp.Column) and isinstance(b, exp.Column) for e in edges for a, b in e.pairs)
            if plain and all(self.base(e.to) in self.rows for e in edges):
                out[node] = edges
        return out

    def reference(self, fact: str, agg: str, column: str | None, node: str, dim: str, edges: list, keep) -> set:
        groups: dict[Any, list[Any]] = {}
        indexes = []
        for edge in edges:
            index: dict[tuple, list[dict[str, Any]]] = {}
            for row in self.rows[self.base(edge.to)]:
                key = tuple(row.get(b.name) for _, b in edge.pairs)
                index.setdefault(key, []).append(row)
            indexes.append((edge, index))
        for row in self.rows[self.base(fact)]:
            if not keep(row):
                continue
            current: dict[str, Any] | None = row
            for edge, index in indexes:
                if current is None:
                    break
                key = tuple(current.get(a.name) for a, _ in edge.pairs)
                matches = [] if None in key else index.get(key, [])
                assert len(matches) <= 1, f"{edge.describe()} is not many-to-one in the data"
                current = matches[0] if matches else None
            label = _value(current.get(dim)) if current is not None else None
            groups.setdefault(label, []).append(row.get(column) if column else 1)
        out = set()
        for label, values in groups.items():
            present = [v for v in values if v is not None]
            result: Any
            if agg == "count(*)":
                result = len(values)
            elif agg == "count":
                result = len(present)
            elif agg == "count_distinct":
                result = len(set(present))
            elif agg == "sum":
                result = sum(float(v) for v in present) if present else None
            else:
                result = (min if agg == "min" else max)(present) if present else None
            out.add((label, _value(result)))
        return out


def _check(layer: Layer, seed: int) -> int:
    rng = random.Random(seed)
    facts = sorted(n for n in layer.rows if layer.rows[n] and n in layer.engine.graph.adjacency)
    checked = 0
    for _ in range(QUERIES_PER_LAYER * 3):
        if checked >= QUERIES_PER_LAYER:
            break
        fact = rng.choice(facts)
        source = layer.engine.sources[fact]
        columns = [c.name for c in source.columns if _plain_public(c) and c.name in layer.rows[fact][0]]
        reachable = layer.reachable(fact)
        targets = [(fact, c, []) for c in columns] + [
            (node, c.name, edges)
            for node, edges in reachable.items()
            for c in layer.engine.sources[layer.base(node)].columns
            if _plain_public(c) and layer.rows[layer.base(node)] and c.name in layer.rows[layer.base(node)][0]
        ]
        node, dim, edges = rng.choice(targets)
        agg = rng.choice(AGGREGATES)
        numeric = [c for c in columns if _numeric([r.get(c) for r in layer.rows[fact]])]
        if agg == "sum" and not numeric:
            continue
        column = None if agg == "count(*)" else rng.choice(numeric if agg == "sum" else columns)
        measure = f"{fact}.ktx_rows" if agg == "count(*)" else {"expr": f"{agg}({fact}.{column})", "name": "m"}
        query: dict[str, Any] = {
            "measures": [measure],
            "dimensions": [f"{node}.{dim}"],
            "include_empty": False,
            "limit": 100000,
        }
        keep: Callable[[dict[str, Any]], bool] = lambda row: True  # noqa: E731
        if numeric and rng.random() < 0.3:
            fcol = rng.choice(numeric)
            values = sorted(float(v) for v in (r.get(fcol) for r in layer.rows[fact]) if v is not None)
            cut = values[len(values) // 2]
            query["filters"] = [f"{fact}.{fcol} > {cut}"]
            keep = lambda row, c=fcol, t=cut: row.get(c) is not None and float(row[c]) > t  # noqa: E731
        try:
            compiled = layer.engine.compile(query)
        except Exception as exc:  # a refusal is allowed (an ambiguous path, a fan-out); a wrong answer is not
            assert "Ambiguous" in str(exc) or "fan" in str(exc).lower() or "not reachable" in str(exc), str(exc)
            continue
        _, got_rows = layer.run(compiled.sql)
        got = {(_value(r[0]), _value(r[1])) for r in got_rows}
        want = layer.reference(fact, agg, column, node, dim, edges, keep)
        assert got == want, f"{query}\n{compiled.sql}"
        checked += 1
    return checked


def _sqlite_runner(path: Path) -> Callable[[str], tuple[list[str], list[tuple]]]:
    con = sqlite3.connect(path, check_same_thread=False)

    def run(sql: str) -> tuple[list[str], list[tuple]]:
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()

    return run


def _duckdb_runner(path: Path) -> Callable[[str], tuple[list[str], list[tuple]]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)

    def run(sql: str) -> tuple[list[str], list[tuple]]:
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()

    return run


SCANNED = [f for f in all_fixtures() if f.id in ("shop_undeclared", "tpch_prefixed")]


@pytest.mark.parametrize("fixture", SCANNED, ids=[f.id for f in SCANNED])
def test_random_queries_on_a_scanned_layer_equal_brute_force(fixture, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    path = build(fixture, root / "data")
    Project(root).update_config(
        lambda d: d.__setitem__("connections", {"wh": {"driver": fixture.engine, "path": f"data/{path.name}"}}),
        "wh",
    )
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "wh").results
    assert result.status == "done", result.message
    engine, _ = build_engine(root, "wh", fixture.engine)
    runner = _duckdb_runner(path) if fixture.engine == "duckdb" else _sqlite_runner(path)
    assert _check(Layer(engine, runner), seed=hash(fixture.id) % 1000) >= QUERIES_PER_LAYER // 2


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_random_queries_on_the_demo_layer_equal_brute_force(dialect, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "demo"))
    import warehouse as demo

    from ktx.semantic.loader import load_directory

    layer_dir = copy_demo_layer(tmp_path / "semantic-layer")
    engine = SemanticEngine(load_directory(layer_dir).sources, dialect)
    if dialect == "duckdb":
        runner = _duckdb_runner(demo.build_duckdb(tmp_path / "shop.duckdb"))
    else:
        runner = _sqlite_runner(demo.build_sqlite(tmp_path / "shop.db"))
    assert _check(Layer(engine, runner), seed=7) >= QUERIES_PER_LAYER // 2
