"""The files a context source may read: those that really live inside the source's folder.

A dbt, MetricFlow or LookML project is someone else's tree — often a repository ktx just cloned. A symlink in it
(`models/passwd.yml -> /etc/passwd`) or a path setting (`model-paths: ["../../.."]`) must not make ktx read, and
then commit, files from elsewhere on the machine. Symlinks that stay inside the folder are followed; anything
that leaves it, and broken links, are skipped with a warning naming them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path`, with every symlink resolved, is `root` or below it (root resolved too)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def subfolder(root: Path, relative: str, code: str, warnings: list[str], what: str) -> Path | None:
    """`root/relative` when that stays inside root (lexically and once resolved), else None with a warning."""
    text = str(relative).strip()
    normal = os.path.normpath(text) if text else "."
    if os.path.isabs(text) or normal == ".." or normal.startswith(".." + os.sep):
        warnings.append(f"{code}_path_outside:{text}: {what} leaves the project's folder; skipped")
        return None
    folder = root / normal
    if folder.exists() and not inside(folder, root):
        warnings.append(f"{code}_path_outside:{text}: {what} resolves outside the project's folder; skipped")
        return None
    return folder


def source_files(
    root: Path, base: Path, suffixes: Iterable[str], code: str, warnings: list[str]
) -> list[tuple[Path, str]]:
    """(path, path relative to root) of every file under `base` with one of `suffixes`, sorted; `.git` skipped.
    Each must resolve inside `root`; symlinked folders are followed once (a link loop ends there)."""
    wanted = tuple(suffixes)
    if not base.is_dir() or not inside(base, root):
        return []
    found: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        seen.add(os.path.realpath(dirpath))
        keep = []
        for name in sorted(dirnames):
            if name == ".git":
                continue
            child = os.path.join(dirpath, name)
            rel = os.path.relpath(child, root)
            if not inside(child, root):
                warnings.append(f"{code}_path_outside:{rel}: a symlink to a folder outside the project; skipped")
            elif os.path.realpath(child) not in seen:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(wanted):
                continue
            path = Path(dirpath) / name
            rel = os.path.relpath(path, root)
            if not os.path.exists(path):
                warnings.append(f"{code}_unreadable:{rel}: a broken symlink; skipped")
            elif not inside(path, root):
                warnings.append(f"{code}_path_outside:{rel}: a symlink to a file outside the project; skipped")
            elif os.path.isfile(path):
                found.append((path, rel))
    return sorted(found, key=lambda item: item[1])
