"""Database ingest: scan one warehouse connection into `semantic-layer/<conn>/_schema/*.yaml`.

introspect → staged snapshot (content-hashed) → diff against the last completed run → memoized stages
(profile, descriptions, embeddings, relationships) → shards merged with human edits → one journaled commit →
search index refresh → report, run row and trace. Works with no LLM: descriptions then come from the profile.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.heap import give_back_free_heap
from ktx.ingest.apply import apply_files, file_changes, recover_interrupted
from ktx.ingest.report import IngestWarning, NoProgress, Progress, TargetResult
from ktx.ingest.shards import read_shards, render_shards
from ktx.ingest.state import IngestState, json_object_pieces, json_pieces
from ktx.ingest.trace import Trace
from ktx.scan import artifacts
from ktx.scan.enrich import DescriptionUpdate, describe_with_llm, embed_columns, embedding_text
from ktx.scan.profile import TOP_VALUES, TableStats, profile_infos
from ktx.scan.relationships.candidates import build_indexes, source_columns
from ktx.scan.relationships.discover import DiscoverySettings, discover_relationships
from ktx.scan.relationships.explain import report_details
from ktx.scan.relationships.names import clear_name_caches
from ktx.scan.snapshot import Snapshot, build_snapshot, content_hash, diff_tables, table_infos

ADAPTER = "live-database"
RAW_DIR = "raw-sources/{conn}/live-database/snapshot"


def new_run_id() -> str:
    millis = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while millis:
        millis, rem = divmod(millis, 36)
        out = digits[rem] + out
    return f"local-{out}"


def sync_id(run_id: str) -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S") + f"-{run_id}"


# Tables profiled between two checkpoints of the profile stage (what a killed run keeps).
PROFILE_CHECKPOINT = 1000


class _Stages:
    """Memoized stages: a completed stage of an interrupted run with the same inputs is reused."""

    def __init__(self, state: IngestState, run_id: str, resumable: list[str], trace: Trace) -> None:
        self.state, self.run_id, self.resumable, self.trace = state, run_id, resumable, trace
        self.resumed: list[str] = []
        self.completed: list[str] = []
        self.failed: list[str] = []

    def reuse(self, name: str, input_hash: str, *, record: bool = True) -> Any | None:
        """An interrupted run's completed output of `name` with these inputs, made this run's (None: none); a
        whole stage is recorded as resumed, a checkpoint (`record=False`) is not."""
        cached = self.state.stage(self.resumable, name, input_hash)
        if cached is not None:
            self.state.save_stage_stream(self.run_id, name, input_hash, json_pieces(cached))
            if record:
                self.resumed.append(name)
                self.trace.event("snapshot", "stage_resumed", data={"stage": name})
        return cached

    def run(self, name: str, inputs: Any, compute: Callable[[], Any]) -> Any:
        input_hash = content_hash(inputs)
        cached = self.reuse(name, input_hash)
        if cached is not None:
            return cached
        with self.trace.step("enrichment", name):
            try:
                output = compute()
            except KtxError as exc:
                self.failed.append(name)
                self.state.save_stage(self.run_id, name, input_hash, "failed", error=exc.message)
                raise
            # Saved before the step is reported finished: a run killed after the event can always resume it.
            self.state.save_stage_stream(self.run_id, name, input_hash, json_pieces(output))
        self.completed.append(name)
        return output

    def part(self, name: str, index: int, inputs: Any, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """One checkpoint of a long stage (`name#index`): an interrupted run's part with the same inputs is reused,
        so a run killed an hour into profiling resumes where it stopped. Returns (output, reused)."""
        part_name, input_hash = f"{name}#{index}", content_hash(inputs)
        cached = self.reuse(part_name, input_hash, record=False)
        if cached is not None:
            return cached, True
        output = compute()
        self.state.save_stage_stream(self.run_id, part_name, input_hash, json_pieces(output))
        return output, False


def _llm_identity(config: Any, llm: Any) -> dict[str, Any] | None:
    if llm is None:
        return None
    return {"backend": config.llm.provider.backend, "model": llm.model_for("candidateExtraction")}


def ingest_database(
    services: Any,
    connection_id: str,
    *,
    progress: Progress | None = None,
    query_history: bool = False,
    window_days: int | None = None,
) -> TargetResult:
    """Scan one warehouse connection (with `query_history`, also its query history, in the same run and commit).
    Never raises for warehouse, LLM or file problems: the result says."""
    progress = progress or NoProgress()
    project = services.project
    config = project.config
    conn_cfg = config.connections[connection_id]
    started = time.perf_counter()
    project.ensure_repository()
    recovered = recover_interrupted(project.root, project.git)
    state = IngestState(project.state)
    run_id = new_run_id()
    since = state.last_completed_at(connection_id)
    resumable = state.unfinished_runs(connection_id, since)
    previous = state.last_completed(connection_id)
    trace_rel = f".ktx/ingest-traces/{run_id}/trace.jsonl"
    secrets: list[str] = []

    def scrub(text: str) -> str:
        from ktx.warehouse.connector import scrub_secrets

        return scrub_secrets(text, secrets)

    trace = Trace(project.root / trace_rel, job_id=run_id, connection_id=connection_id, source_key=ADAPTER, scrub=scrub)
    state.start_run(run_id, connection_id, ADAPTER)
    trace.event("run", "ingest_started", data={"driver": conn_cfg.driver, "recoveredRuns": recovered})
    warnings: list[IngestWarning] = [
        IngestWarning("interrupted_run_rolled_back", f"run {r} was interrupted; its partial files were rolled back")
        for r in recovered
    ]
    base = {
        "runId": run_id,
        "connectionId": connection_id,
        "driver": conn_cfg.driver,
        "adapter": ADAPTER,
        "trigger": "cli",
        "tracePath": trace_rel,
    }
    try:
        result = _ScanRun(
            services,
            connection_id,
            conn_cfg,
            run_id,
            state,
            previous,
            resumable,
            trace,
            progress,
            warnings,
            secrets,
            base,
        ).execute((query_history, window_days))
    except KtxError as exc:
        message = scrub(exc.message)
        report = {**base, "status": "failed", "failure": message, "warnings": [w.to_json() for w in warnings]}
        report["createdAt"] = datetime.now(UTC).isoformat()
        state.save_report(run_id, connection_id, ADAPTER, "failed", _scrubbed(report, scrub), {})
        state.finish_run(run_id, "failed", sync_id=None, commit=None, error=message)
        trace.event("run", "ingest_finished", level="error", error=message)
        trace.close()
        return TargetResult(
            connection_id, conn_cfg.driver, "database-ingest", "failed", run_id, message, report,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
    except BaseException as exc:
        state.finish_run(run_id, "failed", sync_id=None, commit=None, error=f"{type(exc).__name__}: {exc}")
        trace.event("run", "ingest_finished", level="error", error=exc)
        trace.close()
        raise
    trace.event("run", "ingest_finished", duration_ms=(time.perf_counter() - started) * 1000)
    trace.close()
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def _scrubbed(report: dict[str, Any], scrub: Callable[[str], str]) -> dict[str, Any]:
    return json.loads(scrub(json.dumps(report, default=str)))


class _ScanRun:
    """One scan of a warehouse connection, as its named stages: introspect → query history → identity (an
    unchanged warehouse stops here) → profile → descriptions → embeddings → relationships → files → report →
    commit. Each stage reads what the earlier ones left on the run and leaves its own result."""

    def __init__(
        self,
        services: Any,
        connection_id: str,
        conn_cfg: Any,
        run_id: str,
        state: IngestState,
        previous: Any,
        resumable: list[str],
        trace: Trace,
        progress: Progress,
        warnings: list[IngestWarning],
        secrets: list[str],
        base: dict[str, Any],
    ) -> None:
        self.services, self.connection_id, self.conn_cfg = services, connection_id, conn_cfg
        self.run_id, self.state, self.previous, self.resumable = run_id, state, previous, resumable
        self.trace, self.progress, self.warnings, self.secrets, self.base = trace, progress, warnings, secrets, base
        self.project = services.project
        self.settings = self.project.config.scan
        self.history: Any = None
        self.history_error: KtxError | None = None
        self.enrichment: dict[str, str] = {}
        self.descriptions: dict[str, DescriptionUpdate] = {}
        self.embeddings: dict[tuple[str, str], list[float]] | None = None

    def execute(self, history_request: tuple[bool, int | None]) -> TargetResult:
        self.introspect()
        if history_request[0]:
            self.collect_history(history_request[1])
        self.identify()
        if self.is_unchanged():
            return self.unchanged_result()
        self.stages = _Stages(self.state, self.run_id, self.resumable, self.trace)
        self.tables = table_infos(self.snapshot)
        self.profile()
        self.describe()
        self.embed()
        self.discover()
        self.release_warehouse()
        files, shard_files, existing = self.render()
        history_report = self.history_outputs(files) if history_request[0] else None
        report = self.build_report(files, shard_files, existing, history_report)
        return self.commit(files, report)

    # ---- stages ------------------------------------------------------------------------------------------------
    def introspect(self) -> None:
        self.progress.stage("Connecting")
        self.connector = self.services.connector(self.connection_id)
        self.secrets.extend(self.connector.secret_values())
        scope = self.connector.scope()
        self.progress.stage("Inspecting database schema")
        with self.trace.step("snapshot", "introspect") as info:
            catalog = self.connector.introspect(scope)
            info["tables"] = len(catalog.tables)
        self.warnings += [IngestWarning.parse(w) for w in catalog.warnings]
        self.snapshot = build_snapshot(catalog, {"schemas": list(scope.schemas), "tables": list(scope.tables)})
        if not self.snapshot.tables:
            self.warnings.append(
                IngestWarning(
                    "empty_scope", f"{self.connection_id}: no tables or views in scope ({_scope_text(scope)})"
                )
            )

    def collect_history(self, window_days: int | None) -> None:
        from ktx.history.collect import collect

        self.progress.stage("Reading query history")
        with self.trace.step("query_history", "collect") as info:
            try:
                self.history = collect(self.connector, self.conn_cfg, self.snapshot, window_days=window_days)
                info.update(templates=self.history.template_count, kept=len(self.history.staged.templates))
                self.warnings += [IngestWarning.parse(w) for w in self.history.warnings]
            except KtxError as exc:
                self.history_error = exc
                info["error"] = exc.message
                self.warnings.append(
                    IngestWarning(
                        "query_history_unavailable",
                        exc.message + (f" {exc.hint}" if getattr(exc, "hint", None) else ""),
                    )
                )

    def identify(self) -> None:
        """What this run's result depends on (snapshot, enrichment runtime, settings, history), and the diff."""
        config = self.project.config
        self.mode = self.settings.enrichment.mode
        self.llm, self.provider = _enrichment_runtime(self.services, config, self.mode, self.warnings)
        provider = self.provider
        self.identity = {
            "mode": self.mode,
            "llm": _llm_identity(config, self.llm),
            "embeddings": getattr(provider, "name", None) and {"name": provider.name, "dims": provider.dimensions},
            "relationships": self.settings.relationships.model_dump(),
            "driver": self.conn_cfg.driver,
            "version": 1,
        }
        history_print = self.history.fingerprint() if self.history is not None else None
        self.input_hash = content_hash(
            {"snapshot": self.snapshot.fingerprint(), "identity": self.identity, "history": history_print}
        )
        self.state.set_input_hash(self.run_id, self.input_hash)
        prev_tables = (self.previous.hashes.get("tables") if self.previous else None) or {}
        self.diff = diff_tables(self.snapshot, prev_tables)
        self.trace.sync_id = self.sync_id = sync_id(self.run_id)
        self.trace.event("diff", "diff_computed", data=self.diff.summary())

    def is_unchanged(self) -> bool:
        previous = self.previous
        shard_paths = (previous.report.get("artifactPaths") or {}).get("manifestShards", []) if previous else []
        return bool(
            self.history_error is None
            and previous
            and previous.input_hash == self.input_hash
            and all((self.project.root / p).is_file() for p in shard_paths)
        )

    def unchanged_result(self) -> TargetResult:
        previous = self.previous
        report = {
            **self.base,
            "status": "done",
            "unchanged": True,
            "previousRunId": previous.run_id,
            "syncId": previous.sync_id,
            "diffSummary": self.diff.summary(),
            "relationships": previous.report.get("relationships"),
            "primaryKeys": previous.report.get("primaryKeys"),
            "relationshipDetails": previous.report.get("relationshipDetails"),
            "inferredKeys": previous.report.get("inferredKeys"),
            "artifactPaths": previous.report.get("artifactPaths"),
            "warnings": [w.to_json() for w in self.warnings],
            "commit": None,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        _refresh_search(self.services, self.connection_id, self.warnings, self.trace)
        report["warnings"] = [w.to_json() for w in self.warnings]
        self.state.save_report(self.run_id, self.connection_id, ADAPTER, "done", report, previous.hashes)
        self.state.finish_run(self.run_id, "done", sync_id=previous.sync_id, commit=None)
        return TargetResult(
            self.connection_id, self.conn_cfg.driver, "database-ingest", "unchanged", self.run_id, None, report
        )

    def profile(self) -> None:
        settings, previous, snapshot, progress = self.settings, self.previous, self.snapshot, self.progress
        previous_stats = _previous_stats(self.state, previous)
        to_profile = [t for t in self.tables if t.key not in self.diff.unchanged or t.key not in previous_stats]

        inputs = {
            "snapshot": snapshot.fingerprint(),
            "rows": settings.relationships.profileSampleRows,
            "previous": previous.run_id if previous else None,
        }

        merged: dict[str, TableStats] = {k: v for k, v in previous_stats.items() if k in snapshot.tables}

        def batch(tables: list[Any]) -> dict[str, Any]:
            fresh = profile_infos(
                self.connector,
                tables,
                sample_rows=settings.relationships.profileSampleRows,
                concurrency=settings.relationships.profileConcurrency,
                on_done=lambda _key: progress.advance(),
            )
            merged.update(fresh)
            return {k: v.to_json() for k, v in fresh.items()}

        progress.stage("Profiling tables", len(to_profile))
        input_hash = content_hash(inputs)
        whole = self.stages.reuse("profile", input_hash)
        if whole is not None:  # an interrupted run profiled everything: reuse it whole
            self._profiled({k: TableStats.from_json(v) for k, v in whole.items()})
            return
        reused = 0
        with self.trace.step("enrichment", "profile") as info:
            for index, start in enumerate(range(0, len(to_profile), PROFILE_CHECKPOINT)):
                tables = to_profile[start : start + PROFILE_CHECKPOINT]
                part_inputs = {**inputs, "tables": [t.key for t in tables]}
                output, was_reused = self.stages.part("profile", index, part_inputs, lambda t=tables: batch(t))
                if was_reused:
                    reused += len(tables)
                    progress.advance(len(tables))
                    merged.update((k, TableStats.from_json(v)) for k, v in output.items())
                del output  # the objects are kept; their JSON only went to the checkpoint
            info.update(tables=len(to_profile), resumed=reused)
        if to_profile and reused == len(to_profile):
            self.stages.resumed.append("profile")
        elif reused:
            self.stages.resumed.append(f"profile ({reused:,} of {len(to_profile):,} tables)")
            self.stages.completed.append("profile")
        else:
            self.stages.completed.append("profile")
        # The next run reads the whole (its unchanged tables' stats); the checkpoints have done their job.
        self._profiled(merged, save=input_hash)
        self.state.drop_stage_parts(self.run_id, "profile")
        give_back_free_heap()  # the saved JSON's space, before the relationship phase builds on top of it

    def _profiled(self, stats: dict[str, TableStats], save: str | None = None) -> None:
        """Keep the profile as objects only (a JSON copy of 100,000 tables' profiles is ~500 MB): its text is
        made once, to save (`save`: the stage's input hash) and to fingerprint what relationships depend on."""
        self.stats = stats
        if save is not None:
            self.profile_hash = self.state.save_stage_stream(self.run_id, "profile", save, _stats_chunks(stats))
        else:
            digest = hashlib.sha256()
            for chunk in _stats_chunks(stats):
                digest.update(chunk.encode("utf-8"))
            self.profile_hash = digest.hexdigest()
        for table_stats in self.stats.values():
            self.warnings += [IngestWarning.parse(w) for w in table_stats.warnings]
        self.enrichment["profile"] = "completed"

    def describe(self) -> None:
        llm, snapshot, progress, warnings = self.llm, self.snapshot, self.progress, self.warnings
        if llm is None:
            self.enrichment["descriptions"] = "deterministic" if self.mode != "none" else "skipped"
            return
        to_describe = {
            k: snapshot.tables[k] for k in sorted(snapshot.tables) if k not in self.diff.unchanged or not self.previous
        }

        def compute() -> list[dict[str, Any]]:
            progress.stage("Describing tables (LLM)", len(to_describe))
            updates, notes, failures = describe_with_llm(
                llm,
                self.connector,
                self.conn_cfg.driver,
                to_describe,
                self.stats,
                on_done=lambda _k: progress.advance(),
            )
            warnings.extend(IngestWarning.parse(n) for n in notes)
            if to_describe and failures == len(to_describe):
                raise KtxError(f"every description call failed ({notes[-1] if notes else 'no detail'})")
            return [u.to_json() for u in updates]

        try:
            out = self.stages.run(
                "descriptions", {"snapshot": snapshot.fingerprint(), "llm": self.identity["llm"]}, compute
            )
            self.descriptions = {u["table"]: DescriptionUpdate.from_json(u) for u in out}
            self.enrichment["descriptions"] = "completed"
        except KtxError as exc:
            self.enrichment["descriptions"] = "failed"
            warnings.append(
                IngestWarning("enrichment_failed", f"descriptions: {exc.message}; previous AI descriptions were kept")
            )

    def embed(self) -> None:
        provider = self.provider
        if provider is None:
            self.enrichment["embeddings"] = "skipped"
            return

        def compute() -> dict[str, list[float]]:
            self.progress.stage("Embedding columns")
            texts = _embedding_texts(self.snapshot, self.tables, self.stats, self.descriptions)
            return {f"{t}\x1f{c}": v for (t, c), v in embed_columns(provider, texts).items()}

        try:
            out = self.stages.run(
                "embeddings",
                {"snapshot": self.snapshot.fingerprint(), "provider": self.identity["embeddings"]},
                compute,
            )
            self.embeddings = {tuple(k.split("\x1f", 1)): v for k, v in out.items()}  # type: ignore[misc]
            self.enrichment["embeddings"] = "completed"
        except KtxError as exc:
            self.enrichment["embeddings"] = "failed"
            self.warnings.append(IngestWarning("embedding_unavailable", f"column embeddings: {exc.message}"))

    def discover(self) -> None:
        settings, tables = self.settings, self.tables
        observed = []
        if self.history is not None:
            from ktx.history.usage import observed_edges

            observed = observed_edges(self.history.staged, self.history.keys, self.history.columns)
        relationships: dict[str, Any] = {"accepted": [], "review": [], "rejected": [], "skipped": [], "primaryKeys": []}
        if settings.relationships.enabled and tables:
            use_llm = self.llm if settings.relationships.llmProposals else None
            rel_settings = DiscoverySettings.from_config(settings.relationships)

            def compute() -> dict[str, Any]:
                self.progress.stage("Discovering relationships")
                result = discover_relationships(
                    tables,
                    self.stats,
                    self.connector,
                    rel_settings,
                    llm=use_llm,
                    embeddings=self.embeddings,
                    observed=observed,
                    progress=lambda label: self.progress.stage(f"Relationships: {label}"),
                )
                return {
                    **result.to_json(self.connection_id, consume=True),
                    "diagnostics": result.diagnostics,
                    "warnings": result.warnings,
                }

            relationships = self.stages.run(
                "relationships",
                {
                    "snapshot": self.snapshot.fingerprint(),
                    "profile": self.profile_hash,
                    "settings": self.identity["relationships"],
                    "llm": self.identity["llm"] if use_llm else None,
                    "embeddings": bool(self.embeddings),
                    "observed": sorted(e.id for e in observed),
                },
                compute,
            )
            self.warnings += [IngestWarning.parse(w) for w in relationships.get("warnings", [])]
            self.enrichment["relationships"] = "completed"
        else:
            self.enrichment["relationships"] = "skipped"
            for table in tables:
                if table.declared_pk:
                    relationships["primaryKeys"].append(
                        {"table": table.key, "columns": list(table.declared_pk), "source": "declared"}
                    )
        self.relationships = relationships

    def release_warehouse(self) -> None:
        """The scan's queries are over: an embedded warehouse gives back what it holds (DuckDB's instance of a
        100,000-table file is 1.4 GB) before the files are made; a later query opens it again."""
        release = getattr(self.connector, "release_cache", None)
        if release is not None:
            release(done=True)

    def render(self) -> tuple[dict[str, str | bytes | None], dict[str, str | None], Any]:
        """The `_schema` shards (with query-history usage and narratives when asked) and the raw snapshot files."""
        self.progress.stage("Writing schema files")
        root, history = self.project.root, self.history
        existing = read_shards(root, self.connection_id)
        primary_keys = {pk["table"]: pk["columns"] for pk in self.relationships.get("primaryKeys", [])}
        usage = None
        self.told: dict[str, Any] = {"tables": {}, "patterns": {}}
        if history is not None:
            from ktx.history.usage import usage_blocks

            if self.llm is not None and history.staged.templates:
                self.told = _history_narratives(
                    self.stages, self.llm, history, self.identity, self.warnings, self.enrichment, self.progress
                )
            previous_usage = {k: e.get("usage") for k, (_, e) in existing.entries.items() if e.get("usage")}
            usage = usage_blocks(
                history.staged, history.keys, history.columns, previous_usage, history.fetched_at, self.told["tables"]
            )
        shard_files = render_shards(
            self.snapshot,
            self.connector.dialect,
            existing,
            connection_id=self.connection_id,
            stats=self.stats,
            primary_keys=primary_keys,
            accepted=self.relationships["accepted"],
            descriptions=self.descriptions,
            deterministic=self.mode != "none",
            unchanged=set(self.diff.unchanged) if self.previous else set(),
            usage=usage,
        )
        clear_name_caches()
        files: dict[str, str | bytes | None] = dict(shard_files)
        self.raw = RAW_DIR.format(conn=self.connection_id)
        files.update(_raw_files(root, self.raw, self.snapshot, self.relationships, self.descriptions))
        return files, shard_files, existing

    def history_outputs(self, files: dict[str, str | bytes | None]) -> dict[str, Any] | None:
        from ktx.history.collect import history_config

        archive_days = history_config(self.conn_cfg).staleArchiveAfterDays
        return _history_files(
            self.project.root,
            self.connection_id,
            self.history,
            self.history_error,
            self.relationships,
            files,
            archive_days,
            self.told["patterns"],
        )

    def build_report(
        self,
        files: dict[str, str | bytes | None],
        shard_files: dict[str, str | None],
        existing: Any,
        history_report: dict[str, Any] | None,
    ) -> dict[str, Any]:
        relationships, diff, raw = self.relationships, self.diff, self.raw
        kept = {p for p in existing.files if p not in shard_files}
        all_shards = sorted(kept | {p for p, text in shard_files.items() if text is not None})
        pk_counts = {
            "declared": sum(1 for pk in relationships.get("primaryKeys", []) if pk["source"] == "declared"),
            "inferred": sum(1 for pk in relationships.get("primaryKeys", []) if pk["source"] != "declared"),
        }
        rel_counts = {k: len(relationships.get(k, [])) for k in ("accepted", "review", "rejected", "skipped")}
        self.warnings += _layer_warnings(self.project.root, self.connection_id, self.connector.dialect, shard_files)
        report: dict[str, Any] = {
            **self.base,
            "status": "done",
            "syncId": self.sync_id,
            "mode": self.mode,
            "diffSummary": diff.summary(),
            "changes": {"added": diff.added, "modified": diff.modified, "deleted": diff.deleted},
            "enrichment": self.enrichment,
            "enrichmentState": {
                "resumed": self.stages.resumed,
                "completed": self.stages.completed,
                "failedStages": self.stages.failed,
            },
            "relationships": rel_counts,
            "primaryKeys": pk_counts,
            # What a person reviews: each accepted, to-review and rejected link with its evidence, and the keys ktx
            # inferred.
            "relationshipDetails": report_details(relationships),
            "inferredKeys": [
                {"table": pk["table"], "columns": pk["columns"], "source": pk["source"], "score": pk.get("score")}
                for pk in relationships.get("primaryKeys", [])
                if pk["source"] != "declared"
            ],
            "artifactPaths": {
                "rawSourcesDir": raw,
                "manifestShards": all_shards,
                "reportPath": f"{raw}/scan-report.json",
                "profilePath": str(artifacts.local_profile_path(self.connection_id)),
            },
            "tableCount": len(self.snapshot.tables),
            "createdAt": datetime.now(UTC).isoformat(),
        }
        if history_report is not None:
            report["queryHistory"] = history_report
        report["warnings"] = [w.to_json() for w in _dedupe(self.warnings)]
        report = _scrubbed(report, self.trace.scrub)
        files[f"{raw}/scan-report.json"] = (
            json.dumps({k: v for k, v in report.items() if k != "commit"}, indent=2) + "\n"
        )
        return report

    def commit(self, files: dict[str, str | bytes | None], report: dict[str, Any]) -> TargetResult:
        project, diff, scrub = self.project, self.diff, self.trace.scrub
        _write_local_profile(
            project.root,
            self.connection_id,
            self.snapshot,
            self.stats,
            {
                "syncId": report["syncId"],
                "profileSampleRows": project.config.scan.relationships.profileSampleRows,
                "profiledAt": report["createdAt"],
            },
        )
        self.stats = {}  # written: what follows reads the profile from its file
        diff_text = f"+{len(diff.added)}/~{len(diff.modified)}/-{len(diff.deleted)}/={len(diff.unchanged)}"
        message = (
            f"ingest(live-database): {self.connection_id} {self.run_id} syncId={report['syncId']} diff={diff_text}"
        )
        self.progress.stage("Committing")
        with self.trace.step("squash", "commit") as info:
            commit = apply_files(project.root, project.git, self.run_id, files, message)
            info["commit"] = commit
            info["files"] = len(files)
        # Applied: the texts (a 100,000-table scan's are hundreds of MB) are not kept while search re-reads them.
        files.clear()
        report["commit"] = commit
        _refresh_search(self.services, self.connection_id, self.warnings, self.trace)
        report["warnings"] = [w.to_json() for w in _dedupe(self.warnings)]
        hashes = {
            "tables": {key: self.snapshot.hashes[path] for key, path in self.snapshot.table_paths.items()},
            "files": self.snapshot.hashes,
        }
        self.state.save_report(self.run_id, self.connection_id, ADAPTER, "done", _scrubbed(report, scrub), hashes)
        self.state.finish_run(self.run_id, "done", sync_id=report["syncId"], commit=commit)
        driver = self.conn_cfg.driver
        if self.history_error is not None:
            # The scan landed; the query history the user asked for did not, and the exit code must say so.
            failure = f"query history: {scrub(self.history_error.message)}"
            return TargetResult(self.connection_id, driver, "database-ingest", "failed", self.run_id, failure, report)
        return TargetResult(self.connection_id, driver, "database-ingest", "done", self.run_id, None, report)


def _scope_text(scope: Any) -> str:
    if scope.tables:
        return "enabled_tables: " + ", ".join(scope.tables)
    if scope.schemas:
        return "schemas: " + ", ".join(scope.schemas)
    return "whole database"


def _layer_warnings(
    root: Path, connection_id: str, dialect: str, shard_files: dict[str, str | None]
) -> list[IngestWarning]:
    """The connection's layer as it will be after this run — the new shards composed with people's overlays — is
    loaded and checked before the commit; what would not load or would be left out of the join graph is named."""
    from ktx.semantic.compiler import SemanticEngine
    from ktx.semantic.layer import layer_with_changes
    from ktx.semantic.loader import load_directory

    shards = {rel: text for rel, text in shard_files.items() if rel.startswith(f"semantic-layer/{connection_id}/")}
    with layer_with_changes(root, connection_id, shards) as copy:
        try:
            layer = load_directory(copy, check_joins=False)
            graph_errors = SemanticEngine(layer.sources, dialect).graph.errors
        except KtxError as exc:
            return [
                IngestWarning("layer_invalid", f"{connection_id}: the semantic layer would not load: {exc.message}")
            ]
    return [IngestWarning("join_left_out", f"{connection_id}: {error}") for error in graph_errors]


def _dedupe(warnings: list[IngestWarning]) -> list[IngestWarning]:
    return list(dict.fromkeys(warnings))


def _enrichment_runtime(services: Any, config: Any, mode: str, warnings: list[IngestWarning]) -> tuple[Any, Any]:
    """The LLM runtime (mode `llm` only) and the embedding provider, each None with a warning when unusable."""
    llm = provider = None
    if mode == "llm":
        if config.llm.provider.backend == "none":
            warnings.append(
                IngestWarning(
                    "llm_unavailable",
                    "scan.enrichment.mode is llm but llm.provider.backend is none; descriptions come from the profile",
                )
            )
        else:
            try:
                llm = services.llm()
            except KtxError as exc:
                warnings.append(IngestWarning("llm_unavailable", f"{exc.message}; descriptions come from the profile"))
    if mode != "none":
        from ktx.llm.embeddings import create_embedding_provider

        try:
            provider = create_embedding_provider(config, services.project.root, scope="scan")
        except KtxError as exc:
            warnings.append(IngestWarning("embedding_unavailable", exc.message))
    return llm, provider


def _previous_stats(state: IngestState, previous: Any) -> dict[str, TableStats]:
    saved = (state.stage_output(previous.run_id, "profile") or {}) if previous is not None else {}
    return {k: TableStats.from_json(v) for k, v in saved.items()}


def _stats_chunks(stats: dict[str, TableStats]) -> Iterator[str]:
    """The profile stage's JSON text, table by table in key order: made and hashed (and saved) piece by piece,
    never whole — 100,000 tables' profiles are ~450 MB of text, which with its UTF-8 copy and SQLite's was the
    largest moment of such a scan."""
    return json_object_pieces((key, stats[key].to_json()) for key in sorted(stats))


def _embedding_texts(
    snapshot: Snapshot, tables: list[Any], stats: dict[str, TableStats], descriptions: dict[str, DescriptionUpdate]
) -> dict[tuple[str, str], str]:
    """Texts for the columns discovery can use: key-shaped sources and key-evidence targets."""
    indexes = build_indexes(tables, stats)
    wanted: set[tuple[str, str]] = set()
    for table in tables:
        wanted |= {(table.key, c.name) for c, _ in source_columns(indexes.names[table.key], stats.get(table.key))}
        wanted |= {(table.key, c) for c, _, _ in indexes.targets.get(table.key, [])}
    texts = {}
    for key, column in sorted(wanted):
        table = snapshot.tables[key]
        update = descriptions.get(key)
        table_stats = stats.get(key)
        col_stats = table_stats.columns.get(column) if table_stats else None
        fks = [
            f"{fk.ref_table}.{fk.ref_columns[i]}"
            for fk in table.foreign_keys
            for i, c in enumerate(fk.columns)
            if c == column and i < len(fk.ref_columns)
        ]
        texts[(key, column)] = embedding_text(
            key,
            table,
            column,
            table_description=update.table_description if update else None,
            column_description=update.columns.get(column) if update else None,
            foreign_keys=fks,
            values=col_stats.top_values if col_stats else [],
        )
    return texts


def _raw_files(
    root: Path, raw: str, snapshot: Snapshot, relationships: dict[str, Any], descriptions: dict[str, DescriptionUpdate]
) -> dict[str, str | None]:
    """The committed structural snapshot and enrichment artifacts (no sampled values: those stay in .ktx)."""
    files: dict[str, str | None] = {}
    for rel, document in snapshot.all_documents():
        files[f"{raw}/{rel}"] = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    enrichment = f"{raw}/enrichment"
    files[f"{enrichment}/relationships.json"] = (
        json.dumps(
            {
                k: relationships.get(k, [])
                for k in ("connectionId", "accepted", "review", "rejected", "skipped", "primaryKeys")
            },
            indent=2,
        )
        + "\n"
    )
    files[f"{enrichment}/relationship-diagnostics.json"] = (
        json.dumps(relationships.get("diagnostics", {}), indent=2) + "\n"
    )
    if descriptions:
        files[f"{enrichment}/descriptions.json"] = (
            json.dumps(
                {"descriptionUpdates": [u.to_json() for _, u in sorted(descriptions.items())]},
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
    # Only files whose content changes are rewritten (an unchanged table keeps its file and its git blob); the
    # file of a table that is gone is removed.
    return file_changes(root, files, [root / raw / "tables"])


def _write_local_profile(
    root: Path, connection_id: str, snapshot: Snapshot, stats: dict[str, TableStats], coverage: dict[str, Any]
) -> None:
    """The profile with sampled values, for the dictionary lane and entity details: local, never committed. Written
    table by table (one JSON document, never whole in memory)."""
    from ktx.project.files import atomic_write

    def table_entry(key: str, table: Any) -> dict[str, Any]:
        table_stats = stats.get(key)
        columns = []
        for column in table.columns:
            col = table_stats.columns.get(column.name) if table_stats else None
            columns.append(
                {
                    "name": column.name,
                    "type": column.native_type,
                    "dimensionType": column.type,
                    "distinctCount": col.distinct_count if col else None,
                    "nullCount": col.null_count if col else None,
                    "sampled": col.sampled if col else None,
                    "minValue": col.min_value if col else None,
                    "maxValue": col.max_value if col else None,
                    "sampleValues": col.top_values if col else [],
                }
            )
        return {
            "name": key,
            "table": table.qualified_name,
            "rowCount": table_stats.row_count if table_stats else None,
            "columns": columns,
        }

    def pieces() -> Iterator[str]:
        head = {"connectionId": connection_id, **coverage, "sampleValuesPerColumn": TOP_VALUES}
        yield json.dumps(head)[:-1] + ', "tables": ['
        for i, key in enumerate(sorted(snapshot.tables)):
            yield ("," if i else "") + json.dumps(table_entry(key, snapshot.tables[key]))
        yield "]}\n"

    atomic_write(root / artifacts.local_profile_path(connection_id), pieces())


def _history_files(
    root: Path,
    connection_id: str,
    history: Any,
    error: KtxError | None,
    relationships: dict[str, Any],
    files: dict[str, str | bytes | None],
    archive_days: int,
    narratives: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Add the staged history and the pattern pages to `files`; the report's queryHistory section."""
    if history is None:
        if error is None:
            return None
        return {"status": "failed", "message": error.message, "hint": getattr(error, "hint", None)}
    from ktx.history.collect import RAW_DIR as HISTORY_DIR
    from ktx.history.usage import existing_pattern_pages, pattern_pages, staged_files

    staged = history.staged
    raw = HISTORY_DIR.format(conn=connection_id)
    manifest = {
        "source": "historic-sql",
        "connectionId": connection_id,
        "dialect": history.dialect,
        "fetchedAt": history.fetched_at,
        "window": history.window,
        "snapshotRowCount": history.template_count,
        "keptTemplates": len(staged.templates),
        "touchedTableCount": len(staged.tables),
        "dropped": dict(sorted(staged.dropped.items())),
        "parseFailures": staged.parse_failures,
        "parseFailureSample": staged.parse_failure_sample,
        "warnings": history.warnings,
    }
    # A table no longer queried loses its staged file.
    files.update(file_changes(root, staged_files(raw, staged, manifest), [root / raw / "tables"]))
    from ktx.history.narratives import PatternNarrative

    told = {tuple(k.split("+")): PatternNarrative(**v) for k, v in (narratives or {}).items()}
    pages = pattern_pages(
        staged, history.keys, connection_id, existing_pattern_pages(root), history.fetched_at, archive_days, told
    )
    files.update(file_changes(root, pages))
    observed_accepted = [e for e in relationships.get("accepted", []) if "query_history" in (e.get("reasons") or [])]
    return {
        "status": "done",
        "templates": history.template_count,
        "kept": len(staged.templates),
        "tablesWithUsage": len(staged.tables),
        "patternPages": sorted(pages),
        "dropped": dict(sorted(staged.dropped.items())),
        "parseFailures": staged.parse_failures,
        "parseFailureSample": staged.parse_failure_sample,
        "joinsAcceptedFromHistory": len(observed_accepted),
        "stagedDir": raw,
    }


def _history_narratives(
    stages: _Stages,
    llm: Any,
    history: Any,
    identity: dict[str, Any],
    warnings: list[IngestWarning],
    enrichment: dict[str, str],
    progress: Progress,
) -> dict[str, Any]:
    """Memoized LLM narratives for queried tables and pattern pages; a failure keeps the deterministic text."""
    from ktx.history.narratives import pattern_narratives, table_narratives
    from ktx.history.usage import pattern_groups

    def compute() -> dict[str, Any]:
        progress.stage("Describing query history (LLM)")
        tables, notes = table_narratives(llm, history.staged, history.keys)
        patterns, more = pattern_narratives(llm, pattern_groups(history.staged))
        if not tables and not patterns and (notes or more):  # every call failed
            raise KtxError((notes + more)[0])
        return {
            "tables": tables,
            "patterns": {"+".join(k): v.model_dump() for k, v in patterns.items()},
            "warnings": notes + more,
        }

    try:
        out = stages.run("history_narratives", {"history": history.fingerprint(), "llm": identity["llm"]}, compute)
    except KtxError as exc:
        enrichment["queryHistoryNarratives"] = "failed"
        warnings.append(IngestWarning("enrichment_failed", f"query-history narratives: {exc.message}"))
        return {"tables": {}, "patterns": {}}
    warnings.extend(IngestWarning.parse(w) for w in out.get("warnings", []))
    enrichment["queryHistoryNarratives"] = "completed"
    return out


def _refresh_search(services: Any, connection_id: str, warnings: list[IngestWarning], trace: Trace) -> None:
    with trace.step("index_sync", "search_refresh"):
        try:
            services.search.sync_sl_connection(connection_id)
        except KtxError as exc:
            warnings.append(IngestWarning("search_index_failed", f"search index not refreshed: {exc.message}"))
