"""Query-history staging and deterministic usage for 50,000 templates over a 200-table catalog: sqlglot analysis,
filters, redaction, accumulation, usage blocks, observed joins and pattern pages, in process.
Budget (issue #17): ≤ 60 s and ≤ 1 GiB peak RSS.

Usage: python benchmarks/query_history.py [templates]
"""

from __future__ import annotations

import random
import resource
import sys
import time

from ktx.history.postgres import Template
from ktx.history.stage import stage
from ktx.history.usage import observed_edges, pattern_pages, usage_blocks
from ktx.project.config.connections import QueryHistoryConfig

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
TABLES = [f"t{i:03d}" for i in range(200)]


def workload(rng: random.Random) -> list[Template]:
    templates = []
    users = [f"analyst_{i}" for i in range(40)] + ["etl_loader", "dbt_runner"]
    for i in range(COUNT):
        a, b = rng.sample(TABLES, 2)
        shape = i % 4
        if shape == 0:
            sql = f"SELECT x.c1, sum(x.c2) FROM {a} x WHERE x.c3 = $1 AND x.c4 > $2 GROUP BY x.c1 /* q{i} */"
        elif shape == 1:
            sql = (
                f"SELECT y.c1, count(*) FROM {a} x JOIN {b} y ON x.{b}_id = y.id WHERE x.c2 = $1 "
                f"GROUP BY y.c1 ORDER BY 2 DESC LIMIT $2 /* q{i} */"
            )
        elif shape == 2:
            sql = (
                f"WITH r AS (SELECT id, c1 FROM {a} WHERE c5 >= $1) SELECT r.c1, avg(z.c2) FROM r "
                f"JOIN {b} z ON z.{a}_id = r.id GROUP BY r.c1 /* mail me at user{i}@example.com */"
            )
        else:
            sql = f"SELECT * FROM {a} WHERE id = $1 /* q{i} */"
        picked = rng.sample(users, rng.randint(1, 4))
        templates.append(
            Template(str(i), sql, rng.randint(5, 5000), {u: rng.randint(1, 50) for u in picked}, rng.random() * 800)
        )
    return templates


def main() -> None:
    rng = random.Random(11)
    templates = workload(rng)
    catalog = {f"public.{t}": {"id", "c1", "c2", "c3", "c4", "c5", *(f"{o}_id" for o in TABLES[:50])} for t in TABLES}
    keys = {f"public.{t}": t for t in TABLES}
    columns = {t: {c: c for c in catalog[f"public.{t}"]} for t in TABLES}
    config = QueryHistoryConfig(
        enabled=True, filters={"serviceAccounts": {"patterns": ["^etl_", "^dbt_"]}}, redactionPatterns=["(?i)secret"]
    )
    started = time.perf_counter()
    staged = stage(templates, config, dialect="postgres", catalog=catalog, default_schema="public")
    staging = time.perf_counter() - started
    now = "2026-12-03T00:00:00+00:00"
    blocks = usage_blocks(staged, keys, columns, {}, now)
    edges = observed_edges(staged, keys, columns)
    pages = pattern_pages(staged, keys, "wh", {}, now, 90)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"query history, {COUNT} templates: staging {staging:.1f} s, with usage, joins and pages {total:.1f} s "
        f"(budget 60 s), peak RSS {peak:.0f} MiB (budget 1024); kept {len(staged.templates)}, "
        f"{len(blocks)} usage blocks, {len(edges)} join candidates, {len(pages)} pattern pages"
    )


if __name__ == "__main__":
    main()
