"""`ktx ingest <source connection>` for file-based context sources: fetch (a local directory, or a git repository
cloned into `.ktx/cache/<driver>/<connection>`), project deterministically onto the target warehouse's scanned
manifest, check the semantic layer still loads, and commit once. dbt and MetricFlow have projections in this
version; LookML and the API sources do not yet."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ktx.errors import KtxError
from ktx.ingest.apply import apply_files, file_changes
from ktx.ingest.report import IngestWarning, NoProgress, Progress, TargetResult
from ktx.project.config import WAREHOUSE_DRIVERS

PROJECTED = ("dbt", "metricflow", "lookml", "metabase", "notion", "looker")
API_SOURCES = ("metabase", "notion", "looker")


def _resolve_ref(project: Any, value: str | None, field: str) -> str | None:
    from ktx.project.refs import resolve_reference

    return resolve_reference(value, field=field, base_dir=project.root) if value else None


def fetch(project: Any, connection_id: str, conn: Any, *, cache_dir: Path | None = None) -> tuple[Path, list[str]]:
    """The source's directory and the secrets to scrub from messages (a clone goes to `cache_dir`, by default
    `.ktx/cache/<driver>/<connection>`)."""
    source_dir = getattr(conn, "source_dir", None)
    url = getattr(conn, "repo_url", None) or getattr(conn, "repoUrl", None)
    subpath = getattr(conn, "path", None) or ""
    if source_dir:
        folder = (project.root / source_dir).resolve()
        if not folder.is_dir():
            raise KtxError(f"connections.{connection_id}.source_dir {source_dir} is not a directory.")
        return _inside_subpath(folder, subpath, connection_id), []
    if not url:
        raise KtxError(f"connections.{connection_id} needs source_dir or repo_url.")
    check_clone_url(url, f"connections.{connection_id}.repo_url")
    token = _resolve_ref(project, getattr(conn, "auth_token_ref", None), f"connections.{connection_id}.auth_token_ref")
    target = cache_dir or project.root / ".ktx" / "cache" / conn.driver / connection_id
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    clone_url = url
    if token and url.startswith("https://"):
        parts = urlsplit(url)
        clone_url = urlunsplit(parts._replace(netloc=f"x-access-token:{token}@{parts.hostname}"))
    args = ["git", "clone", "--quiet", "--depth", "1"]
    if getattr(conn, "branch", None):
        args += ["--branch", conn.branch]
    args.append("--")  # the URL can never be read as an option (`--upload-pack=…`)
    secrets = [token] if token else []
    try:
        done = subprocess.run(
            [*args, clone_url, str(target)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except subprocess.TimeoutExpired:
        raise KtxError(f"Cloning {url} took longer than 5 minutes.") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.strip().splitlines() if ln.strip()] or ["git clone failed"]
        message = next((ln.removeprefix("fatal: ") for ln in lines if ln.startswith("fatal:")), lines[0])
        for secret in secrets:
            message = message.replace(secret, "***")
        raise KtxError(f"Cannot clone {url}: {message}")
    return _inside_subpath(target, subpath, connection_id), secrets


_CLONE_URL = re.compile(r"^(?:https://|ssh://|file://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)[^\s]+$")


def check_clone_url(url: str, where: str) -> None:
    """Only https://, ssh://, git@host:path and file:// reach git: no `ext::` transport, no option-like text."""
    if not _CLONE_URL.match(url) or url.startswith("-"):
        raise KtxError(
            f"{where} {url!r} is not a repository URL ktx clones.",
            hint="Use https://…, ssh://…, git@host:path or file://….",
        )


def _inside_subpath(folder: Path, subpath: str, connection_id: str) -> Path:
    from ktx.sources.files import subfolder

    problems: list[str] = []
    inner = subfolder(folder, subpath, "source", problems, f"connections.{connection_id}.path")
    if inner is None:
        raise KtxError(f"connections.{connection_id}.path {subpath!r} leaves the source's folder.")
    return inner


def duplicated_columns(root: Path, warehouse: str) -> dict[tuple[str, str], str]:
    """(table, column) → evidence, for columns the warehouse's last scan saw repeated values in: a join onto one
    of them is not many-to-one, whatever a source project says."""
    from ktx.scan.artifacts import latest_profile

    path = latest_profile(root, warehouse)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[tuple[str, str], str] = {}
    for table in data.get("tables") or []:
        for column in table.get("columns") or []:
            sampled, distinct = column.get("sampled"), column.get("distinctCount")
            nulls = column.get("nullCount") or 0
            if isinstance(sampled, int) and isinstance(distinct, int) and distinct < sampled - nulls:
                evidence = f"{distinct} distinct values in {sampled - nulls} non-null sampled rows"
                out[(str(table.get("name")), str(column.get("name")).lower())] = evidence
    return out


