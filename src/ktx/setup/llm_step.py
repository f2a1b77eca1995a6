"""Setup step: choose the LLM backend, find credentials, health-check the preset models, and
return the ktx.yaml edits (applied only when every step succeeded)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.llm.registry import LLM_BACKENDS
from ktx.project import yamlio
from ktx.project.config import MODEL_ROLES, KtxConfig
from ktx.project.files import atomic_write
from ktx.project.project import Project
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI

Edit = Callable[[Any], None]

PRESETS = {name: spec.presets for name, spec in LLM_BACKENDS.items() if spec.setup_choice}
CHOICES = [(name, spec.setup_choice) for name, spec in LLM_BACKENDS.items() if spec.setup_choice]
PROBE_LABELS = {name: spec.probe_label for name, spec in LLM_BACKENDS.items()}
MISSING_BACKEND = (
    "Missing LLM backend: pass --llm-backend with one of claude-code, codex, anthropic, vertex, gateway, none. "
    "claude-code and codex use local CLI authentication; anthropic also needs --anthropic-api-key-env or "
    "--anthropic-api-key-file, vertex --vertex-project, gateway --gateway-base-url (and a key: "
    "--gateway-api-key-env, --gateway-api-key-file or AI_GATEWAY_API_KEY); none runs ktx without an LLM."
)
DEFAULT_VERTEX_LOCATION = "us-east5"


def llm_ready(config: KtxConfig) -> bool:
    llm = config.llm
    if llm.provider.backend == "none" or not llm.models.default:
        return False
    if llm.provider.backend == "gateway":
        return llm.provider.gateway is not None and bool(llm.provider.gateway.base_url)
    return not (llm.provider.backend == "vertex" and (llm.provider.vertex is None or not llm.provider.vertex.location))


def save_secret(project: Project, name: str, value: str) -> str:
    """Write a pasted secret to `.ktx/secrets/<name>` (0600, git-ignored); return its `file:` reference."""
    path = project.ktx_dir / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    atomic_write(path, value.strip() + "\n", mode=0o600)
    return f"file:{path}"


def credential_from_flags(env_name: str | None, file_path: str | None, label: str) -> str | None:
    """`--…-env NAME` → `env:NAME` (must be set), `--…-file PATH` → `file:<abs path>` (must exist)."""
    if env_name:
        name = env_name.removeprefix("$")
        if not os.environ.get(name, "").strip():
            raise KtxError(f"Missing {label}: {name} is not set.")
        return f"env:{name}"
    if file_path:
        path = Path(file_path).expanduser().resolve()
        if not path.is_file():
            raise KtxError(f"Missing {label} file: {file_path}")
        return f"file:{path}"
    return None


def _anthropic_credential(project: Project, options: SetupOptions, ui: SetupUI) -> str:
    flagged = credential_from_flags(options.anthropic_api_key_env, options.anthropic_api_key_file, "Anthropic API key")
    if flagged:
        return flagged
    choices = [("paste", "Paste an API key (saved to .ktx/secrets/anthropic-api-key)")]
    if os.environ.get("ANTHROPIC_API_KEY", "").strip():
        choices.append(("env", "Use ANTHROPIC_API_KEY from the environment"))
    choice = ui.select(
        "How should ktx find your Anthropic API key?",
        choices,
        "Missing Anthropic API key: pass --anthropic-api-key-env or --anthropic-api-key-file.",
    )
    if choice == "env":
        return "env:ANTHROPIC_API_KEY"
    key = ui.text("Anthropic API key", "Missing Anthropic API key.", secret=True)
    if not key:
        raise KtxError("Missing Anthropic API key: nothing was pasted.")
    return save_secret(project, "anthropic-api-key", key)


def _gateway_settings(project: Project, options: SetupOptions, ui: SetupUI) -> dict[str, str]:
    base_url = options.gateway_base_url
    missing_url = "Missing gateway URL: pass --gateway-base-url (an Anthropic-compatible endpoint)."
    if not base_url:
        base_url = ui.text("AI gateway base URL (Anthropic-compatible)", missing_url)
        if not base_url:
            raise KtxError(missing_url)
    if not base_url.startswith(("https://", "http://", "env:", "file:")):
        raise KtxError(f"Invalid gateway URL {base_url!r}: use https://… (or an env:/file: reference).")
    credential = credential_from_flags(options.gateway_api_key_env, options.gateway_api_key_file, "gateway API key")
    if credential is None and os.environ.get("AI_GATEWAY_API_KEY", "").strip():
        credential = "env:AI_GATEWAY_API_KEY"
    if credential is None:
        missing_key = (
            "Missing gateway API key: pass --gateway-api-key-env or --gateway-api-key-file, or set AI_GATEWAY_API_KEY."
        )
        key = ui.text("AI gateway API key", missing_key, secret=True)
        if not key:
            raise KtxError(missing_key)
        credential = save_secret(project, "gateway-api-key", key)
    return {"base_url": base_url, "api_key": credential}


def _gcloud_project() -> str | None:
    if not shutil.which("gcloud"):
        return None
    try:
        out = subprocess.run(
            ["gcloud", "config", "get-value", "project"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out if out and out != "(unset)" else None


def _vertex_settings(options: SetupOptions, ui: SetupUI) -> dict[str, str]:
    project = options.vertex_project
    if not project and os.environ.get("GOOGLE_VERTEX_PROJECT", "").strip():
        project = "env:GOOGLE_VERTEX_PROJECT"
    if not project:
        project = _gcloud_project()
    missing = (
        "Missing Vertex project: run `gcloud config set project PROJECT_ID`, pass --vertex-project, "
        "or set GOOGLE_VERTEX_PROJECT."
    )
    if not project:
        project = ui.text("Google Cloud project ID for Vertex AI", missing)
        if not project:
            raise KtxError(missing)
    location = options.vertex_location
    if not location and os.environ.get("GOOGLE_VERTEX_LOCATION", "").strip():
        location = "env:GOOGLE_VERTEX_LOCATION"
    return {"project": project, "location": location or DEFAULT_VERTEX_LOCATION}


def _candidate(project: Project, edits: list[Edit]) -> KtxConfig:
    """The config as it will be after these edits, validated, so probes test what gets written."""
    text = project.config_path.read_text(encoding="utf-8")
    document = yamlio.parse_yaml(text) if text.strip() else yamlio.new_document()
    for edit in edits:
        edit(document)
    from ktx.project.config import validate_config_data

    result = validate_config_data(yamlio.parse_yaml(yamlio.dump_yaml(document)))
    if not result.ok or result.config is None:
        raise KtxError(f"Setup would write an invalid ktx.yaml: {result.errors[0].message}")
    return result.config


def _failure_message(backend: str, message: str) -> str:
    if backend == "anthropic":
        return f"Anthropic model health check failed: {message}"
    if backend == "gateway":
        return f"AI gateway model health check failed: {message}"
    if backend == "vertex":
        text = f"Vertex AI model health check failed: {message}"
        if any(word in message.lower() for word in ("forbidden", "permission", "403")):
            text += (
                " Check that the Vertex AI API is enabled, that Claude models are enabled in this location, "
                "and that your account has roles/aiplatform.user."
            )
        return text
    return message


def run_llm_step(project: Project, options: SetupOptions, ui: SetupUI, prior: list[Edit]) -> list[Edit]:
    """Returns the edits for ktx.yaml; raises KtxError (nothing written) when the step fails."""
    ui.step("LLM")
    if options.skip_llm:
        ui.line("LLM setup skipped.")
        return []
    current = project.config
    if llm_ready(current) and not options.llm_flags_given:
        ui.line(f"LLM ready: yes ({current.llm.models.default})")
        return []
    backend = options.effective_llm_backend() or ui.select(
        "Which LLM provider should ktx use?", CHOICES, MISSING_BACKEND
    )

    provider_edits: list[Edit] = [lambda d: yamlio.set_path(d, ["llm", "provider", "backend"], backend)]
    if backend == "none":
        # A real choice: scanning, search, the semantic layer and serving all work without an LLM.
        ui.line("LLM: none — ktx runs deterministically (no descriptions.ai, no memory capture).")
        return provider_edits
    if backend == "anthropic":
        credential = _anthropic_credential(project, options, ui)
        provider_edits.append(lambda d: yamlio.set_path(d, ["llm", "provider", "anthropic", "api_key"], credential))
    elif backend == "gateway":
        gateway = _gateway_settings(project, options, ui)
        provider_edits.append(lambda d: yamlio.set_path(d, ["llm", "provider", "gateway"], dict(gateway)))
    elif backend == "vertex":
        vertex = _vertex_settings(options, ui)
        provider_edits.append(lambda d: yamlio.set_path(d, ["llm", "provider", "vertex", "project"], vertex["project"]))
        provider_edits.append(
            lambda d: yamlio.set_path(d, ["llm", "provider", "vertex", "location"], vertex["location"])
        )

    models = dict(PRESETS[backend])
    anchor = models["default"]
    label = PROBE_LABELS[backend]
    candidate = _candidate(project, [*prior, *provider_edits])
    from ktx.llm.probes import probe_model

    distinct = list(dict.fromkeys(models[role] for role in MODEL_ROLES))
    for model in distinct:
        with ui.spinner(f"Checking {label} LLM ({model})."):
            result = probe_model(candidate, project.root, model)
        if result.ok:
            ui.line(f"LLM test passed ({label}, {model})")
            continue
        ui.line(f"LLM test failed ({label}, {model})")
        if model == anchor:
            raise KtxError(_failure_message(backend, result.message), hint=result.fix)
        roles = [role for role in MODEL_ROLES if models[role] == model]
        for role in roles:
            models[role] = anchor
        ui.warn(f"LLM model {model} is unavailable for {', '.join(roles)}; using {anchor} for those roles.")

    edits = [*provider_edits, lambda d: yamlio.set_path(d, ["llm", "models"], dict(models))]
    caching = current.llm.promptCaching
    if backend in ("anthropic", "gateway"):
        edits.append(lambda d: yamlio.set_path(d, ["llm", "promptCaching", "enabled"], True))
    elif backend == "vertex":
        edits.append(lambda d: yamlio.set_path(d, ["llm", "promptCaching", "enabled"], True))
        edits.append(lambda d: yamlio.set_path(d, ["llm", "promptCaching", "vertexFallbackTo5m"], True))
    elif backend == "claude-code" and caching is not None:
        from ktx.status.checks import CLAUDE_CODE_TTL_FIELDS

        ignored = [f"llm.promptCaching.{f}" for f in CLAUDE_CODE_TTL_FIELDS if f in caching.model_fields_set]
        if ignored:
            ui.warn(
                f"claude-code ignores {', '.join(ignored)} because the Claude Agent SDK does not expose ktx "
                "prompt-cache TTL, tool, or history markers. Remove those promptCaching fields or use anthropic, "
                "vertex, or gateway when those cache knobs are required."
            )
    edits.append(lambda d: yamlio.set_path(d, ["scan", "enrichment", "mode"], "llm"))
    if backend == "codex":
        from ktx.llm.backends.codex import ISOLATION_FIX, ISOLATION_WARNING

        ui.warn(f"{ISOLATION_WARNING} {ISOLATION_FIX}")
        ui.line(f"LLM ready: yes (codex, {models['default']})")
    else:
        ui.line(f"LLM ready: yes ({models['default']})")
    return edits
