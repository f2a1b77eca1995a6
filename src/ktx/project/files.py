"""Atomic file writes inside a project, each committed to the project's git repo."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ktx.errors import KtxError
from ktx.project.gitrepo import GitRepo


class PathGuardError(KtxError):
    """A write tried to leave the project or touch git internals."""


def atomic_write(path: Path, data: str | bytes | Iterable[str], *, mode: int | None = None) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file. `data` may be
    text given in pieces (a large document written as it is made, never whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pieces = [data] if isinstance(data, str | bytes) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_many(files: Iterable[tuple[Path, str | bytes]]) -> None:
    """`atomic_write` for many files at once, with one flush to disk for all of them instead of one per file: every
    file is written under a temporary name, their content is flushed (`sync_files`), each is renamed into place,
    then their folders are flushed. After a crash at any moment each path holds its old content or its new one,
    never part of either. (5,000 small files: ~0.4 s instead of ~2 s of one fsync each.)"""
    pending: list[tuple[str, Path]] = []
    renamed = 0
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            pending.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        sync_files([Path(tmp) for tmp, _ in pending])
        for tmp, path in pending:
            os.replace(tmp, path)
            renamed += 1
        sync_folders({path.parent for _, path in pending})
    except BaseException:
        for tmp, _ in pending[renamed:]:
            Path(tmp).unlink(missing_ok=True)
        raise


def sync_files(paths: list[Path]) -> None:
    """Make the content of `paths` durable: one `syncfs` per file system on Linux (a single journal commit for all
    of them), else an fsync of each file."""
    if not _syncfs({p.parent for p in paths}):
        for path in paths:
            _fsync(path)


def sync_folders(folders: Iterable[Path]) -> None:
    """Make the entries of `folders` durable (files created, renamed or removed in them)."""
    for folder in sorted(set(folders)):
        _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(folders: Iterable[Path]) -> bool:
    """One `syncfs` per file system holding `folders`; False where the call is not available or fails."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    done: set[int] = set()
    for folder in folders:
        device = os.stat(folder).st_dev
        if device in done:
            continue
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                return False
        finally:
            os.close(fd)
        done.add(device)
    return True


class ProjectFiles:
    """Writes and removes project files; every change lands as one git commit."""

    def __init__(self, root: Path, git: GitRepo) -> None:
        self.root = root.resolve()
        self.git = git

    def resolve(self, relative: str | Path) -> Path:
        rel = Path(relative)
        if rel.is_absolute():
            raise PathGuardError(f"Project paths must be relative: {relative}")
        target = (self.root / rel).resolve()
        if target != self.root and self.root not in target.parents:
            raise PathGuardError(f"Path escapes the project directory: {relative}")
        if ".git" in target.relative_to(self.root).parts:
            raise PathGuardError(f"Refusing to write inside .git: {relative}")
        return target

    def write(self, relative: str | Path, content: str, message: str) -> str | None:
        return self.write_many({relative: content}, message)

    def write_many(self, files: Mapping[str | Path, str | None], message: str) -> str | None:
        """Write (or delete, for `None`) several files, then commit them together."""
        targets = []
        for relative, content in files.items():
            target = self.resolve(relative)
            if content is None:
                target.unlink(missing_ok=True)
            else:
                atomic_write(target, content)
            targets.append(target)
        return self.git.commit(targets, message)

    def remove(self, relative: str | Path, message: str) -> str | None:
        return self.write_many({relative: None}, message)
