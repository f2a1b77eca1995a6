"""Deterministic ingest, no LLM: 500 tables × 20 columns × 1,000 rows, on DuckDB and on PostgreSQL, and a wide
catalog of 5,000 tables × 20 columns × 50 rows on DuckDB (`--wide`: only that one).

Figures: the whole `ktx ingest` process (wall time and peak RSS) on a fresh project, and an unchanged rerun.
Budgets (issue #14): ≤ 30 s and ≤ 1 GiB for the first run, ≤ 5 s for the rerun. Each figure is the median of
`--repeat` runs (default 1; the first run takes a while).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.relationships import WORDS_A, WORDS_B, build_scale  # noqa: E402

TABLES, ROWS = 500, 1000
MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
    "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run_ingest(project: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "ktx", "--project-dir", str(project), "ingest", "wh"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if out[0] != "0":
        raise SystemExit(f"ktx ingest failed in {project}")
    return float(out[1]), int(out[2]) / 1024  # seconds, MiB


def new_project(base: Path, connection: dict) -> Path:
    project = base / f"proj-{time.monotonic_ns()}"
    subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(project)], capture_output=True, check=True)
    text = (
        (project / "ktx.yaml").read_text().replace("connections: {}", "connections:\n  wh: " + json.dumps(connection))
    )
    (project / "ktx.yaml").write_text(text)
    return project


def build_postgres(schema: str) -> dict | None:
    try:
        import psycopg
    except ImportError:
        return None
    try:
        conn = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=3)
    except Exception:
        return None
    import random

    rng = random.Random(5)
    names = [f"{a}_{b}" for b in WORDS_B for a in WORDS_A][:TABLES]
    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.execute(f'CREATE SCHEMA "{schema}"')
    for i, name in enumerate(names):
        parents = rng.sample(names[:i], min(i, 2))
        cols = ["id INTEGER"] + [f"{p}_id INTEGER" for p in parents]
        cols += ["label TEXT", "amount NUMERIC(10,2)", "created_at DATE", "status TEXT"]
        cols += [f"attr_{k} INTEGER" for k in range(20 - len(cols))]
        conn.execute(f'CREATE TABLE "{schema}".{name} ({", ".join(cols)})')
        fks = [f"1 + abs(hashint4(i * 31 + {j})) % {ROWS}" for j in range(len(parents))]
        extra = [f"i % {k + 3}" for k in range(20 - 5 - len(parents))]
        select = ", ".join(
            ["i + 1", *fks, "'x' || (i % 9)", "i * 1.5", "DATE '2024-01-01' + (i % 300)", "'s' || (i % 3)", *extra]
        )
        conn.execute(f'INSERT INTO "{schema}".{name} SELECT {select} FROM generate_series(0, {ROWS - 1}) i')
    conn.execute("ANALYZE")
    conn.close()
    return {"driver": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test", "schemas": [schema]}


def drop_postgres(schema: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(
    label: str, base: Path, connection: dict, repeat: int, tables: int = TABLES, rows: int = ROWS, budget_s: int = 30
) -> None:
    first, rss, rerun = [], [], []
    for _ in range(repeat):
        project = new_project(base, connection)
        seconds, mib = run_ingest(project)
        first.append(seconds)
        rss.append(mib)
        rerun.append(run_ingest(project)[0])
        shutil.rmtree(project, ignore_errors=True)
    print(
        f"{label}: ingest {tables}×20×{rows} {statistics.median(first):.1f} s (budget {budget_s} s), "
        f"peak RSS {statistics.median(rss):.0f} MiB (budget 1024), unchanged rerun {statistics.median(rerun):.2f} s "
        f"(budget 5 s)"
    )


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        wide = base / "wide.duckdb"
        build_scale(wide, tables=5000, rows=50)
        wide_connection = {"driver": "duckdb", "path": str(wide)}
        measure("duckdb, wide catalog", base, wide_connection, repeat, tables=5000, rows=50, budget_s=60)
        if "--wide" in sys.argv:
            return
        path = base / "wh.duckdb"
        build_scale(path, tables=TABLES, rows=ROWS)
        measure("duckdb", base, {"driver": "duckdb", "path": str(path)}, repeat)
        schema = "ktx_bench_ingest"
        connection = build_postgres(schema)
        if connection is None:
            print("postgres: skipped (no server at 127.0.0.1:5432)")
            return
        try:
            measure("postgres", base, connection, repeat)
        finally:
            drop_postgres(schema)


if __name__ == "__main__":
    main()
