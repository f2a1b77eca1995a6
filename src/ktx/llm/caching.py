"""Prompt-cache markers for Anthropic-protocol models (anthropic, vertex, gateway backends).

Placement per request: the system prompt, the alphabetically last tool (tools are sent sorted
by name, so the marker covers every tool definition), and the last content part of the last
message. Defaults: enabled, system 1h, tools 1h, history 5m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ktx.project.config import PromptCachingConfig

EXTENDED_TTL_BETA = "extended-cache-ttl-2025-04-11"
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool = True
    system_ttl: str = "1h"
    tools_ttl: str = "1h"
    history_ttl: str = "5m"

    @classmethod
    def from_config(cls, config: PromptCachingConfig | None, *, backend: str) -> CachePolicy:
        config = config or PromptCachingConfig()
        policy = cls(
            enabled=True if config.enabled is None else config.enabled,
            system_ttl=config.systemTtl or "1h",
            tools_ttl=config.toolsTtl or "1h",
            history_ttl=config.historyTtl or "5m",
        )
        if backend == "vertex" and config.vertexFallbackTo5m:
            policy = cls(policy.enabled, "5m", "5m", "5m")
        return policy

    def active_for(self, model: str) -> bool:
        return self.enabled and speaks_anthropic_protocol(model)


def speaks_anthropic_protocol(model: str) -> bool:
    return model.startswith(("claude-", "anthropic/")) or "/claude-" in model


def _marker(ttl: str) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": ttl}


def apply_cache_markers(request: dict[str, Any], policy: CachePolicy, model: str) -> dict[str, Any]:
    """Return the request with `cache_control` markers placed; the input is not modified."""
    out = dict(request)
    if out.get("tools"):
        out["tools"] = sorted((dict(t) for t in out["tools"]), key=lambda t: t["name"])
    if not policy.active_for(model):
        return out
    if out.get("system"):
        system = out["system"]
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system]
        blocks[-1]["cache_control"] = _marker(policy.system_ttl)
        out["system"] = blocks
    if out.get("tools"):
        out["tools"][-1]["cache_control"] = _marker(policy.tools_ttl)
    messages = [dict(m) for m in out.get("messages", [])]
    if messages:
        last = messages[-1]
        content = last["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else [dict(p) for p in content]
        parts[-1]["cache_control"] = _marker(policy.history_ttl)
        last["content"] = parts
        # Earlier markers on history would exceed the four-breakpoint limit over a long loop.
        for message in messages[:-1]:
            if isinstance(message["content"], list):
                message["content"] = [{k: v for k, v in p.items() if k != "cache_control"} for p in message["content"]]
        out["messages"] = messages
    return out


def beta_headers(backend: str) -> dict[str, str]:
    """Anthropic and gateway get the extended-TTL (and interleaved-thinking) betas; Vertex none."""
    if backend in ("anthropic", "gateway"):
        return {"anthropic-beta": f"{INTERLEAVED_THINKING_BETA},{EXTENDED_TTL_BETA}"}
    return {}
