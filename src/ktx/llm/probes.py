"""Health checks and auth probes: can this backend answer with this model right now?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktx.llm.port import LlmError
from ktx.llm.sync import run_with_deadline
from ktx.project.config import KtxConfig

HEALTH_PROMPT = "Reply with exactly: ok"
HEALTH_TIMEOUT_S = 15.0


@dataclass
class ProbeResult:
    ok: bool
    message: str
    fix: str | None = None


def probe_model(config: KtxConfig, project_dir: Path, model: str, *, env: Any = None) -> ProbeResult:
    """One short, tool-less generation with `model` on the configured backend."""
    from ktx.llm.registry import LLM_BACKENDS, load

    spec = LLM_BACKENDS.get(config.llm.provider.backend)
    if spec is None:
        return ProbeResult(False, "no LLM configured")
    if spec.probe:
        return load(spec.probe)(project_dir, model)
    return _api_health_check(config, project_dir, model, env)


def claude_code_probe(project_dir: Path, model: str) -> ProbeResult:
    from ktx.llm.backends import claude_code

    ok, message = claude_code.probe(project_dir, model)
    fix = None
    if not ok and message.startswith("Claude Code authentication"):
        fix = "Authenticate Claude Code locally with the Claude Code CLI, then rerun `ktx status`."
    return ProbeResult(ok, message, fix)


def codex_probe(project_dir: Path, model: str) -> ProbeResult:
    from ktx.llm.backends import codex

    result = codex.probe(project_dir, model)
    return ProbeResult(result.ok, result.message, result.fix)


def _api_health_check(config: KtxConfig, project_dir: Path, model: str, env: Any) -> ProbeResult:
    from ktx.llm.factory import create_llm_runtime
    from ktx.llm.runtime import CallContext

    probe_config = config.model_copy(deep=True)
    probe_config.llm.models.default = model
    try:
        runtime = create_llm_runtime(probe_config, project_dir, env=env)
    except LlmError as exc:
        return ProbeResult(False, exc.message)
    backend = runtime.backend
    backend.client = backend.client.with_options(timeout=HEALTH_TIMEOUT_S)
    try:
        run_with_deadline(
            lambda: backend.create(
                CallContext("default", model),
                {"messages": [{"role": "user", "content": HEALTH_PROMPT}], "max_tokens": 8},
                max_attempts=1,
            ),
            HEALTH_TIMEOUT_S + 1,
            f"LLM health check timed out after {int(HEALTH_TIMEOUT_S * 1000)}ms",
        )
    except Exception as exc:
        return ProbeResult(False, getattr(exc, "message", None) or str(exc))
    return ProbeResult(True, "ok")
