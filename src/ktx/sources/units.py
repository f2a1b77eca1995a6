"""LLM work units on top of a deterministic source projection (only when an LLM backend is configured).

Each changed source file is one work unit: an agent loop (role `candidateExtraction`, `ingest.workUnits.stepBudget`
steps, `maxConcurrency` at a time) reads the raw file and the projected layer and writes what the projection
cannot — wiki pages that explain business rules, notes on ambiguous fields, measures or segments that the file
states in prose. It works through the memory tools (ktx.memory.session) on a staged change set, so reviewed
definitions are never overwritten (a contradiction is a recorded conflict), and the semantic-layer gate drops
edits that would break the layer. The projection is never replaced: a failed unit only loses its own additions.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

SYSTEM = """You refine ktx's context from one file of a {label} project. ktx already projected the file's \
structure into the semantic layer of connection {warehouse} (descriptions, keys, joins, measures). Your job is what \
a projection cannot do:
- explain business rules, definitions, caveats and intent in wiki pages (wiki_write / wiki_append, with sl_refs
  '{warehouse}/<source>'), preferring existing pages;
- add a measure or segment only when the file states one in prose that the projection did not capture;
- never contradict a reviewed definition: use report_conflict instead.
Write nothing when the file says nothing beyond its structure. Never copy credentials."""


RECONCILE = """You reconcile the wiki pages that several work units wrote in one ingest run of a {label} project. Merge pages that say the same thing (rewrite one with wiki_write, drop the other with wiki_drop), make
pages that disagree consistent, or report_conflict when the sources themselves disagree. Leave pages that are fine
alone. Reviewed pages (not written in this run) cannot be changed."""


@dataclass
class WorkUnit:
    key: str
    path: str
    text: str


@dataclass
class UnitOutcome:
    files: dict[str, str] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)  # provenance: unit → what it wrote
    failed: list[dict[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    reconciliation: dict[str, Any] = field(default_factory=dict)


def file_hashes(files: dict[str, str]) -> dict[str, str]:
    return {rel: hashlib.sha256(text.encode("utf-8")).hexdigest() for rel, text in files.items()}


def plan(driver: str, files: dict[str, str], previous: dict[str, str]) -> list[WorkUnit]:
    """One unit per file whose content changed since the last completed run (an unchanged project: none)."""
    hashes = file_hashes(files)
    units = []
    for rel in sorted(files):
        if previous.get(rel) == hashes[rel]:
            continue
        slug = "".join(ch if ch.isalnum() else "-" for ch in rel.lower()).strip("-")
        units.append(WorkUnit(f"{driver}-{slug}", rel, files[rel]))
    return units


def run(
    services: Any,
    units: list[WorkUnit],
    *,
    driver: str,
    label: str,
    warehouse: str,
    run_id: str,
    projected: dict[str, str],
) -> UnitOutcome:
    from ktx.memory.session import MemorySession
    from ktx.memory.state import MemoryState

    outcome = UnitOutcome()
    llm = services.llm()
    if llm is None or not units:
        return outcome
    settings = services.project.config.ingest.workUnits
    state = MemoryState(services.project.state)
    system = SYSTEM.format(label=label, warehouse=warehouse)
    index = "\n".join(f"- {p}" for p in sorted(projected)[:200]) or "- (nothing changed in the layer)"

    def one(unit: WorkUnit) -> tuple[WorkUnit, MemorySession, Any]:
        session = MemorySession(services, state, run_id, unit.path, warehouse)
        user = (
            f'Projected files of this run:\n{index}\n\n<file path="{unit.path}">\n{unit.text[:60_000]}\n</file>\n\n'
            f"Refine the context from {unit.path}."
        )
        loop = llm.run_agent_loop(
            "candidateExtraction", system, user, session.tools(), settings.stepBudget, tags={"unit": unit.key}
        )
        return unit, session, loop

    with ThreadPoolExecutor(max_workers=max(1, settings.maxConcurrency), thread_name_prefix="ktx-unit") as pool:
        results = list(pool.map(one, units))
    for unit, session, loop in results:
        if loop.stop_reason == "error":
            outcome.failed.append({"unit": unit.key, "error": str(loop.error)})
            if settings.failureMode == "abort":
                break
            continue
        outcome.reverted += session.revert_breaking_edits()
        for rel, text in session.files.items():
            if rel in outcome.files and outcome.files[rel] != text:
                outcome.failed.append(
                    {"unit": unit.key, "error": f"{rel} was also changed by another unit; kept the first"}
                )
                continue
            outcome.files[rel] = text
        outcome.conflicts += session.conflicts
        for target, keys in session.captured.items():
            outcome.actions += [
                {"unit": unit.key, "rawPath": unit.path, "target": target, "key": k} for k in sorted(keys)
            ]
    _reconcile(services, llm, outcome, label, warehouse, run_id, state)
    return outcome


def _reconcile(
    services: Any, llm: Any, outcome: UnitOutcome, label: str, warehouse: str, run_id: str, state: Any
) -> None:
    """One loop (role `reconcile`) over the pages the units wrote, when two or more units wrote pages."""
    from ktx.memory.session import MemorySession

    writers = {a["unit"] for a in outcome.actions if a["target"] == "wiki"}
    if len(writers) < 2:
        return
    session = MemorySession(services, state, run_id, "reconcile", warehouse)
    session.files = dict(outcome.files)
    session.replaceable = {a["key"] for a in outcome.actions if a["target"] == "wiki"}
    pages = "\n\n".join(
        f'<page key="{k}">\n{session.files.get(f"wiki/global/{k}.md", "")}\n</page>'
        for k in sorted(session.replaceable)
    )
    loop = llm.run_agent_loop(
        "reconcile", RECONCILE.format(label=label), f"Pages written in this run:\n\n{pages}", session.tools(), 20
    )
    if loop.stop_reason == "error":
        outcome.reconciliation = {"status": "failed", "error": str(loop.error)}
        return
    before = dict(outcome.files)
    outcome.files = dict(session.files)
    for key in session.removed:
        outcome.actions = [a for a in outcome.actions if not (a["target"] == "wiki" and a["key"] == key)]
    outcome.conflicts += session.conflicts
    outcome.reconciliation = {
        "status": "done",
        "dropped": sorted(session.removed),
        "rewritten": sorted(p for p, t in session.files.items() if p in before and before[p] != t),
    }
