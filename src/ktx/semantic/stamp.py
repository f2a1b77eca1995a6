"""The fingerprint of a connection's semantic layer as one compile sees it — every file of the layer (path, size,
modification time), the compiler's own code, the installed sqlglot and the dialect — computed without importing
sqlglot or the compiler, so a cache hit can skip both."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ktx

FORMAT = 2
RACY_NS = 2_000_000_000  # a file written this recently could change again without its stamp changing


def fingerprint(folder: Path, dialect: str) -> tuple[str, int]:
    """(digest, newest modification time of a layer file)."""
    digest = _code_digest().copy()
    digest.update(f"|{dialect}".encode())
    newest = _add_files(digest, folder, folder.rglob("*"))
    return digest.hexdigest(), newest


_CODE: Any = None


def _code_digest() -> Any:
    """The format, ktx's version, sqlglot's files and the compiler's own code, read once per process: the code a
    process runs is the code it imported, whatever happens to the files afterwards."""
    global _CODE
    if _CODE is None:
        digest = hashlib.sha256(f"{FORMAT}|{ktx.__version__}".encode())
        spec = importlib.util.find_spec("sqlglot")
        if spec is not None and spec.origin:
            sqlglot_dir = Path(spec.origin).parent  # an upgrade rewrites these files: a new stamp
            _add_files(digest, sqlglot_dir, [sqlglot_dir / "__init__.py", sqlglot_dir / "_version.py"])
        here = Path(__file__).parent
        _add_files(digest, here, here.glob("*.py"))
        _CODE = digest
    return _CODE


def _add_files(digest: Any, base: Path, paths: Iterable[Path]) -> int:
    newest = 0
    for path in sorted(paths):
        if path.is_file():
            stat = path.stat()
            newest = max(newest, stat.st_mtime_ns)
            digest.update(f"\0{path.relative_to(base)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return newest
