"""Compiled semantic queries, kept so that asking the same question of an unchanged layer again costs a file read.

`ktx sl query --format sql|json` (compile only) looks here before it imports sqlglot or loads the layer: the key is
the layer's fingerprint (every file's path, size and time, the compiler's code, sqlglot, the dialect), the project's
ambiguous-path policy and the query itself. Any change to any of them misses. Entries live under
`.ktx/cache/semantic/compiled/` (local, git-ignored, disposable: an unreadable one is ignored and replaced).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ktx.semantic.stamp import RACY_NS, fingerprint

FOLDER = Path(".ktx") / "cache" / "semantic" / "compiled"


def entry(root: Path, connection_id: str, dialect: str, policy: str, spec: dict[str, Any]) -> tuple[Path, bool]:
    """(the entry's path, whether it may be written: not while a layer file is younger than the clock's grain)."""
    folder = root / "semantic-layer" / connection_id
    stamp, newest = fingerprint(folder, dialect)
    query = json.dumps(spec, sort_keys=True, default=str)
    key = hashlib.sha256(f"{stamp}|{connection_id}|{policy}|{query}".encode()).hexdigest()[:32]
    return root / FOLDER / f"{key}.json", time.time_ns() - newest > RACY_NS


def read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "sql" in data else None


def write(path: Path, data: dict[str, Any]) -> None:
    from ktx.project.files import atomic_write

    with contextlib.suppress(OSError):  # a cache that cannot be written is only a slower next run
        atomic_write(path, json.dumps(data, default=str))
