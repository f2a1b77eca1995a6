"""Opt-in JSONL request recorder: one sanitized summary per model request — no prompt text,
no tool descriptions or schemas, no secrets. Enable with `KTX_LLM_REQUEST_LOG=<path>`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ktx.llm.runtime import CallContext


def cache_markers(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Where cache_control markers sit in a request, and their TTLs."""
    out: list[dict[str, Any]] = []
    system = request.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            if "cache_control" in block:
                out.append({"target": "system", "index": i, "ttl": block["cache_control"].get("ttl")})
    for i, tool in enumerate(request.get("tools") or []):
        if "cache_control" in tool:
            out.append({"target": "tool", "index": i, "name": tool["name"], "ttl": tool["cache_control"].get("ttl")})
    for i, message in enumerate(request.get("messages") or []):
        if isinstance(message.get("content"), list):
            for j, part in enumerate(message["content"]):
                if isinstance(part, dict) and "cache_control" in part:
                    out.append(
                        {
                            "target": "message-part",
                            "index": i,
                            "role": message["role"],
                            "partIndex": j,
                            "ttl": part["cache_control"].get("ttl"),
                        }
                    )
    return out


class RequestRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, ctx: CallContext, request: dict[str, Any]) -> None:
        summary = {
            "timestamp": datetime.now(UTC).isoformat(),
            "operationName": ctx.tags.get("operationName", "ktx-agent-runner"),
            **{k: ctx.tags[k] for k in ("source", "jobId", "unitKey") if k in ctx.tags},
            "modelRole": ctx.role,
            "modelId": ctx.model,
            "messageCount": len(request.get("messages") or []),
            "toolNames": sorted(t["name"] for t in request.get("tools") or []),
            "cacheMarkers": cache_markers(request),
        }
        line = json.dumps(summary, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
