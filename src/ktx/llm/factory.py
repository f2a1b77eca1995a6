"""Build the LLM runtime a project's `llm` block describes, through the backend registry."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ktx.llm.governor import RateLimitGovernor
from ktx.llm.port import LlmError
from ktx.llm.registry import LLM_BACKENDS, load
from ktx.llm.roles import resolve_models
from ktx.llm.runtime import LlmRuntime
from ktx.project.config import KtxConfig


def create_llm_runtime(
    config: KtxConfig,
    base_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    governor: RateLimitGovernor | None = None,
) -> LlmRuntime | None:
    """None for backend `none`; otherwise a runtime, or an LlmError naming what is missing."""
    env = os.environ if env is None else env
    llm = config.llm
    backend = llm.provider.backend
    if backend == "none":
        return None
    spec = LLM_BACKENDS.get(backend)
    if spec is None:
        raise LlmError(f"Unknown LLM backend {backend!r}; use one of none, {', '.join(LLM_BACKENDS)}.")
    models = resolve_models(llm, env=env, base_dir=base_dir)
    governor = governor or RateLimitGovernor(
        config.ingest.rateLimit, max_concurrency=config.ingest.workUnits.maxConcurrency
    )
    backend_impl = load(spec.factory)(config, base_dir, env, governor)
    return LlmRuntime(backend_impl, models, governor=governor)