def target_warehouse(config: Any, connection_id: str, conn: Any) -> str:
    wanted = getattr(conn, "warehouse_connection_id", None) or getattr(conn, "warehouseConnectionId", None)
    warehouses = sorted(c for c, v in config.connections.items() if v.driver in WAREHOUSE_DRIVERS)
    if wanted:
        if wanted not in warehouses:
            raise KtxError(
                f"connections.{connection_id}.warehouse_connection_id {wanted!r} is not a warehouse connection."
            )
        return str(wanted)
    if len(warehouses) == 1:
        return warehouses[0]
    raise KtxError(
        f"connections.{connection_id} needs warehouse_connection_id: the project has "
        f"{'no' if not warehouses else len(warehouses)} warehouse connections."
    )


def ingest_source(services: Any, connection_id: str, *, progress: Progress | None = None) -> TargetResult:
    """Never raises for source, file or layer problems: the result says."""
    from ktx.ingest.database import new_run_id
    from ktx.ingest.state import IngestState

    progress = progress or NoProgress()
    project = services.project
    conn = project.config.connections[connection_id]
    started = time.perf_counter()
    state = IngestState(project.state)
    run_id = new_run_id()
    state.start_run(run_id, connection_id, conn.driver)
    secrets: list[str] = []
    try:
        if conn.driver not in PROJECTED:
            raise KtxError(
                f"{conn.driver} context sources are not ingested by this version of ktx; their adapter comes later"
            )
        if conn.driver in API_SOURCES:
            ingest_api = {"metabase": _ingest_metabase, "notion": _ingest_notion, "looker": _ingest_looker}[conn.driver]
            report = ingest_api(services, connection_id, conn, run_id, state, progress)
        else:
            progress.stage(f"Fetching the {conn.driver} project")
            folder, secrets = fetch(project, connection_id, conn)
            ingest = _ingest_dbt if conn.driver == "dbt" else _ingest_generated
            report = ingest(services, connection_id, conn, folder, run_id, state, progress)
    except KtxError as exc:
        message = exc.message
        for secret in secrets:
            message = message.replace(secret, "***")
        failed = {
            "runId": run_id,
            "connectionId": connection_id,
            "driver": conn.driver,
            "status": "failed",
            "failure": message,
        }
        state.save_report(run_id, connection_id, conn.driver, "failed", failed, {})
        state.finish_run(run_id, "failed", sync_id=None, commit=None, error=message)
        return TargetResult(
            connection_id, conn.driver, "source-ingest", "failed", run_id, message, failed,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
    status = "done" if report.get("commit") else "unchanged"
    return TargetResult(
        connection_id,
        conn.driver,
        "source-ingest",
        status,
        run_id,
        None,
        report,
        (time.perf_counter() - started) * 1000,
    )


def _ingest_dbt(
    services: Any, connection_id: str, conn: Any, folder: Path, run_id: str, state: Any, progress: Progress
) -> dict[str, Any]:
    from ktx.ingest.shards import read_shards
    from ktx.scan.manifest import dump_shard
    from ktx.sources.dbt import project, read_project

    root = services.project.root
    warehouse = target_warehouse(services.project.config, connection_id, conn)
    progress.stage("Reading dbt YAML")
    dbt = read_project(folder)
    existing = read_shards(root, warehouse)
    if not existing.entries:
        raise KtxError(
            f"No scanned tables for {warehouse} yet: dbt is projected onto the warehouse's scan.",
            hint=f"Run `ktx ingest {warehouse}` first.",
        )
    previous = state.last_completed(connection_id, adapter="dbt")
    previous_joins = [(k, j) for k, j in (previous.report.get("joinsWritten") or [])] if previous else []
    entries = {name: entry for name, (_, entry) in existing.entries.items()}
    progress.stage("Projecting onto the manifest")
    result = project(dbt, entries, previous_joins, duplicated_columns(root, warehouse))
    files: dict[str, str | None] = {}
    by_shard: dict[str, dict[str, dict[str, Any]]] = {}
    for name, (rel, _) in existing.entries.items():
        by_shard.setdefault(rel, {})[name] = result.entries[name]
    files.update(file_changes(root, {rel: dump_shard(entries) for rel, entries in by_shard.items()}))
    raw = f"raw-sources/{connection_id}/dbt/snapshot"
    files.update(file_changes(root, {f"{raw}/{rel}": text for rel, text in dbt.files.items()}, [root / raw]))
    wh_driver = services.project.config.connections[warehouse].driver
    _check_layer(root, warehouse, wh_driver, {p: t for p, t in files.items() if p.startswith("semantic-layer/")})
    warnings = list(result.warnings)
    semantic = _dbt_semantic_models(root, folder, dbt, warehouse, wh_driver, connection_id, warnings)
    if semantic:
        try:
            _check_layer(
                root,
                warehouse,
                wh_driver,
                {p: t for p, t in {**files, **semantic}.items() if p.startswith("semantic-layer/")},
            )
            files.update(semantic)
        except KtxError as exc:
            warnings.append(
                f"metricflow_invalid:*: the dbt project's semantic models were not projected: {exc.message}"
            )
    units = _work_units(services, state, connection_id, "dbt", "dbt", warehouse, run_id, dbt.files, files, warnings)
    warnings = [IngestWarning.parse(w).to_json() for w in warnings]
    report: dict[str, Any] = {
        **units,
        "runId": run_id,
        "connectionId": connection_id,
        "driver": "dbt",
        "adapter": "dbt",
        "status": "done",
        "targetConnectionId": warehouse,
        "project": dbt.name,
        "models": sum(1 for n in dbt.nodes if n.kind == "model"),
        "sources": sum(1 for n in dbt.nodes if n.kind == "source"),
        "matched": len(result.matched),
        "joinsWritten": result.joins,
        "filesChanged": sorted(files),
        "warnings": warnings,
        "createdAt": datetime.now(UTC).isoformat(),
    }
    return _land(services, state, progress, report, files, dbt.files)


def _ingest_generated(
    services: Any, connection_id: str, conn: Any, folder: Path, run_id: str, state: Any, progress: Progress
) -> dict[str, Any]:
    """MetricFlow and LookML: generated overlays (and pages) under `semantic-layer/<warehouse>/<driver>/`."""
    from ktx.ingest.shards import read_shards

    if conn.driver == "metricflow":
        from ktx.sources.metricflow import project, read_project
    else:
        from ktx.sources.lookml import project, read_project  # type: ignore[assignment]

    driver = conn.driver
    label = {"metricflow": "MetricFlow", "lookml": "LookML"}[driver]
    root = services.project.root
    warehouse = target_warehouse(services.project.config, connection_id, conn)
    progress.stage(f"Reading {label} files")
    mf = read_project(folder)
    existing = read_shards(root, warehouse)
    if not existing.entries:
        raise KtxError(
            f"No scanned tables for {warehouse} yet: {label} is projected onto the warehouse's scan.",
            hint=f"Run `ktx ingest {warehouse}` first.",
        )
    progress.stage(f"Projecting {label}")
    entries = {n: e for n, (_, e) in existing.entries.items()}
    result = project(mf, entries, warehouse, connection_id, duplicated_columns(root, warehouse))
    warnings = list(result.warnings)
    wh_driver = services.project.config.connections[warehouse].driver
    generated = _with_generated_spine(root, driver, warehouse, wh_driver, connection_id, result.files, warnings)
    files = _generated_changes(root, driver, warehouse, wh_driver, connection_id, generated, mf.files, warnings)
    units = _work_units(services, state, connection_id, driver, label, warehouse, run_id, mf.files, files, warnings)
    report: dict[str, Any] = {
        **units,
        "runId": run_id,
        "connectionId": connection_id,
        "driver": driver,
        "adapter": driver,
        "status": "done",
        "targetConnectionId": warehouse,
        **(
            {"semanticModels": len(mf.models), "metrics": len(mf.metrics)}
            if driver == "metricflow"
            else {"views": len(mf.views), "explores": len(mf.explores)}
        ),
        "matched": len(result.matched),
        "unmapped": result.unmapped + _skipped_metrics(driver, mf, result.unmapped, warnings),
        "filesChanged": sorted(files),
        "warnings": [IngestWarning.parse(w).to_json() for w in warnings],
        "createdAt": datetime.now(UTC).isoformat(),
    }
    return _land(services, state, progress, report, files, mf.files)


def _ingest_metabase(
    services: Any, connection_id: str, conn: Any, run_id: str, state: Any, progress: Progress
) -> dict[str, Any]:
    """Metabase: fetched over its API, projected onto every warehouse one of its databases maps to."""
    from ktx.history.collect import default_schema, history_config
    from ktx.ingest.shards import read_shards
    from ktx.scan.manifest import dump_shard
    from ktx.sources import metabase, metabase_project
    from ktx.warehouse.registry import WAREHOUSE_DRIVERS as SPECS

    project = services.project
    root = project.root
    connections = project.config.connections
    explicit = {str(k): str(v) for k, v in (conn.database_mappings or {}).items()}
    warnings: list[str] = []
    shards: dict[str, Any] = {}

    def scanned(warehouse: str) -> Any:
        if warehouse not in shards:
            shards[warehouse] = read_shards(root, warehouse)
        return shards[warehouse]

    mapping: dict[str, str] = {}  # Metabase database id → a scanned warehouse its tables are projected onto

    def mapped(database: dict[str, Any]) -> bool:
        found = metabase_project.map_databases([database], connections, explicit, warnings)
        warehouse = found.get(str(database["id"]))
        if warehouse is not None and not scanned(warehouse).entries:
            warnings.append(
                f"metabase_target_not_scanned:{database['id']}: {database['name']} maps to {warehouse}, which has "
                f"no scanned tables yet (run `ktx ingest {warehouse}` first); not projected"
            )
            return False
        if warehouse is not None:
            mapping[str(database["id"])] = warehouse
        return warehouse is not None

    snap = metabase.fetch(project, connection_id, conn, mapped, progress)
    warnings = snap.warnings + warnings
    if not mapping:
        listed = ", ".join(f"{db['id']}: {db['name']} ({db['engine']})" for db in snap.databases) or "none"
        raise KtxError(
            f"No Metabase database of {connection_id} maps to a scanned warehouse connection (databases: {listed}).",
            hint=f"Set connections.{connection_id}.database_mappings: {{'<metabase id>': <warehouse>}}, "
            "and scan that warehouse first.",
        )
    _select_collections(snap, conn)
    targets = {}
    for warehouse in sorted(set(mapping.values())):
        wh = connections[warehouse]
        entries = {n: e for n, (_, e) in scanned(warehouse).entries.items()}
        schemas = {str(e.get("table") or "").split(".")[-2] for e in entries.values() if "." in str(e.get("table"))}
        targets[warehouse] = metabase_project.Target(
            warehouse, wh.driver, SPECS[wh.driver].dialect, entries, history_config(wh), default_schema(wh, schemas)
        )
    progress.stage("Projecting Metabase")
    result = metabase_project.project(snap, mapping, targets, connection_id)
    warnings += result.warnings
    wanted: dict[str, str | None] = {}
    for warehouse, new_entries in result.entries.items():
        by_shard: dict[str, dict[str, dict[str, Any]]] = {}
        for name, (rel, _) in scanned(warehouse).entries.items():
            by_shard.setdefault(rel, {})[name] = new_entries.get(name) or targets[warehouse].entries[name]
        wanted.update({rel: dump_shard(entries) for rel, entries in by_shard.items()})
    generated = dict(result.files)
    for warehouse in targets:
        wh_driver = targets[warehouse].driver
        shard_text = {p: t for p, t in wanted.items() if p.startswith(f"semantic-layer/{warehouse}/")}
        layer = sorted(p for p in generated if p.startswith(f"semantic-layer/{warehouse}/metabase/"))
        accepted: dict[str, str | None] = dict(shard_text)
        for rel in layer:
            kept = _without_bad_measures(
                root, warehouse, wh_driver, "metabase", rel, generated[rel], warnings, accepted
            )
            if kept is None:
                generated.pop(rel)
            else:
                generated[rel] = accepted[rel] = kept
        _check_layer(root, warehouse, wh_driver, accepted)
    raw = f"raw-sources/{connection_id}/metabase/snapshot"
    source_files = snap.files()
    wanted.update(generated)
    wanted.update({f"{raw}/{rel}": text for rel, text in source_files.items()})
    wiki = root / "wiki" / "global"
    for path in sorted(wiki.glob("metabase-*.md")) if wiki.is_dir() else []:
        rel = str(path.relative_to(root))
        if rel not in wanted and "source: metabase" in path.read_text(encoding="utf-8", errors="replace"):
            wanted[rel] = None  # a question, dashboard or collection that is gone (or archived) since the last run
    owned = [root / "semantic-layer" / w / "metabase" for w in targets] + [root / raw]
    files = file_changes(root, wanted, owned)
    primary = sorted(targets)[0]
    units = _work_units(
        services, state, connection_id, "metabase", "Metabase", primary, run_id, source_files, files, warnings
    )
    report = _api_report(
        units, run_id, connection_id, "metabase", sorted(targets), files, warnings,
        databaseMappings=result.mapping, databases=len(snap.databases), cards=len(snap.cards),
        dashboards=len(snap.dashboards), collections=len(snap.collections), measures=result.measures,
        segments=result.segments, pages=result.pages, apiCalls=snap.calls,
        matched=sum(len(db.get("tables") or []) for db in snap.databases), unmapped=result.unmapped,
    )  # fmt: skip
    return _land(services, state, progress, report, files, source_files)


def _ingest_notion(
    services: Any, connection_id: str, conn: Any, run_id: str, state: Any, progress: Progress
) -> dict[str, Any]:
    """Notion: pages and database rows into wiki pages, incrementally against the last run's staged snapshot."""
    from ktx.semantic.summaries import all_sources
    from ktx.sources import notion, notion_project

    root = services.project.root
    raw = f"raw-sources/{connection_id}/notion/snapshot"
    if not (conn.root_page_ids or conn.root_database_ids or conn.root_data_source_ids) and (
        conn.crawl_mode != "all_accessible"
    ):
        raise KtxError(
            f"connections.{connection_id} names no root page or database.",
            hint="Set root_page_ids / root_database_ids, or crawl_mode: all_accessible.",
        )
    previous = notion.previous_snapshot(root / raw / "pages")
    crawled = notion.crawl(services.project, connection_id, conn, previous, progress)
    warnings = list(crawled.warnings)
    if crawled.skipped_blocks:
        kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(crawled.skipped_blocks.items()))
        warnings.append(f"notion_blocks_skipped:{connection_id}: block types ktx does not render: {kinds}")
    pages = dict(crawled.pages)
    if not crawled.complete:  # pages a capped run did not reach keep their last version
        for page_id, page in previous.items():
            pages.setdefault(page_id, page)
    progress.stage("Writing Notion pages")
    names = notion_project.sl_names(all_sources(root))
    generated: dict[str, str | None] = dict(notion_project.project(pages, connection_id, names))
    source_files = {
        f"pages/{page_id}.json": json.dumps(page, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for page_id, page in sorted(pages.items())
    }
    generated.update({f"{raw}/{rel}": text for rel, text in source_files.items()})
    wiki = root / "wiki" / "global"
    for path in sorted(wiki.glob("notion-*.md")) if wiki.is_dir() else []:
        rel = str(path.relative_to(root))
        if rel not in generated and "source: notion" in path.read_text(encoding="utf-8", errors="replace"):
            generated[rel] = None  # a page that is gone from Notion (or no longer shared)
    files = file_changes(root, generated, [root / raw])
    warehouses = sorted(c for c, v in services.project.config.connections.items() if v.driver in WAREHOUSE_DRIVERS)
    target = getattr(conn, "warehouse_connection_id", None) or (warehouses[0] if len(warehouses) == 1 else None)
    units: dict[str, Any] = {"workUnits": [], "llm": "no warehouse to refine against: deterministic pages only"}
    if target:
        units = _work_units(
            services, state, connection_id, "notion", "Notion", target, run_id, source_files, files, warnings
        )
    report = _api_report(
        units, run_id, connection_id, "notion", [target] if target else [], files, warnings,
        pages=len(pages), fetched=crawled.fetched, reused=crawled.reused,
        evicted=sum(1 for p, t in files.items() if t is None and p.startswith("wiki/")),
        complete=crawled.complete, apiCalls=crawled.calls, matched=len(pages),
    )  # fmt: skip
    return _land(services, state, progress, report, files, source_files)


def _ingest_looker(
    services: Any, connection_id: str, conn: Any, run_id: str, state: Any, progress: Progress
) -> dict[str, Any]:
    """Looker: explores read over the API projected like LookML files (`semantic-layer/<warehouse>/looker/`), Looks
    and dashboards as pages, System Activity's query counts as `usage.looker` on the tables explores start from."""
    from ktx.ingest.shards import read_shards
    from ktx.scan.manifest import dump_shard
    from ktx.sources import looker, lookml

    root = services.project.root
    warehouse = target_warehouse(services.project.config, connection_id, conn)
    existing = read_shards(root, warehouse)
    if not existing.entries:
        raise KtxError(
            f"No scanned tables for {warehouse} yet: Looker's explores are projected onto the warehouse's scan.",
            hint=f"Run `ktx ingest {warehouse}` first.",
        )
    snap = looker.fetch(services.project, connection_id, conn, progress)
    lk = looker.lookml_shapes(snap)
    lk.dashboards = looker.dashboard_shapes(snap)
    progress.stage("Projecting Looker explores")
    entries = {n: e for n, (_, e) in existing.entries.items()}
    result = lookml.project(lk, entries, warehouse, connection_id, duplicated_columns(root, warehouse), driver="looker")
    warnings = list(result.warnings)
    wh_driver = services.project.config.connections[warehouse].driver
    source_files = snap.files()
    files = _generated_changes(
        root, "looker", warehouse, wh_driver, connection_id, result.files, source_files, warnings
    )
    usage = looker_usage(snap, lk, result.matched)
    by_shard: dict[str, dict[str, dict[str, Any]]] = {}
    for name, (rel, entry) in existing.entries.items():
        by_shard.setdefault(rel, {})[name] = _with_looker_usage(entry, usage.get(name))
    files.update(file_changes(root, {rel: dump_shard(e) for rel, e in by_shard.items()}))
    units = _work_units(
        services, state, connection_id, "looker", "Looker", warehouse, run_id, source_files, files, warnings
    )
    report = _api_report(
        units, run_id, connection_id, "looker", [warehouse], files, warnings,
        models=len(snap.models), explores=len(snap.explores), looks=len(snap.looks),
        dashboards=len(snap.dashboards), usage={"explores": len(snap.usage), "tables": len(usage)},
        apiCalls=snap.calls, matched=len(result.matched), unmapped=result.unmapped,
    )  # fmt: skip
    return _land(services, state, progress, report, files, source_files)


def looker_usage(snap: Any, lk: Any, matched: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Manifest key → `{queryRuns, explores}`: System Activity's runs of each explore, on the table it starts from."""
    base = {(str(e["_file"]).split("/")[0], e["name"]): e["view_name"] for e in lk.explores}
    out: dict[str, dict[str, Any]] = {}
    for key, runs in sorted(snap.usage.items()):
        model, _, explore = key.partition("/")
        table = matched.get(base.get((model, explore), ""))
        if table is None:
            continue
        block = out.setdefault(table, {"queryRuns": 0, "explores": []})
        block["queryRuns"] += runs
        block["explores"].append(key)
    return out


def _with_looker_usage(entry: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    import copy

    new = copy.deepcopy(entry)
    block = new.get("usage") if isinstance(new.get("usage"), dict) else {}
    block.pop("looker", None)
    if usage:
        block["looker"] = usage
    if block:
        new["usage"] = block
    else:
        new.pop("usage", None)
    return new


def _api_report(
    units: dict[str, Any],
    run_id: str,
    connection_id: str,
    driver: str,
    targets: list[str],
    files: dict[str, str | None],
    warnings: list[str],
    **fields: Any,
) -> dict[str, Any]:
    """The report of an API source's run: what every run reports, then the source's own counts."""
    return {
        **units,
        "runId": run_id,
        "connectionId": connection_id,
        "driver": driver,
        "adapter": driver,
        "status": "done",
        "targetConnectionId": targets[0] if targets else "-",
        "targetConnectionIds": targets,
        **fields,
        "filesChanged": sorted(files),
        "warnings": [IngestWarning.parse(w).to_json() for w in warnings],
        "createdAt": datetime.now(UTC).isoformat(),
    }


def _select_collections(snap: Any, conn: Any) -> None:
    """syncMode ONLY / EXCEPT with collection_ids: the questions and dashboards kept ("root": no collection)."""
    mode = conn.syncMode or "ALL"
    if mode == "ALL":
        return
    chosen = {str(c) for c in conn.collection_ids or []}

    def keep(item: dict[str, Any]) -> bool:
        inside = str(item.get("collection_id") if item.get("collection_id") is not None else "root") in chosen
        return inside if mode == "ONLY" else not inside

    snap.cards = [c for c in snap.cards if keep(c)]
    snap.dashboards = [d for d in snap.dashboards if keep(d)]


def _skipped_metrics(driver: str, mf: Any, unmapped: list[dict[str, str]], warnings: list[str]) -> list[dict[str, str]]:
    """Metrics whose measure the layer refused when the overlay was checked: not queryable by name either, so
    listed with the reason like every other."""
    if driver != "metricflow":
        return []
    kinds = {str(m.get("name")): str(m.get("type") or "simple") for m in mf.metrics}
    listed = {u["metric"] for u in unmapped}
    out = []
    for warning in warnings:
        if not warning.startswith(f"{driver}_measure_skipped:"):
            continue
        name, _, reason = warning.split(": ", 1)[-1].partition(" — ")
        if name in kinds and name not in listed:
            out.append({"metric": name, "type": kinds[name], "reason": reason.split("; ")[0][:300]})
            listed.add(name)
    return out


def _dbt_semantic_models(
    root: Path, folder: Path, dbt: Any, warehouse: str, wh_driver: str, connection_id: str, warnings: list[str]
) -> dict[str, str | None]:
    """A dbt project's own `semantic_models:`/`metrics:` files, projected like a MetricFlow connection's (the raw
    YAML is already in the dbt snapshot)."""
    from ktx.ingest.shards import read_shards
    from ktx.sources import metricflow

    if not any("semantic_models:" in t or "\nmetrics:" in t or t.startswith("metrics:") for t in dbt.files.values()):
        return {}
    mf = metricflow.read_project(folder)
    entries = {n: e for n, (_, e) in read_shards(root, warehouse).entries.items()}
    result = metricflow.project(mf, entries, warehouse, connection_id, duplicated_columns(root, warehouse))
    warnings += [w for w in result.warnings if not w.startswith("dbt_yaml_invalid")]  # the dbt pass said those
    generated = _with_generated_spine(root, "metricflow", warehouse, wh_driver, connection_id, result.files, warnings)
    return _generated_changes(
        root, "metricflow", warehouse, wh_driver, connection_id, generated, mf.files, warnings, snapshot=False
    )


def _with_generated_spine(
    root: Path,
    driver: str,
    warehouse: str,
    wh_driver: str,
    connection_id: str,
    files: dict[str, str],
    warnings: list[str],
) -> dict[str, str]:
    """`files`, plus a generated calendar (`ktx_time_spine`) when MetricFlow metrics read time through a spine
    (windows, offsets, join_to_timespine) and neither the projection nor the rest of the layer has one."""
    from ktx.project.yamlio import dump_yaml
    from ktx.semantic.spine import END, START, spine_source
    from ktx.warehouse.registry import WAREHOUSE_DRIVERS as SPECS

    if driver != "metricflow" or any("time_spine:" in text for text in files.values()):
        return files
    if not any("window:" in text or "join_to_timespine: true" in text for text in files.values()):
        return files
    own = root / "semantic-layer" / warehouse / driver
    layer = root / "semantic-layer" / warehouse
    for path in layer.rglob("*.y*ml") if layer.is_dir() else []:
        if own not in path.parents and "time_spine:" in path.read_text(encoding="utf-8", errors="replace"):
            return files  # a calendar the person or another source declared
    rel = f"semantic-layer/{warehouse}/{driver}/ktx_time_spine.yaml"
    header = (
        f"# Written by `ktx ingest {connection_id}`: a generated calendar, as the project declares no time spine "
        "found in the scan; rewritten on every run.\n"
    )
    warnings.append(
        f"metricflow_time_spine_generated:ktx_time_spine: the project declares no time spine the scan has; windows "
        f"and joins to the spine read a generated calendar of every day from {START} to {END} (declare your own "
        "time spine model to cover other dates)"
    )
    return {**files, rel: header + dump_yaml(spine_source(SPECS[wh_driver].dialect))}


def _generated_changes(
    root: Path,
    driver: str,
    warehouse: str,
    wh_driver: str,
    connection_id: str,
    generated: dict[str, str],
    source_files: dict[str, str],
    warnings: list[str],
    *,
    snapshot: bool = True,
) -> dict[str, str | None]:
    """The file changes of a generated projection (`semantic-layer/<warehouse>/<driver>/`, `<driver>-*` pages, and
    with `snapshot` the raw files under `raw-sources/<connection>/<driver>/snapshot/`): overlays that would not load
    are dropped and said; what an earlier run generated and this one does not is removed."""
    generated = dict(generated)
    accepted: dict[str, str | None] = {}
    # Files without measures first (a time spine): the overlays whose measures need them are checked beside them.
    layer_files = sorted(
        (p for p in generated if p.startswith("semantic-layer/")), key=lambda p: ("measures:" in generated[p], p)
    )
    for rel in layer_files:
        pending = {p: generated[p] for p in layer_files if p not in accepted and p != rel and p in generated}
        salvaged = _without_bad_measures(
            root, warehouse, wh_driver, driver, rel, generated[rel], warnings, {**pending, **accepted}, accepted
        )
        if salvaged is None:
            generated.pop(rel)
        else:
            generated[rel] = accepted[rel] = salvaged
    _check_layer(root, warehouse, wh_driver, {p: t for p, t in generated.items() if p.startswith("semantic-layer/")})
    owned = [root / "semantic-layer" / warehouse / driver]
    if snapshot:
        raw = f"raw-sources/{connection_id}/{driver}/snapshot"
        owned.append(root / raw)
        generated.update({f"{raw}/{rel}": text for rel, text in source_files.items()})
    wanted: dict[str, str | None] = dict(generated)
    wiki = root / "wiki" / "global"
    for path in sorted(wiki.glob(f"{driver}-*.md")) if wiki.is_dir() else []:
        rel = str(path.relative_to(root))
        if rel not in wanted and f"source: {driver}" in path.read_text(encoding="utf-8", errors="replace"):
            wanted[rel] = None  # a page an earlier run generated for a metric that is gone
    return file_changes(root, wanted, owned)


def _land(
    services: Any,
    state: Any,
    progress: Progress,
    report: dict[str, Any],
    files: dict[str, str | None],
    source_files: dict[str, str],
) -> dict[str, Any]:
    """One commit for the run's changes (none when nothing changed), the report and the source files' hashes
    (what the next run's work units are planned against) saved, search refreshed."""
    from ktx.sources.units import file_hashes

    run_id, connection_id, driver = report["runId"], report["connectionId"], report["driver"]
    warehouse = report["targetConnectionId"]
    previous = state.last_completed(connection_id, adapter=driver)
    recorded = previous.report.get("generatedPages") if previous else None
    report["generatedPages"] = _keep_edited_pages(
        services.project.root, files, recorded if isinstance(recorded, dict) else {}, report["warnings"]
    )
    commit = None
    if files:
        progress.stage("Committing")
        services.project.ensure_repository()
        message = f"ingest({driver}): {connection_id} {run_id} target={warehouse} matched={report['matched']}"
        commit = apply_files(services.project.root, services.project.git, run_id, files, message)
    report["commit"] = commit
    report["unchanged"] = commit is None
    state.save_report(run_id, connection_id, driver, "done", report, {"files": file_hashes(source_files)})
    state.finish_run(run_id, "done", sync_id=None, commit=commit)
    for target in report.get("targetConnectionIds", [warehouse]):
        with contextlib.suppress(KtxError):  # the files landed; search catches up on its next query anyway
            services.search.sync_sl_connection(target)
    return json.loads(json.dumps(report, default=str))


def _keep_edited_pages(
    root: Path, files: dict[str, str | None], recorded: dict[str, str], warnings: list[dict[str, Any]]
) -> dict[str, str]:
    """A page this source wrote and a person edited since is kept as they left it (not rewritten, not removed),
    with a warning; what the source writes is recorded (path → hash) to tell the next run which pages are edited."""
    import hashlib

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    out = dict(recorded)
    for rel in sorted(p for p in files if p.startswith("wiki/")):
        path = root / rel
        if rel in recorded and path.is_file() and digest(path.read_text(encoding="utf-8")) != recorded[rel]:
            files.pop(rel)
            warnings.append(
                IngestWarning(
                    "page_edited_kept", f"{rel}: edited since ktx wrote it; kept (delete it to have ktx write it again)"
                ).to_json()
            )
            continue
        text = files[rel]
        if text is None:
            out.pop(rel, None)
        else:
            out[rel] = digest(text)
    return out


def _work_units(
    services: Any,
    state: Any,
    connection_id: str,
    driver: str,
    label: str,
    warehouse: str,
    run_id: str,
    source_files: dict[str, str],
    files: dict[str, str | None],
    warnings: list[str],
) -> dict[str, Any]:
    """With an LLM backend: one work unit per changed source file, on top of the projection in `files`. With or
    without one: what earlier units wrote from a raw file that is gone is evicted (wiki pages removed; semantic-layer
    additions listed for review), and the rest of their provenance carries over."""
    from ktx.sources import units

    previous = state.last_completed(connection_id, adapter=driver)
    known = previous.hashes.get("files") if previous else None
    earlier = [a for a in (previous.report.get("provenance") or []) if isinstance(a, dict)] if previous else []
    gone = [a for a in earlier if a.get("rawPath") not in source_files]
    evicted = []
    for action in gone:
        page = services.project.root / "wiki" / "global" / f"{action.get('key')}.md"
        if action.get("target") == "wiki" and page.is_file():
            files[str(page.relative_to(services.project.root))] = None
            evicted.append(action)
        elif action.get("target") == "sl":
            warnings.append(
                f"eviction_review:{action.get('key')}: added from {action.get('rawPath')}, which is gone; "
                "review the source's overlay"
            )
    if services.llm() is None:
        kept = [a for a in earlier if a not in gone]
        return {"workUnits": [], "llm": "not configured: deterministic projection only", "provenance": kept,
                "evictions": evicted}  # fmt: skip
    planned = units.plan(driver, source_files, known if isinstance(known, dict) else {})
    rerun = {u.path for u in planned}
    carried = [a for a in earlier if a not in gone and a.get("rawPath") not in rerun]
    projected = {p: t for p, t in files.items() if isinstance(t, str) and p.startswith("semantic-layer/")}
    outcome = units.run(
        services, planned, driver=driver, label=label, warehouse=warehouse, run_id=run_id, projected=projected
    )
    staged = {p: t for p, t in outcome.files.items() if p not in files}
    sl = {p: t for p, t in staged.items() if p.startswith("semantic-layer/")}
    try:
        wh_driver = services.project.config.connections[warehouse].driver
        _check_layer(services.project.root, warehouse, wh_driver, {**projected, **sl})
    except KtxError as exc:
        warnings.append(f"work_unit_reverted:*: semantic-layer edits of the work units dropped: {exc.message}")
        staged = {p: t for p, t in staged.items() if p not in sl}
    files.update(staged)
    warnings += [f"work_unit_failed:{f['unit']}: {f['error']}" for f in outcome.failed]
    warnings += [f"work_unit_reverted:{r.split(':')[0]}: {r}" for r in outcome.reverted]
    return {
        "workUnits": [
            {
                "unitKey": u.key,
                "rawFile": u.path,
                "status": "failed" if u.key in {f["unit"] for f in outcome.failed} else "done",
            }
            for u in planned
        ],
        "provenance": carried + outcome.actions,
        "evictions": evicted,
        "conflicts": outcome.conflicts,
        "reconciliation": outcome.reconciliation or {"status": "skipped"},
    }


MAX_SALVAGE_STEPS = 50


def _without_bad_measures(
    root: Path,
    warehouse: str,
    wh_driver: str,
    driver: str,
    rel: str,
    text: str,
    warnings: list[str],
    beside: dict[str, str | None] | None = None,
    fallback: dict[str, str | None] | None = None,
) -> str | None:
    """The overlay as generated, or with the measures the layer refuses taken out one by one (each said, with the
    reason), so one conflicting measure never costs the whole overlay; None (and said) when it cannot be saved.
    It is checked `beside` the run's other files (a time spine, the overlays its formulas read)."""
    from ktx.project.yamlio import dump_yaml, safe_load

    current = text
    for _ in range(MAX_SALVAGE_STEPS):
        try:
            _check_layer(root, warehouse, wh_driver, {**(beside or {}), rel: current})
            return current
        except KtxError as exc:
            problem = exc.message
        data = safe_load(current) or {}
        measures = [m for m in data.get("measures") or [] if isinstance(m, dict)]
        named = [m for m in measures if f"'{m.get('name')}'" in problem]
        if not named and fallback is not None and beside != fallback:
            # The problem is in another file of the run, not yet checked: this one is checked beside the files
            # already accepted instead.
            beside = fallback
            continue
        if not named:
            warnings.append(f"{driver}_invalid:{rel}: {problem}")
            return None
        # Of two measures said to clash, the later one goes; a measure blamed alone goes itself.
        clash = "same expression" in problem and len(named) > 1
        drop = named[-1] if clash else named[0]
        reason = problem.split(": ", 1)[-1]
        if clash and driver == "lookml" and drop.get("expr") != named[0].get("name"):
            # LookML's `count` and `count_items` are the same number under two names: both stay, the later one a
            # name for the first (LookML has no per-measure time or window that could tell them apart).
            alias = {"name": drop.get("name"), "expr": named[0].get("name")}
            if drop.get("description"):
                alias["description"] = drop["description"]
            data["measures"] = [alias if m is drop else m for m in measures]
        else:
            warnings.append(f"{driver}_measure_skipped:{rel}: {drop.get('name')} — {reason[:300]}")
            data["measures"] = [m for m in measures if m is not drop]
        header = "".join(line + "\n" for line in current.splitlines() if line.startswith("#"))
        current = header + dump_yaml(data)
    warnings.append(f"{driver}_invalid:{rel}: too many measures refused; the overlay was not written")
    return None


def _check_layer(root: Path, warehouse: str, wh_driver: str, changed: dict[str, str | None]) -> None:
    """The warehouse's layer must still load with `changed`; otherwise nothing is written."""
    from ktx.semantic.service import layer_problem

    problem = layer_problem(root, warehouse, wh_driver, changed)
    if problem:
        raise KtxError(f"the projection would break the semantic layer of {warehouse}: {problem}")
