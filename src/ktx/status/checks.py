"""`ktx status`: static readiness checks over a project (no network unless a probe is asked for)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktx.project.config import WAREHOUSE_DRIVERS, KtxConfig
from ktx.project.project import Project
from ktx.project.refs import parse_reference, reference_file_path
from ktx.warehouse.registry import driver_spec

QUERY_HISTORY_DRIVERS = ("postgres", "snowflake", "bigquery")
ADAPTER_DRIVERS: dict[str, tuple[str, ...]] = {
    "live-database": WAREHOUSE_DRIVERS,
    "dbt": ("dbt",),
    "notion": ("notion",),
    "metabase": ("metabase",),
    "looker": ("looker",),
    "lookml": ("lookml",),
    "metricflow": ("metricflow",),
}
CLAUDE_CODE_TTL_FIELDS = ("systemTtl", "toolsTtl", "historyTtl", "vertexFallbackTo5m")


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | fail | skipped
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"status": self.status, "detail": self.detail}
        if self.fix:
            data["fix"] = self.fix
        return data


def _secret_presence(value: str | None, env: Mapping[str, str], base_dir: Path) -> tuple[bool, str]:
    """Whether a configured secret would resolve, and a safe description — without reading it."""
    if not value:
        return False, "not set"
    ref = parse_reference(value)
    if ref.kind == "env":
        return bool(env.get(ref.target, "").strip()), f"env: {ref.target}"
    if ref.kind == "file":
        return reference_file_path(ref.target, base_dir).is_file(), f"file: {ref.target}"
    return True, "inline"


# --- LLM and embeddings ----------------------------------------------------------------------


def llm_check(config: KtxConfig, env: Mapping[str, str], base_dir: Path, *, fast: bool) -> dict[str, Any]:
    provider = config.llm.provider
    backend = provider.backend
    model = config.llm.models.default
    out: dict[str, Any] = {"backend": backend, "model": model}
    if backend == "none":
        check = Check(
            "warn",
            "no LLM configured; LLM enrichment and memory capture are off",
            "Run: ktx setup (choose an LLM provider)",
        )
    elif not model:
        check = Check(
            "fail",
            f'llm.models.default is required for backend "{backend}"',
            "Set llm.models.default in ktx.yaml, then rerun `ktx status` (or rerun `ktx setup`).",
        )
    elif backend in ("anthropic", "gateway"):
        block = getattr(provider, backend)
        key = block.api_key if block else None
        fallback_env = "ANTHROPIC_API_KEY" if backend == "anthropic" else None
        if key:
            present, where = _secret_presence(key, env, base_dir)
            check = (
                Check("ok", f"key set ({where})" if where != "inline" else "key set")
                if present
                else Check("warn", f"key missing ({where})", f"Provide the key at {where}.")
            )
        elif fallback_env and env.get(fallback_env, "").strip():
            check = Check("ok", f"key set (env: {fallback_env})")
        else:
            fix = f"Set {fallback_env} or rerun `ktx setup`." if fallback_env else "Set llm.provider.gateway.api_key."
            check = Check("warn", "key missing", fix)
    elif backend == "vertex":
        project = provider.vertex.project if provider.vertex else None
        check = (
            Check("ok", f"project={project}")
            if project
            else Check("warn", "vertex project not configured", "Set llm.provider.vertex.project.")
        )
    elif fast:
        check = Check("skipped", "auth probe skipped (--fast)")
    else:
        from ktx.llm.probes import probe_model

        probe = probe_model(config, base_dir, model)
        check = Check("ok", probe.message) if probe.ok else Check("fail", probe.message, probe.fix)
    out.update(check.to_json())
    return out


def embeddings_check(config: KtxConfig, env: Mapping[str, str], base_dir: Path) -> dict[str, Any]:
    emb = config.ingest.embeddings
    out: dict[str, Any] = {"backend": emb.backend}
    if emb.backend == "none":
        check = Check("skipped", "disabled — search uses the lexical and token lanes only")
    else:
        out["model"] = emb.model or ("text-embedding-3-small" if emb.backend == "openai" else "all-MiniLM-L6-v2")
        out["dimensions"] = emb.dimensions
        if emb.backend == "openai":
            key = emb.openai.api_key if emb.openai else None
            present, where = _secret_presence(key, env, base_dir) if key else (False, "not set")
            if not key and env.get("OPENAI_API_KEY", "").strip():
                present, where = True, "env: OPENAI_API_KEY"
            check = (
                Check("ok", f"key set ({where})")
                if present
                else Check(
                    "warn",
                    f"key missing ({where})",
                    "Set ingest.embeddings.openai.api_key or OPENAI_API_KEY.",
                )
            )
        else:
            st = emb.sentenceTransformers
            if st and st.base_url:
                check = Check("ok", f"service: {st.base_url}")
            elif st and st.model_path:
                check = Check("ok", f"local model: {st.model_path}")
            else:
                check = Check("ok", "in-process local model")
    out.update(check.to_json())
    return out


# --- connections -----------------------------------------------------------------------------


def _project_path(value: str, base_dir: Path) -> Path:
    """A path from ktx.yaml: `~` expanded, relative to the project directory."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base_dir / path


