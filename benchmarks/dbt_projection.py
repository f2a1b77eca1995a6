"""Deterministic dbt projection for a 300-model project (one schema.yml per model, 12 documented columns each,
unique/not_null/accepted_values/relationships tests, doc blocks) onto a 300-table manifest, in process: reading
the YAML, matching, projecting and rendering the shards. Budget (issue #16): ≤ 10 s; peak RSS reported.

Usage: python benchmarks/dbt_projection.py [models]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from ktx.scan.manifest import dump_shard
from ktx.sources.dbt import project, read_project

MODELS = int(sys.argv[1]) if len(sys.argv) > 1 else 300


def build(folder: Path) -> dict[str, dict]:
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: bench\n")
    entries = {}
    for i in range(MODELS):
        name = f"model_{i:03d}"
        parent = f"model_{max(i - 1, 0):03d}"
        columns = [{"name": "id", "type": "INTEGER"}, {"name": "parent_id", "type": "INTEGER"}]
        columns += [{"name": f"attr_{k}", "type": "VARCHAR"} for k in range(10)]
        entries[name] = {"table": f"analytics.{name}", "columns": columns}
        cols = [
            "      - name: id\n        description: Primary key.\n        tests: [unique, not_null]",
            f"      - name: parent_id\n        tests:\n          - relationships: {{to: \"ref('{parent}')\", field: id}}",
        ]
        cols += [
            f"      - name: attr_{k}\n        description: \"{{{{ doc('attr_{k}') }}}}\"\n"
            f"        tests:\n          - accepted_values: {{values: [a, b, c]}}"
            for k in range(10)
        ]
        (folder / "models" / f"{name}.yml").write_text(
            f"version: 2\nmodels:\n  - name: {name}\n    description: Model {i}.\n    config: {{tags: [bench]}}\n"
            "    columns:\n" + "\n".join(cols) + "\n"
        )
    (folder / "models" / "docs.md").write_text(
        "\n".join(f"{{% docs attr_{k} %}}Attribute {k}.{{% enddocs %}}" for k in range(10))
    )
    return entries


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        entries = build(Path(tmp))
        started = time.perf_counter()
        dbt = read_project(Path(tmp))
        parsed = time.perf_counter() - started
        result = project(dbt, entries, [])
        text = dump_shard(result.entries)
        total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"dbt projection, {MODELS} models × 12 columns: read {parsed:.2f} s, whole projection {total:.2f} s "
        f"(budget 10 s), peak RSS {peak:.0f} MiB; {len(result.matched)} matched, {len(result.joins)} joins, "
        f"shard {len(text) // 1024} KiB"
    )


if __name__ == "__main__":
    main()
