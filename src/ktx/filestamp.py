"""Stamps of files by path, size and modification time: what a cache keyed on code or inputs compares, without
reading the files or importing the code."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def add_files(digest: Any, base: Path, paths: Iterable[Path]) -> int:
    """Add each existing file's path (relative to `base`), size and modification time; return the newest time."""
    newest = 0
    for path in sorted(paths):
        if path.is_file():
            stat = path.stat()
            newest = max(newest, stat.st_mtime_ns)
            digest.update(f"\0{path.relative_to(base)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return newest


def add_package(digest: Any, name: str, files: Iterable[str]) -> None:
    """Add named files of an installed package, found without importing it: an upgrade rewrites them."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent
        add_files(digest, folder, [folder / f for f in files])
