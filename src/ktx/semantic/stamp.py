"""The fingerprint of a connection's semantic layer as one compile sees it — every file of the layer (path, size,
modification time), the compiler's own code, the installed sqlglot and the dialect — computed without importing
sqlglot or the compiler, so a cache hit can skip both."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import ktx
from ktx.filestamp import add_files, add_package

FORMAT = 2
RACY_NS = 2_000_000_000  # a file written this recently could change again without its stamp changing


def fingerprint(folder: Path, dialect: str) -> tuple[str, int]:
    """(digest, newest modification time of a layer file)."""
    digest = _code_digest().copy()
    digest.update(f"|{dialect}".encode())
    newest = add_files(digest, folder, folder.rglob("*"))
    return digest.hexdigest(), newest


_CODE: Any = None


def _code_digest() -> Any:
    """The format, ktx's version, sqlglot's files and the compiler's own code, read once per process: the code a
    process runs is the code it imported, whatever happens to the files afterwards."""
    global _CODE
    if _CODE is None:
        digest = hashlib.sha256(f"{FORMAT}|{ktx.__version__}".encode())
        add_package(digest, "sqlglot", ["__init__.py", "_version.py"])
        here = Path(__file__).parent
        add_files(digest, here, here.glob("*.py"))
        _CODE = digest
    return _CODE
