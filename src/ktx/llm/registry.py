"""The LLM backend registry: one entry per backend (factory, auth probe, setup presets, labels).

Adding a backend is one entry here plus its module under `ktx/llm/backends/` exposing
`build_backend(config, base_dir, env, governor) -> Backend`; the runtime factory, `ktx status`'s auth probe
and `ktx setup` derive from this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_ROLES = ("default", "triage", "candidateExtraction", "curator", "reconcile", "repair")
_CLAUDE_API_MODELS = {
    "default": "claude-sonnet-4-6",
    "triage": "claude-haiku-4-5",
    "candidateExtraction": "claude-sonnet-4-6",
    "curator": "claude-opus-4-7",
    "reconcile": "claude-opus-4-7",
    "repair": "claude-haiku-4-5",
}


@dataclass(frozen=True)
class BackendSpec:
    name: str
    factory: str  # "module:function" building the Backend
    setup_choice: str | None = None  # the line `ktx setup` offers (None: not offered interactively)
    probe_label: str = ""  # how setup names the health check
    presets: dict[str, str] = field(default_factory=dict)  # role → model written by `ktx setup`
    probe: str | None = None  # "module:function(project_dir, model)"; None: the generic API health check


LLM_BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "claude-code",
            "ktx.llm.backends.claude_code:build_backend",
            "Claude subscription (Pro/Max)",
            "Claude subscription",
            {
                "default": "sonnet",
                "triage": "haiku",
                "candidateExtraction": "sonnet",
                "curator": "opus",
                "reconcile": "opus",
                "repair": "haiku",
            },
            probe="ktx.llm.probes:claude_code_probe",
        ),
        BackendSpec(
            "codex",
            "ktx.llm.backends.codex:build_backend",
            "Codex subscription",
            "Codex",
            dict.fromkeys(_ROLES, "gpt-5.5"),
            probe="ktx.llm.probes:codex_probe",
        ),
        BackendSpec(
            "anthropic",
            "ktx.llm.backends.anthropic_api:build_backend",
            "Anthropic API key",
            "Anthropic API",
            dict(_CLAUDE_API_MODELS),
        ),
        BackendSpec(
            "vertex",
            "ktx.llm.backends.anthropic_api:build_backend",
            "Google Vertex AI for Anthropic Claude",
            "Vertex AI",
            dict(_CLAUDE_API_MODELS),
        ),
        BackendSpec(
            "gateway",
            "ktx.llm.backends.anthropic_api:build_backend",
            "AI gateway (Anthropic-compatible endpoint)",
            "AI gateway",
            {role: f"anthropic/{model}" for role, model in _CLAUDE_API_MODELS.items()},
        ),
    )
}


def load(target: str):
    """Import "module:function" lazily: backends pull in heavy SDKs only when used."""
    import importlib

    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
