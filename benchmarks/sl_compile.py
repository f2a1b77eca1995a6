"""Semantic compiler speed: a generated 100-source star/snowflake model.

Reports median and p95 in-process compile time for a typical query (one fact, two dimension hops,
a filter, a derived measure) and a 3-fact chasm query, then the whole-process time of
`ktx sl query --format sql` on the same model (budgets: 5 ms median compile, 400 ms per process).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.loader import load_directory

FACTS, DIMS, SUBDIMS = 10, 40, 50  # 100 sources: facts → dims (star) → sub-dims (snowflake)


def write_model(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(SUBDIMS):
        source = {"name": f"sub_{i}", "table": f"public.sub_{i}", "grain": ["id"],
                  "columns": [{"name": "id", "type": "number"}, {"name": "label", "type": "string"}]}  # fmt: skip
        (folder / f"sub_{i}.yaml").write_text(json.dumps(source))
    for i in range(DIMS):
        source = {"name": f"dim_{i}", "table": f"public.dim_{i}", "grain": ["id"],
                  "columns": [{"name": "id", "type": "number"}, {"name": "name", "type": "string"},
                              {"name": "sub_id", "type": "number"}],
                  "joins": [{"to": f"sub_{i % SUBDIMS}", "on": f"sub_id = sub_{i % SUBDIMS}.id", "relationship": "many_to_one"}]}  # fmt: skip
        (folder / f"dim_{i}.yaml").write_text(json.dumps(source))
    hub = "dim_0"
    for i in range(FACTS):
        dims = [hub] + [f"dim_{(i * 4 + k) % DIMS}" for k in range(1, 5)]
        dims = list(dict.fromkeys(dims))
        columns = [{"name": "id", "type": "number"}, {"name": "amount", "type": "number"},
                   {"name": "status", "type": "string"}, {"name": "at", "type": "time"}]  # fmt: skip
        columns += [{"name": f"{d}_id", "type": "number"} for d in dims]
        source = {"name": f"fact_{i}", "table": f"public.fact_{i}", "grain": ["id"], "columns": columns,
                  "joins": [{"to": d, "on": f"{d}_id = {d}.id", "relationship": "many_to_one"} for d in dims],
                  "measures": [{"name": "total", "expr": "sum(amount)", "filter": "status <> 'void'"},
                               {"name": "n", "expr": "count(*)"}, {"name": "avg_amount", "expr": "total / n"}]}  # fmt: skip
        (folder / f"fact_{i}.yaml").write_text(json.dumps(source))


TYPICAL = {"measures": ["fact_3.total", "fact_3.avg_amount"],
           "dimensions": ["dim_0.name", {"field": "fact_3.at", "granularity": "month"}, "sub_13.label"],
           "filters": ["dim_0.name <> 'x'"], "order_by": [{"field": "fact_3.total", "direction": "desc"}], "limit": 100}  # fmt: skip
CHASM = {"measures": ["fact_1.total", "fact_2.n", "fact_5.total"], "dimensions": ["dim_0.name", "sub_0.label"]}


def timed(engine: SemanticEngine, query: dict, runs: int = 300) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.compile(query)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(root)], check=True, capture_output=True)
        write_model(root / "semantic-layer" / "warehouse")
        with (root / "ktx.yaml").open("a") as fh:
            fh.write("\n")
        layer = load_directory(root / "semantic-layer" / "warehouse")
        start = time.perf_counter()
        engine = SemanticEngine(layer.sources, "postgres")
        build_ms = (time.perf_counter() - start) * 1000
        assert len(engine.sources) == 100
        for name, query in (("typical", TYPICAL), ("3-fact chasm", CHASM)):
            median, p95 = timed(engine, query)
            print(f"compile {name:13s} median {median:6.2f} ms  p95 {p95:6.2f} ms  (budget: median ≤ 5 ms)")
        print(f"engine build (100 sources, joins parsed once): {build_ms:.1f} ms")
        args = [sys.executable, "-m", "ktx", "sl", "query", "--connection-id", "warehouse", "--format", "sql",
                "--query-file", "-"]  # fmt: skip
        walls = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(args, cwd=root, input=json.dumps(TYPICAL), check=True, capture_output=True, text=True)
            walls.append((time.perf_counter() - start) * 1000)
        print(f"ktx sl query --format sql (whole process) median {statistics.median(walls):.0f} ms  (budget ≤ 400 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
