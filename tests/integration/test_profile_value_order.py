"""A column's most frequent values and its value sample come out in the same order on every scan: by count then
value, and by length then value. The SQL aggregates that join them keep no order on a parallel engine (DuckDB
joined them in a different order from one run to the next), and the order reaches the files a scan writes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb

from ktx.project.config import KtxConfig
from ktx.scan.profile import TOP_VALUES, VALUE_SAMPLE, ProfileColumn, profile_tables
from ktx.warehouse.connector import connector_class

ROWS = 2000
SAMPLE = 500
TABLES = 7


def _values(i: int) -> dict[str, list[str]]:
    """What each column of table t<i> holds in its first SAMPLE rows, as text."""
    rows = range(SAMPLE)
    return {"id": [str(r) for r in rows], "v": [str(r * i) for r in rows], "s": [f"x{r % (i + 3)}" for r in rows]}


def _expected(values: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    counts = Counter(values)
    top = sorted(counts, key=lambda v: (-counts[v], v))[:TOP_VALUES]
    smallest = sorted(counts, key=lambda v: (len(v), v))[:VALUE_SAMPLE]
    return tuple(top), tuple(smallest)


def test_duckdb_gives_values_in_rank_order_on_every_run(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    for i in range(TABLES):
        con.execute(
            f"CREATE TABLE t{i} AS SELECT r AS id, r * {i} AS v, 'x' || (r % {i + 3}) AS s FROM range(0, {ROWS}) t(r)"
        )
    con.close()
    config = KtxConfig.model_validate({"connections": {"wh": {"driver": "duckdb", "path": str(path)}}})
    connector = connector_class("duckdb")("wh", config.connections["wh"], tmp_path)
    columns = [ProfileColumn("id", "number"), ProfileColumn("v", "number"), ProfileColumn("s", "string")]
    targets = [(f"main.t{i}", "main", f"t{i}", columns, None) for i in range(TABLES)]
    wrong: list[str] = []
    try:
        for run in range(12):
            connector.profile_batch_size = (1, 2, 10)[run % 3]
            found = profile_tables(connector, targets, sample_rows=SAMPLE, concurrency=1 + run % 2)
            for i in range(TABLES):
                for name, values in _values(i).items():
                    stats = found[f"main.t{i}"].columns[name]
                    if (stats.top_values, stats.value_sample) != _expected(values):
                        wrong.append(f"run {run} t{i}.{name}: {stats.top_values} / {stats.value_sample[:6]}")
    finally:
        connector.close()
    assert wrong == []
