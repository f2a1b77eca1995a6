"""A JSONL trace per ingest run: `.ktx/ingest-traces/<runId>/trace.jsonl`, one event per line.

Levels come from KTX_INGEST_TRACE_LEVEL (error < info < debug < trace; default debug). Timed steps write
`<event>_started`, then `<event>_finished` with durationMs or `<event>_failed` at level error. Every line
passes through the run's secret scrubber.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEVELS = {"error": 0, "info": 1, "debug": 2, "trace": 3}


class Trace:
    def __init__(
        self, path: Path, *, job_id: str, connection_id: str, source_key: str, scrub: Callable[[str], str]
    ) -> None:
        self.path = path
        self.job_id = job_id
        self.connection_id = connection_id
        self.source_key = source_key
        self.sync_id: str | None = None
        self.scrub = scrub
        self.level = LEVELS.get(os.environ.get("KTX_INGEST_TRACE_LEVEL", "debug").lower(), LEVELS["debug"])
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def event(
        self,
        phase: str,
        event: str,
        *,
        level: str = "info",
        duration_ms: float | None = None,
        data: dict[str, Any] | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        if LEVELS[level] > self.level:
            return
        line: dict[str, Any] = {
            "schemaVersion": 1,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "jobId": self.job_id,
            "connectionId": self.connection_id,
            "sourceKey": self.source_key,
            "runId": self.job_id,
            "phase": phase,
            "event": event,
        }
        if self.sync_id:
            line["syncId"] = self.sync_id
        if duration_ms is not None:
            line["durationMs"] = round(duration_ms, 1)
        if data:
            line["data"] = data
        if error is not None:
            message = getattr(error, "message", None) or str(error)
            line["error"] = {
                "name": type(error).__name__ if not isinstance(error, str) else "Error",
                "message": message,
            }
        text = self.scrub(json.dumps(line, default=str, ensure_ascii=False))
        with self._lock:
            self._handle.write(text + "\n")
            self._handle.flush()

    @contextmanager
    def step(self, phase: str, event: str, data: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Time a step; the yielded dict is added to the `_finished` event's data."""
        self.event(phase, f"{event}_started", level="debug", data=data)
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        try:
            yield extra
        except BaseException as exc:
            self.event(
                phase, f"{event}_failed", level="error", duration_ms=(time.perf_counter() - started) * 1000, error=exc
            )
            raise
        self.event(phase, f"{event}_finished", duration_ms=(time.perf_counter() - started) * 1000, data=extra or None)

    def close(self) -> None:
        with self._lock:
            self._handle.close()
