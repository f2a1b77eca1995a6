"""Model roles: which model each kind of work uses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ktx.llm.port import LlmError
from ktx.project.config import MODEL_ROLES, LlmConfig
from ktx.project.refs import resolve_reference


def resolve_models(
    llm: LlmConfig, *, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> dict[str, str]:
    """Role → model id, references resolved; a role without a model uses `default`."""
    backend = llm.provider.backend
    resolved: dict[str, str] = {}
    for role in MODEL_ROLES:
        raw = getattr(llm.models, role)
        if raw is None:
            continue
        value = resolve_reference(raw, field=f"llm.models.{role}", env=env, base_dir=base_dir)
        if not value:
            raise LlmError(f"llm.models.{role} is required (its reference {raw!r} resolved to nothing)")
        resolved[role] = value
    if "default" not in resolved:
        raise LlmError(
            "llm.models.default is required when llm.provider.backend is not none",
            hint=f'Set llm.models.default in ktx.yaml (backend "{backend}"), or run `ktx setup`.',
        )
    return {role: resolved.get(role, resolved["default"]) for role in MODEL_ROLES}
