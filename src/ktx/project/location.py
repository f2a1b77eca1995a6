"""Which directory is the project: resolved before anything heavier (config models, git) is imported,
so commands that only read files start fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ktx.errors import UsageError

CONFIG_FILE = "ktx.yaml"
KTX_DIR = ".ktx"

ResolutionSource = Literal["flag", "env", "ancestor", "cwd"]


@dataclass(frozen=True)
class ProjectLocation:
    root: Path
    source: ResolutionSource


def resolve_project_dir(
    flag: str | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ProjectLocation:
    """`--project-dir` → `KTX_PROJECT_DIR` → nearest ancestor with ktx.yaml → cwd."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if flag is not None:
        if not flag.strip():
            raise UsageError("--project-dir requires a value")
        return ProjectLocation((cwd / Path(flag).expanduser()).resolve(), "flag")
    if "KTX_PROJECT_DIR" in env:
        value = env["KTX_PROJECT_DIR"]
        if not value.strip():
            raise UsageError("KTX_PROJECT_DIR must not be empty")
        return ProjectLocation((cwd / Path(value).expanduser()).resolve(), "env")
    here = cwd.resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return ProjectLocation(candidate, "ancestor")
    return ProjectLocation(here, "cwd")


def configured_driver(root: Path, connection_id: str) -> tuple[bool, str | None]:
    """(configured, driver) for a connection, read straight from ktx.yaml without the config models: the
    compile-only `sl query` path needs only the dialect. An unreadable file reads as "not configured";
    commands that need the connection load and validate the full configuration instead."""
    from ktx.project.yamlio import MAX_CONFIG_CHARS, safe_load

    try:
        data = safe_load((root / CONFIG_FILE).read_text(encoding="utf-8"), MAX_CONFIG_CHARS) or {}
    except Exception:
        return False, None
    connections = data.get("connections") if isinstance(data, dict) else None
    entry = connections.get(connection_id) if isinstance(connections, dict) else None
    if not isinstance(entry, dict):
        return False, None
    driver = entry.get("driver")
    return True, driver if isinstance(driver, str) else None


def configured_path_policy(root: Path) -> str:
    """`semantic_layer.ambiguousPaths` read straight from ktx.yaml for the compile-only path ("refuse" unless the
    project says "pick"); the full config validates the value everywhere else."""
    from ktx.project.yamlio import MAX_CONFIG_CHARS, safe_load

    try:
        data = safe_load((root / CONFIG_FILE).read_text(encoding="utf-8"), MAX_CONFIG_CHARS) or {}
    except Exception:
        return "refuse"
    section = data.get("semantic_layer") if isinstance(data, dict) else None
    value = section.get("ambiguousPaths") if isinstance(section, dict) else None
    return "pick" if value == "pick" else "refuse"
