"""`ktx eval init`: draft cases from what exists, so a person confirms answers instead of typing them.

Each warehouse connection's measures, crossed with the dimensions people use most (query-history usage when the scan
recorded it, else the measure's own time or text columns), become cases whose `expected.sql` is the SQL the compiler
writes today — marked `review: true`: a draft proves nothing until someone has checked that SQL once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ktx.errors import KtxError
from ktx.evals.cases import EVALS_DIR

if TYPE_CHECKING:
    from ktx.services import Services

EXAMPLES = Path(EVALS_DIR) / "examples.yaml"
MAX_CASES = 12


def _dimensions(source: Any) -> list[str]:
    usage = source.usage if isinstance(source.usage, dict) else {}
    used = [str(d) for d in usage.get("commonGroupBys") or [] if source.column(str(d))]
    plain = [c for c in source.columns if not c.expr and (c.visibility or "public") == "public"]
    times = [c.name for c in plain if c.type == "time"]
    texts = [c.name for c in plain if c.type == "string" and c.name not in source.grain]
    return list(dict.fromkeys(used + times[:1] + texts[:1]))


def draft_cases(services: Services, *, limit: int = MAX_CASES) -> list[dict[str, Any]]:
    from ktx.project.config import WAREHOUSE_DRIVERS
    from ktx.semantic.service import compile_query

    cases: list[dict[str, Any]] = []
    config = services.project.config
    for connection_id, conn in sorted(config.connections.items()):
        if conn.driver not in WAREHOUSE_DRIVERS:
            continue
        try:
            engine = services.semantic(connection_id)
        except KtxError:
            continue  # no layer yet for this connection
        for name, source in sorted(engine.sources.items()):
            for measure in source.measures:
                dims = _dimensions(source)
                for dim in dims[:1] or [None]:
                    query: dict[str, Any] = {"measures": [f"{name}.{measure.name}"]}
                    if dim is not None:
                        column = source.column(dim)
                        grain = {"field": f"{name}.{dim}", "granularity": "month"}
                        query["dimensions"] = [
                            grain if column is not None and column.type == "time" else f"{name}.{dim}"
                        ]
                    try:
                        compiled = compile_query(
                            services.project.root, connection_id, conn.driver, query,
                            ambiguous_paths=config.semantic_layer.ambiguousPaths,
                        )  # fmt: skip
                    except KtxError:
                        continue
                    by = f" by {dim}" if dim else ""
                    cases.append(
                        {
                            "id": f"{connection_id}.{name}.{measure.name}" + (f".{dim}" if dim else ""),
                            "question": f"What is {measure.description or measure.name.replace('_', ' ')}{by}?",
                            "connection": connection_id,
                            "query": query,
                            "expected": {"sql": compiled.sql.strip()},
                            "review": True,
                        }
                    )
                    if len(cases) >= limit:
                        return cases
    return cases


def write_examples(services: Services, *, force: bool = False) -> tuple[Path, int]:
    """Write `evals/examples.yaml` and commit it; an existing file is kept unless `force`."""
    from ktx.project.files import atomic_write
    from ktx.project.yamlio import dump_yaml

    root = services.project.root
    path = root / EXAMPLES
    if path.exists() and not force:
        raise KtxError(f"{EXAMPLES} already exists.", hint="Pass --force to replace it, or edit it.")
    cases = draft_cases(services)
    if not cases:
        raise KtxError(
            "Nothing to draft: no warehouse connection has semantic-layer measures yet.",
            hint="Run `ktx ingest <connection>` and define measures, or write evals/*.yaml by hand (docs/evals.md).",
        )
    header = (
        "# Drafted by `ktx eval init`: each expected.sql is what ktx compiles today. Check each one, then remove\n"
        "# `review: true` (docs/evals.md). `ktx eval` runs them; `ktx eval --agent` asks an agent the questions.\n"
    )
    atomic_write(path, header + dump_yaml({"cases": cases}))
    services.project.ensure_repository()
    services.project.git.commit([path], f"eval: draft {len(cases)} cases (to review)")
    return path, len(cases)
