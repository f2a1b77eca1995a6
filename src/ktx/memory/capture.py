"""Memory capture: turn text people give ktx (notes, definitions, Slack threads, docs) into wiki pages and
semantic-layer additions, through the memory agent (role `candidateExtraction`, step budget 30).

There is no honest deterministic version of this, so it needs an LLM backend. Each input is one run: the agent
works on a staged change set (see session.py), then the semantic-layer gate drops any source edit that no longer
compiles, and what is left lands in one commit. Contradictions are recorded as conflicts, never written."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ktx.errors import KtxError
from ktx.memory.session import MemorySession
from ktx.memory.state import MemoryState

if TYPE_CHECKING:
    from ktx.services import Services

STEP_BUDGET = 30
MAX_CONTENT = 48_000
MEMORY_AUTHOR = "ktx memory <memory@ktx.local>"
_SL_SIGNAL = re.compile(
    r"(?i)\b(sum|count|avg|average|min|max)\s*\(|\bdefine[sd]?\b|going forward|always (apply|exclude)|treat(ed)? as"
    r"|\bcohort\b|\breusable\b"
)
_KNOWLEDGE_SIGNAL = re.compile(
    r"(?i)\bdefine[sd]?\b|\balias\b|stands for|\bmeans\b|\bconvention\b|^\s*\|.*\|\s*$", re.M
)

SYSTEM = """You are ktx's memory agent. You capture durable knowledge about a company's data from the artifact \
below into the project's context, assertively but without inventing anything:

- Business rules, definitions, aliases, caveats and conventions become wiki pages (wiki_write for a new page,
  wiki_append to add to an existing one). Search and read the wiki first; prefer extending an existing page.
- When a connection is given and the artifact defines a metric or a reusable filter over an existing source, add it
  to the semantic layer (sl_add_measure / sl_add_segment) first, then explain it in a wiki page with sl_refs.
- Never overwrite a reviewed definition. When the artifact contradicts an existing page or measure, call
  report_conflict with both versions and do not write the contradicting change.
