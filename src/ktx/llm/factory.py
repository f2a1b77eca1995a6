"""Build the LLM runtime a project's `llm` block describes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ktx.llm.caching import CachePolicy
from ktx.llm.governor import RateLimitGovernor
from ktx.llm.port import LlmError
from ktx.llm.recorder import RequestRecorder
from ktx.llm.roles import resolve_models
from ktx.llm.runtime import LlmRuntime
from ktx.project.config import KtxConfig
from ktx.project.refs import resolve_reference


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
    models = resolve_models(llm, env=env, base_dir=base_dir)
    governor = governor or RateLimitGovernor(
        config.ingest.rateLimit, max_concurrency=config.ingest.workUnits.maxConcurrency
    )
    if backend in ("anthropic", "vertex", "gateway"):
        from ktx.llm.backends.anthropic_api import AnthropicApiBackend, create_client

        provider = llm.provider
        api_key = base_url = project = location = None

        def ref(value: str | None, field: str) -> str | None:
            return resolve_reference(value, field=field, env=env, base_dir=base_dir)

        if backend == "anthropic":
            block = provider.anthropic
            api_key = (
                ref(block.api_key if block else None, "llm.provider.anthropic.api_key")
                or env.get("ANTHROPIC_API_KEY", "").strip()
                or None
            )
            base_url = ref(block.base_url if block else None, "llm.provider.anthropic.base_url")
            if not api_key:
                raise LlmError(
                    "Anthropic API key missing: set ANTHROPIC_API_KEY or llm.provider.anthropic.api_key (env:/file: reference)."
                )
        elif backend == "gateway":
            block = provider.gateway
            api_key = (
                ref(block.api_key if block else None, "llm.provider.gateway.api_key")
                or env.get("AI_GATEWAY_API_KEY", "").strip()
                or None
            )
            base_url = ref(block.base_url if block else None, "llm.provider.gateway.base_url")
            if not base_url:
                raise LlmError("llm.provider.gateway.base_url is required for the gateway backend.")
            if not api_key:
                raise LlmError("Gateway API key missing: set llm.provider.gateway.api_key or AI_GATEWAY_API_KEY.")
        else:
            block = provider.vertex
            if block is None:
                raise LlmError("vertex.location is required when ktx LLM backend is vertex")
            location = ref(block.location, "llm.provider.vertex.location")
            project = (
                ref(block.project, "llm.provider.vertex.project")
                or env.get("GOOGLE_VERTEX_PROJECT")
                or env.get("ANTHROPIC_VERTEX_PROJECT_ID")
            )
            if not project:
                raise LlmError(
                    "Vertex project missing: set llm.provider.vertex.project or GOOGLE_VERTEX_PROJECT "
                    "(or run `gcloud config set project PROJECT_ID`)."
                )
        client = create_client(backend, api_key=api_key, base_url=base_url, project=project, location=location)
        log = env.get("KTX_LLM_REQUEST_LOG", "").strip()
        backend_impl = AnthropicApiBackend(
            backend,
            client,
            cache_policy=CachePolicy.from_config(llm.promptCaching, backend=backend),
            governor=governor,
            secrets=[api_key or ""],
            recorder=RequestRecorder(Path(log)) if log else None,
        )
        return LlmRuntime(backend_impl, models, governor=governor)
    raise LlmError(f"The {backend} backend is not available in this ktx build yet; use anthropic, vertex or gateway.")