def connection_check(conn_id: str, conn: Any, env: Mapping[str, str], base_dir: Path) -> dict[str, Any]:
    driver = conn.driver
    extra = conn.model_extra or {}

    def secret(field: str, value: str | None) -> Check | None:
        if not value:
            return None
        present, where = _secret_presence(value, env, base_dir)
        if present:
            return Check("ok", f"{field} configured")
        return Check("warn", f"{field} missing ({where})", f"Provide connections.{conn_id}.{field} ({where}).")

    check: Check | None
    spec = driver_spec(driver)
    location = spec.location if spec else None
    if location == "server":
        check = secret("url", conn.url) or (
            Check("ok", "host configured")
            if conn.host
            else Check("warn", "url not set", f"Set connections.{conn_id}.url.")
        )
    elif location == "file":
        if conn.path:
            check = (
                Check("ok", f"path: {conn.path}")
                if _project_path(conn.path, base_dir).exists()
                else Check("warn", f"database file not found: {conn.path}", f"Check connections.{conn_id}.path.")
            )
        else:
            check = secret("url", conn.url) or Check("warn", "path not set", f"Set connections.{conn_id}.path.")
    elif location == "account":
        check = Check("ok", "account configured") if conn.account else secret("url", conn.url)
        check = check or Check("warn", "account not set", f"Set connections.{conn_id}.account.")
    elif location == "credentials":
        check = secret("credentials_json", conn.credentials_json) or Check(
            "warn", "credentials_json not set", f"Set connections.{conn_id}.credentials_json."
        )
    elif driver == "notion":
        check = secret("auth_token", conn.auth_token_ref or conn.auth_token) or Check(
            "warn", "auth token not set", f"Set connections.{conn_id}.auth_token_ref."
        )
    elif driver in ("dbt", "metricflow", "lookml"):
        remote = conn.repoUrl or conn.repo_url or extra.get("url")
        local = getattr(conn, "source_dir", None) or extra.get("source_dir")
        if remote:
            check = Check("ok", f"repo: {remote}")
        elif local:
            check = (
                Check("ok", f"repo: {local}")
                if _project_path(local, base_dir).is_dir()
                else Check("fail", f"repo: {local} does not exist", f"Fix connections.{conn_id}.source_dir.")
            )
        else:
            check = Check("warn", "repoUrl not set", f"Set connections.{conn_id}.repoUrl.")
    elif driver == "metabase":
        key = secret("api_key", conn.api_key_ref or conn.api_key) or Check(
            "warn", "API key not set", f"Set connections.{conn_id}.api_key_ref."
        )
        if not conn.api_url:
            check = Check("warn", "api_url not set", f"Set connections.{conn_id}.api_url.")
        else:
            check = key if key.status != "ok" else Check("ok", f"api_url: {conn.api_url}")
    elif driver == "looker":
        key = secret("client_secret", conn.client_secret_ref or conn.client_secret) or Check(
            "warn", "client secret not set", f"Set connections.{conn_id}.client_secret_ref."
        )
        if not conn.base_url or not conn.client_id:
            missing = "base_url" if not conn.base_url else "client_id"
            check = Check("warn", f"{missing} not set", f"Set connections.{conn_id}.{missing}.")
        else:
            check = key if key.status != "ok" else Check("ok", f"base_url: {conn.base_url}")
    else:
        check = Check("ok", "configured")
    if spec is not None and check.status == "ok":
        # Any other credential the entry names must resolve too (a password given as an unset env: reference).
        for field_name in spec.secret_fields:
            other = secret(field_name, getattr(conn, field_name, None) or extra.get(field_name))
            if other is not None and other.status != "ok":
                check = other
                break
    return {"name": conn_id, "driver": driver, **check.to_json()}


