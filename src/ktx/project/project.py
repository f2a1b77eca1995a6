"""A ktx project on disk: where it is, its config, its git repo, its local state."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ktx.errors import ConfigError, KtxError
from ktx.project import yamlio
from ktx.project.config import (
    DEFAULT_GIT_AUTHOR,
    ConfigIssue,
    ConfigValidation,
    KtxConfig,
    validate_config_data,
)
from ktx.project.files import ProjectFiles, atomic_write
from ktx.project.gitrepo import GitRepo, classify_ownership
from ktx.project.location import CONFIG_FILE, KTX_DIR

STATE_DB = "db.sqlite"

KTX_GITIGNORE_ENTRIES = (
    "cache/",
    "db.sqlite",
    "db.sqlite-*",
    "ingest-transcripts/",
    "ingest-traces/",
    "secrets/",
    "setup/",
    "agents/",
    "logs/",
    "worktrees/",
    "runtime/",
    "mcp.json",
    "git.lock",
    "project.lock",
    "evals/",
)

DEFAULT_CONFIG_TEXT = """\
# ktx project configuration. Every key is documented in docs/ktx-yaml.md;
# `ktx admin schema` prints the JSON Schema, `ktx status --validate` checks this file.
connections: {}
storage:
  git:
    author: ktx <ktx@example.com>
llm:
  provider:
    backend: none
  models: {}
ingest:
  embeddings:
    backend: none
scan:
  enrichment:
    mode: deterministic
"""


def validate_config_bytes(data: bytes) -> ConfigValidation:
    """Validate the bytes of a ktx.yaml: not UTF-8, not YAML, or not a valid config are issues, not exceptions."""
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # newlines as read_text gives them
    except UnicodeDecodeError as exc:
        return ConfigValidation(None, [ConfigIssue("", f"ktx.yaml is not UTF-8 text (byte {exc.start})", "error")])
    try:
        raw = yamlio.read_config_yaml(text)
    except ConfigError as exc:
        return ConfigValidation(None, [ConfigIssue("", exc.message, "error")])
    return validate_config_data(raw)


class Project:
    """Opened once per command; hands out config, git, files and state."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def ktx_dir(self) -> Path:
        return self.root / KTX_DIR

    @property
    def state_path(self) -> Path:
        return self.ktx_dir / STATE_DB

    def exists(self) -> bool:
        return self.config_path.is_file()

    # --- config --------------------------------------------------------------------------

    @cached_property
    def validation(self) -> ConfigValidation:
        try:
            data = self.config_path.read_bytes()
        except FileNotFoundError:
            raise KtxError(f"No ktx.yaml found in {self.root}") from None
        return validate_config_bytes(data)

    @property
    def config(self) -> KtxConfig:
        """The validated config; any error-severity issue stops the command with its path."""
        result = self.validation
        if not result.ok or result.config is None:
            first = result.errors[0]
            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            raise ConfigError(f"Invalid ktx.yaml: {first.message}{more}", hint="Run `ktx status --validate`.")
        return result.config

    def update_config(self, edit: Callable[[Any], None], message: str, *, author: str | None = None) -> str | None:
        """Edit ktx.yaml in place (comments and unknown keys kept), validate, write, commit."""
        text = self.config_path.read_text(encoding="utf-8") if self.exists() else ""
        document = yamlio.parse_yaml(text) if text.strip() else yamlio.new_document()
        edit(document)
        new_text = yamlio.dump_yaml(document)
        result = validate_config_data(yamlio.parse_yaml(new_text))
        if not result.ok:
            raise ConfigError(f"Refusing to write an invalid ktx.yaml: {result.errors[0].message}")
        files = self.files if author is None else ProjectFiles(self.root, GitRepo(self.root, author))
        commit = files.write(CONFIG_FILE, new_text, message)
        self.__dict__.pop("validation", None)
        return commit

    # --- git and files -------------------------------------------------------------------

    @cached_property
    def git(self) -> GitRepo:
        author = DEFAULT_GIT_AUTHOR
        result = self.validation if self.exists() else None
        if result is not None and result.config is not None:
            author = result.config.storage.git.author
        return GitRepo(self.root, author)

    @cached_property
    def files(self) -> ProjectFiles:
        self.ensure_repository()
        return ProjectFiles(self.root, self.git)

    def ensure_repository(self) -> None:
        """Make sure the project has its own usable repo before ktx commits to it."""
        ownership = classify_ownership(self.root)
        if ownership == "foreign":
            raise KtxError(foreign_repo_message(self.root))
        if ownership == "unowned":
            self.git.init()
        else:
            self.git.configure()
        self.git.ensure_head()

    # --- state ---------------------------------------------------------------------------

    @cached_property
    def state(self) -> sqlite3.Connection:
        from ktx.project.state import open_state

        return open_state(self.state_path)


