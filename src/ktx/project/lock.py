"""One writer at a time: the project lock taken by ingest and memory capture.

An advisory `flock` on `.ktx/project.lock`. The kernel releases it when the holding process ends, however it
ends (kill -9 included), so a lock left by a dead process is never stale: the next run simply gets it. The file
records who holds it, for the message the second writer sees.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ktx.errors import KtxError

LOCK_FILE = Path(".ktx") / "project.lock"


class ProjectBusy(KtxError):
    pass


def _holder(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another ktx process"
    what = data.get("purpose") or "ktx"
    pid = data.get("pid")
    since = data.get("since")
    return f"`{what}` (pid {pid}, since {since})" if pid else "another ktx process"


@contextmanager
def project_lock(
    root: Path,
    purpose: str,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    poll_s: float = 0.2,
) -> Iterator[None]:
    """Hold the project's write lock for the block. Busy: refuse with who holds it, or (`wait`) wait for it."""
    from ktx.project.project import merge_gitignore

    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    merge_gitignore(path.parent / ".gitignore", ("project.lock",))  # projects made before the lock existed
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                raise ProjectBusy(
                    f"Another ktx run is writing to this project: {holder}.",
                    hint="Wait for it to finish, or pass --wait to start as soon as it does.",
                ) from None
            if on_wait is not None:
                on_wait(f"Waiting for {holder} to finish…")
            while True:  # polling keeps Ctrl+C responsive, unlike a blocking flock
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(poll_s)
        record = {"purpose": purpose, "pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
