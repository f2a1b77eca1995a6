"""Setup step: choose the embeddings backend, find credentials, health-check, return the edits."""

from __future__ import annotations

import os

from ktx.errors import KtxError
from ktx.project import yamlio
from ktx.project.project import Project
from ktx.setup.llm_step import Edit, _candidate, credential_from_flags, save_secret
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI

CHOICES = [
    ("sentence-transformers", "Local model in this process (all-MiniLM-L6-v2, 384 dims, no key)"),
    ("openai", "OpenAI embeddings (text-embedding-3-small, 1536 dims, API key)"),
]
SPECS = {
    "sentence-transformers": ("all-MiniLM-L6-v2", 384, 120.0),
    "openai": ("text-embedding-3-small", 1536, 15.0),
}


def _openai_credential(project: Project, options: SetupOptions, ui: SetupUI) -> str:
    flagged = credential_from_flags(options.embedding_api_key_env, options.embedding_api_key_file, "OpenAI API key")
    if flagged:
        return flagged
    if os.environ.get("OPENAI_API_KEY", "").strip():
        return "env:OPENAI_API_KEY"
    key = ui.text(
        "OpenAI API key",
        "Missing OpenAI API key: pass --embedding-api-key-env or --embedding-api-key-file, or set OPENAI_API_KEY.",
        secret=True,
    )
    if not key:
        raise KtxError("Missing OpenAI API key: nothing was pasted.")
    return save_secret(project, "openai-api-key", key)


def run_embeddings_step(project: Project, options: SetupOptions, ui: SetupUI, prior: list[Edit]) -> list[Edit]:
    ui.step("Embeddings")
    if options.skip_embeddings:
        ui.line("Embeddings setup skipped.")
        return []
    current = project.config.ingest.embeddings
    if current.backend != "none" and not options.embedding_backend:
        ui.line(f"Embeddings ready: yes ({current.backend})")
        return []
    if options.embedding_backend:
        backend = options.embedding_backend
    elif ui.interactive:
        backend = ui.select("How should ktx compute embeddings for semantic search?", CHOICES, "")
    else:
        backend = "sentence-transformers"  # needs no key or network
    model, dimensions, timeout = SPECS[backend]
    edits: list[Edit] = [
        lambda d: yamlio.set_path(d, ["ingest", "embeddings", "backend"], backend),
        lambda d: yamlio.set_path(d, ["ingest", "embeddings", "model"], model),
        lambda d: yamlio.set_path(d, ["ingest", "embeddings", "dimensions"], dimensions),
    ]
    if backend == "openai":
        credential = _openai_credential(project, options, ui)
        edits.append(lambda d: yamlio.set_path(d, ["ingest", "embeddings", "openai", "api_key"], credential))
    from ktx.llm.embeddings import create_embedding_provider, health_check

    candidate = _candidate(project, [*prior, *edits])
    with ui.spinner(f"Checking embeddings ({backend}, {model})."):
        try:
            provider = create_embedding_provider(candidate, project.root)
            result = health_check(provider, timeout_s=timeout) if provider else None
        except KtxError as exc:
            raise KtxError(f"Embedding health check failed: {exc.message}", hint=exc.hint) from None
    if result is None or not result.ok:
        raise KtxError(f"Embedding health check failed: {result.detail if result else 'no provider'}")
    ui.line(f"Embeddings ready: yes ({backend} {model}, {dimensions} dims)")
    return edits
