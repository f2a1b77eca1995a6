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