def query_history_checks(config: KtxConfig, *, fast: bool) -> list[dict[str, Any]]:
    rows = []
    for conn_id, conn in sorted(config.connections.items()):
        context = getattr(conn, "context", None)
        qh = context.queryHistory if context else None
        if not qh or not qh.enabled:
            continue
        row: dict[str, Any] = {"connection": conn_id, "driver": conn.driver}
        if conn.driver not in QUERY_HISTORY_DRIVERS:
            check = Check(
                "fail",
                f"query history is not supported for driver {conn.driver}",
                f"Disable connections.{conn_id}.context.queryHistory or use postgres, snowflake or bigquery.",
            )
        elif fast:
            check = Check("skipped", "probe skipped (--fast)")
        else:
            check = Check("skipped", "live probe not run (static check only)")
        rows.append({**row, **check.to_json()})
    return rows


# --- pipeline and warnings -------------------------------------------------------------------


def pipeline_summary(config: KtxConfig) -> dict[str, Any]:
    rel = config.scan.relationships
    research = config.agent.run_research
    return {
        "adapters": list(config.ingest.adapters),
        "enrichmentMode": config.scan.enrichment.mode,
        "relationshipsEnabled": rel.enabled,
        "relationshipsLlmProposals": rel.llmProposals,
        "relationshipsValidationRequired": rel.validationRequiredForManifest,
        "agentEnabled": research.enabled,
        "agentTools": list(research.default_toolset),
        "agentMaxIterations": research.max_iterations,
    }


def claude_code_ignored_cache_fields(config: KtxConfig) -> list[str]:
    caching = config.llm.promptCaching
    if config.llm.provider.backend != "claude-code" or caching is None:
        return []
    return [f"llm.promptCaching.{f}" for f in CLAUDE_CODE_TTL_FIELDS if f in caching.model_fields_set]


def config_warnings(config: KtxConfig) -> list[dict[str, Any]]:
    warnings: list[dict[str, Any]] = []
    drivers = {c.driver for c in config.connections.values()}
    for adapter in config.ingest.adapters:
        wanted = ADAPTER_DRIVERS.get(adapter)
        if wanted and not drivers.intersection(wanted):
            warnings.append(
                {
                    "message": f"Adapter {adapter} is enabled but no connection uses a matching driver.",
                    "fix": f"Add a connection with driver {' or '.join(wanted[:3])}{'…' if len(wanted) > 3 else ''}, "
                    f"or remove {adapter} from ingest.adapters.",
                }
            )
    if "live-database" in config.ingest.adapters and config.ingest.embeddings.backend == "none":
        warnings.append(
            {
                "message": (
                    "Embeddings are off while live-database ingest is enabled; semantic search lanes are skipped."
                ),
                "fix": "Configure ingest.embeddings (ktx setup) for better search over scanned tables.",
            }
        )
    ignored = claude_code_ignored_cache_fields(config)
    if ignored:
        warnings.append(
            {
                "message": f"claude-code ignores {', '.join(ignored)} because the Claude Agent SDK does not expose "
                "ktx prompt-cache TTL, tool, or history markers.",
                "fix": "Remove those promptCaching fields or use anthropic, vertex, or gateway when those cache "
                "knobs are required.",
            }
        )
    if config.llm.provider.backend == "codex":
        from ktx.llm.backends.codex import ISOLATION_FIX, ISOLATION_WARNING

        warnings.append({"message": ISOLATION_WARNING, "fix": ISOLATION_FIX})
    return warnings


# --- local data ------------------------------------------------------------------------------


def _dir_usage(path: Path, max_depth: int = 10) -> tuple[int, int]:
    files = size = 0
    if not path.is_dir():
        return 0, 0
    base_depth = len(path.parts)
    for dirpath, dirnames, filenames in os.walk(path):
        if len(Path(dirpath).parts) - base_depth >= max_depth:
            dirnames[:] = []
        for name in filenames:
            try:
                size += (Path(dirpath) / name).stat().st_size
                files += 1
            except OSError:
                continue
    return files, size