- No presentation hints, no speculation, no secrets or personal data (emails, tokens) in anything you write.
Stop when everything durable in the artifact is captured."""


def signals(text: str) -> dict[str, bool]:
    return {"sl": bool(_SL_SIGNAL.search(text)), "knowledge": bool(_KNOWLEDGE_SIGNAL.search(text))}


@dataclass
class MemoryItem:
    label: str
    content: str


@dataclass
class MemoryResult:
    label: str
    run_id: str
    status: str  # done | error
    captured: dict[str, list[str]] = field(default_factory=lambda: {"wiki": [], "sl": [], "xrefs": []})
    commit: str | None = None
    error: str | None = None
    conflicts: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "runId": self.run_id,
            "status": self.status,
            "captured": self.captured,
            "commitHash": self.commit,
            "conflicts": self.conflicts,
            "reverted": self.reverted,
            "error": self.error,
        }


def require_llm(services: Services) -> Any:
    llm = services.llm()
    if llm is None:
        raise KtxError(
            "Memory capture needs an LLM backend (llm.provider.backend is none), and there is no deterministic "
            "way to do it.",
            hint="Run `ktx setup` to choose one (anthropic, vertex, gateway, claude-code or codex).",
        )
    return llm


def start_run(services: Services, item: MemoryItem, connection_id: str | None, chat_id: str) -> str:
    """Record a queued run and return its id (the MCP tool answers with it at once)."""
    state = MemoryState(services.project.state)
    message = f'Ingest external text artifact "{item.label}" into ktx memory.'
    digest = hashlib.sha256(json.dumps([message, item.content, connection_id]).encode()).hexdigest()
    return state.start(digest, chat_id, item.label, connection_id)


def _index(services: Services, connection_id: str | None) -> str:
    pages = services.wiki.list(None)
    lines = ["Wiki pages:"] + [f"- {p.key}: {p.summary}" for p in pages[:200]] if pages else ["Wiki pages: none"]
    if connection_id:
        from ktx.semantic.summaries import read_sources

        lines.append(f"\nSemantic-layer sources of {connection_id}:")
        for source in read_sources(services.project.root, connection_id)[:200]:
            measures = ", ".join(n for n, _, _ in source.measures) or "no measures"
            lines.append(f"- {source.name}: {measures}")
    return "\n".join(lines)


def execute_run(services: Services, run_id: str, item: MemoryItem, connection_id: str | None) -> MemoryResult:
    """Run the memory agent for one queued run. Never raises for model, tool or gate failures."""
    from ktx.ingest.apply import apply_files

    state = MemoryState(services.project.state)
    result = MemoryResult(item.label, run_id, "error")
    try:
        llm = require_llm(services)
        if connection_id:
            from ktx.warehouse.connections import connection_config

            connection_config(services.project, connection_id)
        found = signals(item.content)
        skills = ["wiki_capture"] + (["sl", "sl_capture"] if connection_id else [])
        state.update(run_id, stage="agent")
        session = MemorySession(services, state, run_id, item.label, connection_id)
        user = (
            f'{_index(services, connection_id)}\n\n<artifact label="{item.label}">\n'
            f"{item.content[:MAX_CONTENT]}\n</artifact>\n\n"
            f'Ingest external text artifact "{item.label}" into ktx memory.'
            + ("\n<required_skills>sl_capture</required_skills>" if found["sl"] and connection_id else "")
        )
        loop = llm.run_agent_loop("candidateExtraction", SYSTEM, user, session.tools(), STEP_BUDGET)
        if loop.stop_reason == "error":
            raise KtxError(f"the memory agent stopped: {loop.error}")
        state.update(run_id, stage="gates")
        result.reverted = session.revert_breaking_edits()
        result.captured = {k: sorted(v) for k, v in session.captured.items()}
        result.conflicts = list(session.conflicts)
        if session.files:
            state.update(run_id, stage="commit")
            project = services.project
            project.ensure_repository()
            message = f"memory: {item.label} ({run_id})"
            from ktx.project.lock import project_lock

            # Brief: only the commit needs the project to itself; a running ingest is waited for.
            with project_lock(project.root, f"memory capture {run_id}", wait=True):
                result.commit = apply_files(project.root, project.git, run_id, dict(session.files), message)
            services.search.sync_wiki_scope("global")
        result.status = "done"
        summary = {
            **result.to_json(),
            "skillsLoaded": skills,
            "signalDetected": any(found.values()),
            "steps": loop.metrics.step_count,
        }
        state.update(run_id, stage="done", status="done", summary=summary)
    except KtxError as exc:
        result.error = exc.message
        state.update(run_id, stage="failed", status="error", summary=result.to_json(), error=exc.message)
    except Exception as exc:  # a bug must still end the run visibly
        result.error = f"{type(exc).__name__}: {exc}"
        state.update(run_id, stage="failed", status="error", summary=result.to_json(), error=result.error)
    return result


def capture(
    services: Services, items: list[MemoryItem], *, connection_id: str | None = None, fail_fast: bool = False
) -> list[MemoryResult]:
    """Each item in turn; after a failure the rest still run unless `fail_fast`."""
    require_llm(services)
    batch = int(time.time() * 1000)
    results = []
    for n, item in enumerate(items, start=1):
        run_id = start_run(services, item, connection_id, f"cli-text-ingest-{batch}-{n}")
        result = execute_run(services, run_id, item, connection_id)
        results.append(result)
        if result.status != "done" and fail_fast:
            break
    return results


def run_status(services: Services, run_id: str) -> dict[str, Any]:
    row = MemoryState(services.project.state).get(run_id)
    if row is None:
        raise KtxError(f'Memory ingest run "{run_id}" was not found.')
    summary = row["summary"] or {}
    status = row["status"]
    return {
        "runId": run_id,
        "status": status,
        "stage": row["stage"],
        "done": status != "running",
        "captured": summary.get("captured") or {"wiki": [], "sl": [], "xrefs": []},
        "conflicts": summary.get("conflicts") or [],
        "error": row["error"],
        "commitHash": summary.get("commitHash"),
        "skillsLoaded": summary.get("skillsLoaded") or [],
        "signalDetected": bool(summary.get("signalDetected")),
    }