def foreign_repo_message(directory: Path) -> str:
    return (
        f"{directory} is already a git repository that ktx did not create. "
        "ktx keeps its own history; choose an empty directory or a new subfolder for the project."
    )


@dataclass(frozen=True)
class InitResult:
    root: Path
    config_path: Path
    commit: str | None
    kept_existing_config: bool


SCAFFOLD_KEEP_FILES = (
    ".ktx/prompts/.gitkeep",
    ".ktx/skills/.gitkeep",
    "wiki/global/.gitkeep",
    "semantic-layer/.gitkeep",
    "raw-sources/.gitkeep",
)


def merge_gitignore(path: Path, entries: tuple[str, ...]) -> None:
    """Add missing entries without removing or reordering the user's own lines."""
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [e for e in entries if e not in existing]
    if missing or not path.exists():
        atomic_write(path, "\n".join([*existing, *missing]) + "\n")


def init_project(directory: Path, *, force: bool = False) -> InitResult:
    """Write the scaffold and make the directory its own git repository.

    `--force` re-runs the scaffold over an existing project but never discards its
    ktx.yaml: configuration is user content, and an overwrite would lose it.
    """
    root = directory.expanduser().resolve()
    if root.is_file():
        raise KtxError(f"Cannot create a project at {root}: it is a file")
    project = Project(root)
    if project.config_path.is_dir():
        raise KtxError(f"Cannot create a project at {root}: {project.config_path} is a directory")
    if project.exists() and not force:
        raise KtxError(
            f"Project already contains ktx.yaml: {project.config_path}",
            hint="Use `ktx admin init --force` to repair the scaffold (ktx.yaml is kept).",
        )
    if classify_ownership(root) == "foreign":
        raise KtxError(foreign_repo_message(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
        return _write_scaffold(root, project)
    except OSError as exc:
        raise KtxError(f"Cannot create a project at {root}: {exc.strerror or exc}") from None


def _write_scaffold(root: Path, project: Project) -> InitResult:
    kept = project.exists()
    if not kept:
        # ktx.yaml goes first so an interrupted init is recognisable and recoverable.
        atomic_write(project.config_path, DEFAULT_CONFIG_TEXT)
    merge_gitignore(root / KTX_DIR / ".gitignore", KTX_GITIGNORE_ENTRIES)
    for keep in SCAFFOLD_KEEP_FILES:
        path = root / keep
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    (root / KTX_DIR / "cache").mkdir(parents=True, exist_ok=True)
    project = Project(root)
    if classify_ownership(root) == "unowned":
        project.git.init()
    else:
        project.git.configure()
    # A kept ktx.yaml is the user's: their uncommitted edits stay uncommitted, for them to review.
    paths = [*([] if kept else [CONFIG_FILE]), f"{KTX_DIR}/.gitignore", *SCAFFOLD_KEEP_FILES]
    commit = project.git.commit(paths, f"Initialize ktx project: {root.name}")
    project.git.ensure_head()
    return InitResult(root, project.config_path, commit, kept)
