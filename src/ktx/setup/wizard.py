"""`ktx setup`: project, LLM, embeddings and databases steps, then one validated edit of ktx.yaml and one commit.

Steps only collect edits; nothing is written until every step has succeeded, so a failed health
check or probe leaves ktx.yaml exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from ktx.errors import KtxError
from ktx.project.files import atomic_write
from ktx.project.gitrepo import classify_ownership
from ktx.project.project import (
    KTX_DIR,
    KTX_GITIGNORE_ENTRIES,
    Project,
    foreign_repo_message,
    init_project,
    merge_gitignore,
)
from ktx.setup.agents_step import run_agents_step, validate_agent_flags
from ktx.setup.context_step import run_context_step
from ktx.setup.databases_step import run_databases_step, validate_database_flags
from ktx.setup.embeddings_step import run_embeddings_step
from ktx.setup.llm_step import Edit, run_llm_step
from ktx.setup.options import SetupOptions, validate
from ktx.setup.sources_step import run_sources_step, validate_source_flags
from ktx.setup.ui import SetupUI

SETUP_AUTHOR = "ktx setup <setup@ktx.local>"
# Every flag is checked before setup touches anything: the shared LLM/embedding checks, then each step's own.
STEP_FLAG_CHECKS = (validate, validate_database_flags, validate_source_flags, validate_agent_flags)
STEPS = ("project", "llm", "embeddings", "databases", "sources", "runtime", "context", "agents")


def mark_steps(project: Project, steps: list[str]) -> None:
    """`.ktx/setup/state.json`: completed steps, deduplicated, known steps only, in step order."""
    path = project.ktx_dir / "setup" / "state.json"
    try:
        done = set(json.loads(path.read_text()).get("completed_steps", []))
    except (OSError, ValueError, AttributeError):
        done = set()
    done.update(steps)
    atomic_write(path, json.dumps({"completed_steps": [s for s in STEPS if s in done]}, indent=2) + "\n")


def _project_step(root: Path, options: SetupOptions, ui: SetupUI) -> Project:
    ui.step("Project")
    project = Project(root)
    if project.exists():
        _ = project.config  # an invalid ktx.yaml stops setup here, untouched
        merge_gitignore(root / KTX_DIR / ".gitignore", KTX_GITIGNORE_ENTRIES)
        ui.line(f"Using project {root}")
        return project
    if classify_ownership(root) == "foreign":
        raise KtxError(foreign_repo_message(root))
    if not options.yes:
        answer = ui.select(
            f"Create a ktx project in {root}?",
            [("yes", "Yes, create it here"), ("no", "No, exit")],
            f"Missing setup choice: pass --yes to create a ktx project in {root}.",
        )
        if answer != "yes":
            raise KeyboardInterrupt
    init_project(root)
    ui.line(f"Created project {root}")
    return Project(root)


def _with_edits(project: Project, edits: list[Edit]) -> Project:
    """A view of the project with `edits` applied to its config in memory (nothing is written)."""
    from ktx.project import yamlio
    from ktx.project.config import validate_config_data

    document = yamlio.parse_yaml(project.config_path.read_text(encoding="utf-8"))
    for edit in edits:
        edit(document)
    view = Project(project.root)
    view.__dict__["validation"] = validate_config_data(yamlio.safe_load(yamlio.dump_yaml(document)))
    return view


def run_setup(root: Path, options: SetupOptions, *, interactive: bool) -> Project:
    for check in STEP_FLAG_CHECKS:
        check(options)
    ui = SetupUI(interactive=interactive)
    project = _project_step(root, options, ui)
    if options.agents or options.remove_agents:
        # `--agents` runs only the project step and the agents step.
        status, _ = run_agents_step(project, options, ui)
        if status == "ready":
            mark_steps(project, ["project", "agents"])
        ui.step("Done")
        return project
    secrets_before = _snapshot_secrets(project)
    try:
        project, commit, completed, context_ids = _config_steps(project, options, ui)
    except BaseException:
        # A failed step writes nothing: secrets it saved for its own live test go with the failure.
        _restore_secrets(project, secrets_before)
        raise
    context = run_context_step(project, options, ui, context_ids)
    if context == "built":
        completed.append("context")
    agents, _ = run_agents_step(project, options, ui)
    if agents == "ready" or options.skip_agents:
        completed.append("agents")
    mark_steps(project, completed)
    ui.step("Done")
    ui.line(f"ktx project ready: {project.root}" + (f" (commit {commit[:10]})" if commit else ""))
    if context == "failed":
        raise KtxError("The configuration was saved, but building context failed (see above).")
    ui.line("Next: `ktx status` to check everything, `ktx sl` to see what was ingested.")
    return project


def _snapshot_secrets(project: Project) -> dict[Path, bytes]:
    folder = project.ktx_dir / "secrets"
    return {p: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}


def _restore_secrets(project: Project, before: dict[Path, bytes]) -> None:
    folder = project.ktx_dir / "secrets"
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and path not in before:
            path.unlink()
    for path, content in before.items():
        if not path.is_file() or path.read_bytes() != content:
            atomic_write(path, content, mode=0o600)


def _config_steps(
    project: Project, options: SetupOptions, ui: SetupUI
) -> tuple[Project, str | None, list[str], list[str]]:
    """LLM, embeddings, databases and sources: each tested live, then one validated edit of ktx.yaml."""
    edits: list[Edit] = []
    completed = ["project"]
    llm_edits = run_llm_step(project, options, ui, edits)
    edits += llm_edits
    if not options.skip_llm:
        completed.append("llm")
    edits += run_embeddings_step(project, options, ui, edits)
    if not options.skip_embeddings:
        completed.append("embeddings")
    database_edits, databases_done, context_ids = run_databases_step(project, options, ui)
    edits += database_edits
    if databases_done:
        completed.append("databases")
    if database_edits:
        # A source added now may name the warehouse just set up: let it see that connection.
        project = _with_edits(project, database_edits)
    source_edits, sources_done = run_sources_step(project, options, ui)
    edits += source_edits
    if sources_done:
        completed.append("sources")

    if edits:

        def apply(document: object) -> None:
            for edit in edits:
                edit(document)

        commit = project.update_config(apply, "setup: update ktx project config", author=SETUP_AUTHOR)
    else:
        commit = None
    return project, commit, completed, context_ids
