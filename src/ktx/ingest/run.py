"""The ingest capability: plan targets (databases before context sources, each sorted by id) and run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ktx.errors import KtxError, UsageError
from ktx.ingest.report import NoProgress, Progress, TargetResult
from ktx.project.config import SOURCE_DRIVERS, WAREHOUSE_DRIVERS


@dataclass(frozen=True)
class Target:
    connection_id: str
    driver: str
    operation: str  # database-ingest | source-ingest


@dataclass
class IngestOutcome:
    targets: list[Target]
    results: list[TargetResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": {
                "targets": [
                    {"connectionId": t.connection_id, "driver": t.driver, "operation": t.operation}
                    for t in self.targets
                ],
                "warnings": self.warnings,
            },
            "results": [r.to_json() for r in self.results],
            "failed": sum(r.failed for r in self.results),
        }


def plan_targets(config: Any, connection_id: str | None, *, all_: bool) -> list[Target]:
    connections = config.connections
    if connection_id and all_:
        raise UsageError("Pass a connection id or --all, not both.")
    if connection_id:
        if connection_id not in connections:
            known = ", ".join(sorted(connections)) or "none"
            raise KtxError(
                f'Connection "{connection_id}" is not configured in ktx.yaml', hint=f"Configured connections: {known}."
            )
        ids = [connection_id]
    else:
        ids = sorted(connections)
        if not ids:
            raise KtxError("No connections configured.", hint="Run `ktx setup` to add a warehouse connection.")
    targets = []
    for cid in ids:
        driver = connections[cid].driver
        if driver in WAREHOUSE_DRIVERS:
            targets.append(Target(cid, driver, "database-ingest"))
        elif driver in SOURCE_DRIVERS:
            targets.append(Target(cid, driver, "source-ingest"))
        else:
            raise KtxError(f'Connection "{cid}" has driver {driver!r}, which ktx cannot ingest.')
    return sorted(targets, key=lambda t: (t.operation != "database-ingest", t.connection_id))


def run_ingest(
    services: Any,
    connection_id: str | None = None,
    *,
    all_: bool = False,
    fail_fast: bool = False,
    progress_for: Callable[[Target, int, int], Progress] | None = None,
    query_history: bool = False,
    window_days: int | None = None,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> IngestOutcome:
    """Ingest one connection, or every connection; a failed target does not stop the others unless fail_fast.
    `query_history` (one connection only) also reads the warehouse's query history in the same run.
    One ingest writes to a project at a time: a second one refuses, or with `wait` waits its turn."""
    from ktx.project.lock import project_lock

    with project_lock(services.project.root, "ktx ingest", wait=wait, on_wait=on_wait):
        return _run_targets(
            services, connection_id, all_, fail_fast, progress_for, query_history=query_history, window_days=window_days
        )


def _run_targets(
    services: Any,
    connection_id: str | None,
    all_: bool,
    fail_fast: bool,
    progress_for: Callable[[Target, int, int], Progress] | None,
    *,
    query_history: bool,
    window_days: int | None,
) -> IngestOutcome:
    from ktx.ingest.database import ingest_database

    targets = plan_targets(services.project.config, connection_id, all_=all_)
    if query_history or window_days is not None:
        from ktx.history.collect import SUPPORTED

        if not connection_id:
            raise UsageError("--query-history needs one connection id, not --all.")
        if window_days is not None and not query_history:
            raise UsageError("--query-history-window-days is only valid with --query-history.")
        driver = targets[0].driver
        if driver not in SUPPORTED:
            raise UsageError(
                f"--query-history is not available for {driver} connections in this version of ktx "
                f"(supported: {', '.join(SUPPORTED)})."
            )
    outcome = IngestOutcome(targets)
    for index, target in enumerate(targets, start=1):
        progress = progress_for(target, index, len(targets)) if progress_for else NoProgress()
        if target.operation == "source-ingest":
            from ktx.sources.run import ingest_source

            outcome.results.append(ingest_source(services, target.connection_id, progress=progress))
            continue
        result = ingest_database(
            services, target.connection_id, progress=progress, query_history=query_history, window_days=window_days
        )
        outcome.results.append(result)
        if result.failed and fail_fast:
            for rest in targets[index:]:
                outcome.results.append(
                    TargetResult(
                        rest.connection_id,
                        rest.driver,
                        rest.operation,
                        "skipped",
                        None,
                        "skipped after a failure (--fail-fast)",
                    )
                )
            break
    return outcome