def local_stats(project: Project) -> dict[str, Any]:
    db = project.state_path
    _, cache_bytes = _dir_usage(project.ktx_dir / "cache")
    raw_files, raw_bytes = _dir_usage(project.root / "raw-sources")
    disk = {
        "dbSqliteBytes": db.stat().st_size if db.exists() else None,
        "ktxCacheBytes": cache_bytes,
        "rawSources": {
            "fileCount": raw_files - (1 if (project.root / "raw-sources/.gitkeep").exists() else 0),
            "bytes": raw_bytes,
        },
    }
    stats: dict[str, Any] = {"projectDir": disk}
    if not db.exists():
        stats["unavailable"] = "no .ktx/db.sqlite yet"
        return stats
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            stats["schemaVersion"] = conn.execute("PRAGMA user_version").fetchone()[0]
            stats["ingest"] = _ingest_stats(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        stats["unavailable"] = f"cannot open .ktx/db.sqlite: {exc}"
    return stats


def _ingest_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """Completed ingest runs and the latest per connection (empty before the first ingest)."""
    try:
        total = conn.execute("SELECT COUNT(*) FROM local_ingest_reports WHERE status = 'done'").fetchone()[0]
        rows = conn.execute(
            "SELECT connection_id, adapter, MAX(created_at) FROM local_ingest_reports WHERE status = 'done' "
            "GROUP BY connection_id, adapter ORDER BY connection_id"
        ).fetchall()
    except sqlite3.Error:
        return {"totalCompletedRuns": 0, "perConnection": []}
    return {
        "totalCompletedRuns": total,
        "perConnection": [{"connectionId": c, "adapter": a, "lastCompletedAt": at} for c, a, at in rows],
    }


# --- assembly --------------------------------------------------------------------------------


def _verdict(status: dict[str, Any]) -> tuple[str, str, list[str]]:
    llm = status["llm"]
    qh_fail = [q for q in status["queryHistory"] if q["status"] == "fail"]
    if llm["status"] == "fail":
        return "blocked", "LLM not usable; LLM-backed work will not run.", ["ktx setup"]
    if qh_fail:
        return "blocked", "Query history is enabled on an unsupported connection.", ["ktx status --verbose"]
    repository = status["storage"].get("repository") or {}
    if repository.get("status") == "fail":
        return "blocked", f"Repository: {repository['detail']}.", ["ktx status --verbose"]
    parts = []
    if llm["status"] == "warn":
        parts.append("LLM not configured" if llm["backend"] == "none" else "LLM credentials missing")
    if status["embeddings"]["status"] == "warn":
        parts.append("embeddings credentials missing")
    bad_conns = [c for c in status["connections"] if c["status"] not in ("ok", "skipped")]
    if bad_conns:
        parts.append(f"{len(bad_conns)} connection(s) need attention")
    if any(q["status"] == "warn" for q in status["queryHistory"]):
        parts.append("query-history warnings")
    if status["warnings"]:
        parts.append(f"{len(status['warnings'])} config warning(s)")
    if parts:
        return "partial", f"Partially ready — {'; '.join(parts)}.", ["ktx setup"]
    return "ready", "Ready.", ["ktx status --json", "ktx sl", "ktx wiki"]


def mcp_check(root: Path, *, fast: bool) -> dict[str, Any]:
    """The HTTP daemon: running, stale or stopped (with `--fast`, the pid is checked but /health is not asked)."""
    from ktx.mcp import daemon

    if fast:
        try:
            record = daemon.read_record(root)
        except (ValueError, OSError) as exc:
            return daemon.DaemonStatus("stale", f"MCP daemon state is invalid: {exc}").to_json()
        if record is None:
            return daemon.DaemonStatus("stopped", "not started (`ktx mcp start`)").to_json()
        alive = daemon.pid_alive(record["pid"])
        state = "running" if alive else "stale"
        detail = "running (not probed: --fast)" if alive else f"MCP daemon process {record['pid']} is not running"
        return daemon.DaemonStatus(state, detail, record).to_json()  # type: ignore[arg-type]
    status = daemon.daemon_status(root)
    if status.state == "stopped":
        status.detail = "not started (`ktx mcp start`)"
    return status.to_json()


def conflicts_check(project: Project) -> list[dict[str, Any]]:
    """Open contradictions memory capture found between captured text and reviewed definitions."""
    if not project.state_path.is_file():
        return []
    from ktx.memory.state import MemoryState

    try:
        return MemoryState(project.state).open_conflicts()
    except sqlite3.Error:
        return []


def repository_check(project: Project) -> dict[str, Any]:
    """Can ktx commit here? A read-only `.git`, or a lock a killed git left behind (which ktx removes on its
    next write), is said before a run fails on it."""
    git_dir = project.root / ".git"
    if not git_dir.is_dir():
        return {"status": "warn", "detail": "no git repository yet (the next write creates one)"}
    if not os.access(git_dir, os.W_OK) or not os.access(git_dir / "objects", os.W_OK):
        return {
            "status": "fail",
            "detail": f"{git_dir} is not writable: ktx cannot commit",
            "fix": f"Give your user write access to {git_dir}.",
        }
    state = project.git.index_lock_state()
    if state == "live":
        return {"status": "warn", "detail": "another git process is writing to the repository right now"}
    if state == "stale":
        return {
            "status": "warn",
            "detail": "a git process was killed mid-write and left .git/index.lock; ktx removes it on its next write",
            "fix": "Nothing to do (or delete .git/index.lock yourself).",
        }
    return {"status": "ok", "detail": "git repository writable"}


def evals_check(project: Project) -> dict[str, Any] | None:
    """The last `ktx eval` run (passed/total, when), or None when there has been none."""
    from ktx.evals.run import read_last_run

    last = read_last_run(project.root)
    if last is None:
        return None
    total, passed = last.get("total") or 0, last.get("passed") or 0
    return {
        "status": "ok" if total and passed == total else "warn",
        "passed": passed,
        "total": total,
        "finishedAt": last.get("finishedAt"),
        "mode": last.get("mode"),
    }


def agents_check(root: Path) -> list[dict[str, Any]]:
    from ktx.agents.install import installed_agents

    return installed_agents(root)


def build_project_status(
    project: Project, *, fast: bool = False, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The project status object (also the `--json` output). Assumes a valid config."""
    started = time.monotonic()
    env = os.environ if env is None else env
    validation = project.validation
    config = project.config
    ignored = validation.warnings
    detail = "ktx.yaml schema valid" + (f" · {len(ignored)} ignored field(s)" if ignored else "")
    status: dict[str, Any] = {
        "projectName": project.name,
        "projectDir": str(project.root),
        "config": {
            "status": "warn" if ignored else "ok",
            "detail": detail,
            "issues": [i.to_json() for i in validation.issues],
        },
        "llm": llm_check(config, env, project.root, fast=fast),
        "embeddings": embeddings_check(config, env, project.root),
        "storage": {
            "state": config.storage.state,
            "search": config.storage.search,
            "gitAuthor": config.storage.git.author,
            "repository": repository_check(project),
        },
        "connections": [
            connection_check(cid, conn, env, project.root) for cid, conn in sorted(config.connections.items())
        ],
        "queryHistory": query_history_checks(config, fast=fast),
        "pipeline": pipeline_summary(config),
        "warnings": config_warnings(config),
        "localStats": local_stats(project),
        "evals": evals_check(project),
        "mcp": mcp_check(project.root, fast=fast),
        "agents": agents_check(project.root),
        "conflicts": conflicts_check(project),
        "workUnits": config.ingest.workUnits.model_dump(),
        "relationshipsDetail": config.scan.relationships.model_dump(),
    }
    caching = config.llm.promptCaching
    if caching is not None:
        status["promptCaching"] = caching.model_dump(exclude_none=True)
    verdict, reason, next_actions = _verdict(status)
    status.update(verdict=verdict, verdictReason=reason, nextActions=next_actions)
    status["durationMs"] = round((time.monotonic() - started) * 1000)
    return status


def environment_checks() -> list[dict[str, Any]]:
    """Checks for a machine without a project: can ktx run here at all?"""
    checks = []
    py_ok = sys.version_info >= (3, 11)
    checks.append(
        {
            "id": "python",
            "label": "Python 3.11+",
            "status": "pass" if py_ok else "fail",
            "detail": sys.version.split()[0],
            "group": "toolchain",
            **({} if py_ok else {"fix": "Install Python 3.11 or newer."}),
        }
    )
    git = shutil.which("git")
    checks.append(
        {
            "id": "git",
            "label": "git",
            "status": "pass" if git else "fail",
            "detail": git or "not found",
            "group": "toolchain",
            **({} if git else {"fix": "Install git; ktx keeps project history in git."}),
        }
    )
    try:
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        conn.close()
        fts = ("pass", f"SQLite {sqlite3.sqlite_version} with FTS5", None)
    except sqlite3.Error:
        fts = (
            "fail",
            f"SQLite {sqlite3.sqlite_version} lacks FTS5",
            "Use a Python build whose SQLite has FTS5.",
        )
    checks.append(
        {
            "id": "sqlite-fts5",
            "label": "SQLite FTS5",
            "status": fts[0],
            "detail": fts[1],
            "group": "toolchain",
            **({"fix": fts[2]} if fts[2] else {}),
        }
    )
    return checks
