"""A 100,000-table catalog on DuckDB (6 columns, 3 rows each): `ktx ingest` killed with SIGKILL halfway through
profiling, then run again — it must resume from its last checkpoint and complete.

Figures: the first run's time to the kill and how many tables it had profiled; the second run's wall time, peak RSS
and the tables it resumed; and what DuckDB alone holds after opening the file and reading its catalog. The issue's
goal (≤ 1 GiB) is below that floor — DuckDB 2.0 holds ~1.4 GiB for this file before any query, and every query
needs it open — so the figure held to 1 GiB is what ktx adds on top of it (peak RSS minus DuckDB alone). Long (build ~5 min, runs ~15 min): not part of `make bench`; run it by hand:

    python benchmarks/catalog_100k.py [--tables N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
    "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def build(path: Path, tables: int) -> None:
    """Tables t000000 … each with an id, a reference to the previous table, and four attributes. 16 kB blocks: with
    DuckDB's default 256 kB, every table takes at least a block per column group and the file grows to ~25 GB."""
    import duckdb

    conn = duckdb.connect()
    conn.execute(f"ATTACH '{path}' AS w (BLOCK_SIZE 16384)")
    conn.execute("USE w")
    for start in range(0, tables, 1000):
        conn.execute("BEGIN")
        for i in range(start, min(tables, start + 1000)):
            conn.execute(
                f"CREATE TABLE t{i:06d} AS SELECT i + 1 AS id, (i % 3) + 1 AS t{max(i - 1, 0):06d}_id, "
                f"'x' || i AS label, i * 1.5 AS amount, DATE '2024-01-01' + i::INT AS created_at, "
                "'s' || (i % 2) AS status FROM range(3) r(i)"
            )
        conn.execute("COMMIT")
    conn.execute("CHECKPOINT")
    conn.close()


def duckdb_alone(path: Path) -> float:
    """Peak RSS (MiB) of a process that only opens the file read-only and reads its catalog."""
    code = (
        "import duckdb, resource, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "c.execute('SELECT count(*) FROM duckdb_columns()').fetchall(); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def checkpoints(project: Path) -> int:
    db = project / ".ktx" / "db.sqlite"
    if not db.is_file():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        [[n]] = conn.execute(
            "SELECT count(*) FROM local_scan_enrichment_stages WHERE stage LIKE 'profile#%' AND status = 'completed'"
        ).fetchall()
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
    return int(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the warehouse and project here")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ktx-bench-100k-"))
    base.mkdir(parents=True, exist_ok=True)
    warehouse = base / f"catalog{args.tables}.duckdb"
    if not warehouse.is_file():
        started = time.perf_counter()
        # In a child process: building holds GBs, and a process forked from this one would report that as its
        # own peak (Linux carries the high-water mark across fork).
        code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import catalog_100k as c; c.build("
        code += f"__import__('pathlib').Path({str(warehouse)!r}), {args.tables})"
        subprocess.run([sys.executable, "-c", code], check=True)
        print(
            f"built {args.tables:,} tables in {time.perf_counter() - started:.0f} s ({warehouse.stat().st_size >> 20} MiB)"
        )
    project = base / f"proj-{time.monotonic_ns()}"
    ktx = [sys.executable, "-m", "ktx", "--project-dir", str(project)]
    subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(project)], capture_output=True, check=True)
    config = project / "ktx.yaml"
    connection = json.dumps({"driver": "duckdb", "path": str(warehouse)})
    config.write_text(config.read_text().replace("connections: {}", f"connections:\n  wh: {connection}"))

    half = args.tables // 2 // 1000  # profile checkpoints hold 1,000 tables each
    started = time.perf_counter()
    first = subprocess.Popen([*ktx, "ingest", "wh"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first.poll() is None and checkpoints(project) < half:
        time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at, done = time.perf_counter() - started, checkpoints(project)
    print(f"first run killed (SIGKILL) after {killed_at:.0f} s with {done * 1000:,} tables profiled")

    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *ktx, "ingest", "wh"], capture_output=True, text=True, check=True
    ).stdout.split()
    report = json.loads(
        subprocess.run([*ktx, "ingest", "--report", "--json"], capture_output=True, text=True, check=True).stdout
    )
    resumed = (report.get("enrichmentState") or {}).get("resumed")
    peak, floor = int(out[2]) / 1024, duckdb_alone(warehouse)
    print(
        f"second run: exit {out[0]}, {float(out[1]):.0f} s, peak RSS {peak:.0f} MiB, resumed {resumed}; DuckDB alone, "
        f"opening the file and reading its catalog: {floor:.0f} MiB; ktx on top of it: {peak - floor:.0f} MiB "
        "(goal ≤ 1 GiB)"
    )
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10} MiB)")


if __name__ == "__main__":
    main()
