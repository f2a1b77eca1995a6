"""`make demo`: build the bundled shop example into a fresh project, ingest it, and ask it questions.

1. `ktx admin init` a project in a temporary directory;
2. generate the deterministic DuckDB warehouse (examples/demo/warehouse.py) into it and register it as
   the `warehouse` connection — bare tables, with primary keys but no declared foreign keys;
3. `ktx ingest warehouse` with no LLM: ktx profiles the tables, discovers and validates the joins, describes
   every table and column from its data and writes `semantic-layer/warehouse/_schema/main.yaml`;
4. add the bundled overlays (metrics, segments, role-playing joins) and wiki pages, committed to git;
5. validate a source live and run semantic queries — including a fan trap and a chasm trap — printing
   the SQL ktx compiled and the rows it returned.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import warehouse  # noqa: E402

QUERIES = [
    ("Revenue and orders by customer segment",
     ["-m", "orders.revenue", "-m", "orders.order_count", "-m", "orders.avg_order_value", "-d", "customers.segment"]),
    ("Fan trap: order totals next to item units, by region (orders pre-aggregated before the items join)",
     ["-m", "orders.gross_amount", "-m", "order_items.units", "-d", "regions.name"]),
    ("Chasm trap: orders and support tickets per segment, plus a ratio across the two facts",
     ["-m", "orders.order_count", "-m", "support_tickets.ticket_count", "--query-file", "{ratio}",
      "-d", "customers.segment"]),
    ("Monthly revenue in the first quarter, by shipping region (an aliased join)",
     ["-m", "orders.revenue", "-d", "ship_region.name", "-d", "orders.ordered_at:month",
      "-f", "orders.ordered_at < '2025-04-01'", "--order-by", "revenue:desc", "--limit", "6"]),
]  # fmt: skip


def ktx(*args: str, cwd: Path) -> int:
    # Quoted as a shell would need them, so a printed command can be pasted and run as it is.
    print(f"\n$ ktx {shlex.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "ktx", *args], cwd=cwd).returncode


def add_warehouse(project: Path) -> None:
    from ktx.project.project import Project

    warehouse.build_duckdb(project / "data" / "shop.duckdb")
    (project / ".gitignore").open("a", encoding="utf-8").write("data/\n")

    def add_connection(doc) -> None:
        doc.setdefault("connections", {})
        doc["connections"]["warehouse"] = {"driver": "duckdb", "path": "data/shop.duckdb"}

    handle = Project(project)
    handle.update_config(add_connection, "Demo: add the shop warehouse connection")
    handle.git.commit([".gitignore"], "Demo: keep the warehouse file out of git")


def add_overlays(project: Path) -> None:
    from ktx.project.project import Project

    shutil.copytree(HERE / "project", project, dirs_exist_ok=True)
    Project(project).git.commit(
        ["semantic-layer", "wiki", "evals"], "Demo: shop overlays (metrics, segments), wiki pages and eval cases"
    )


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ktx-demo-"))
    project = workdir / "demo"
    if ktx("admin", "init", str(project), cwd=workdir) != 0:
        return 1
    add_warehouse(project)
    if ktx("ingest", "warehouse", cwd=project) != 0:
        return 1
    add_overlays(project)
    ratio = workdir / "ratio.json"
    ratio.write_text(
        '{"measures": [{"expr": "support_tickets.ticket_count / orders.order_count", "name": "tickets_per_order"}]}'
    )
    if ktx("sl", "--output", "plain", cwd=project) != 0:
        return 1
    if ktx("sl", "validate", "orders", cwd=project) != 0:
        return 1
    for title, args in QUERIES:
        print(f"\n# {title}")
        args = [a.replace("{ratio}", str(ratio)) for a in args]
        if ktx("sl", "query", "--format", "sql", *args, cwd=project) != 0:
            return 1
        if ktx("sl", "query", "--format", "table", *args, cwd=project) != 0:
            return 1
    print("\n# Questions with known answers, checked against the warehouse (no LLM)")
    if ktx("eval", cwd=project) != 0:
        return 1
    print(f"\nDemo project left at {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
