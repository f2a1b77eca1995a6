"""`ktx setup` flags and their up-front validation (before anything is written)."""

from __future__ import annotations

from dataclasses import dataclass

from ktx.errors import UsageError
from ktx.llm.registry import LLM_BACKENDS as _REGISTRY

# What `--llm-backend` accepts: every backend setup can configure on its own, and `none`.
LLM_BACKENDS = (*(name for name, spec in _REGISTRY.items() if spec.setup_choice), "none")
EMBEDDING_BACKENDS = ("openai", "sentence-transformers")


@dataclass
class SetupOptions:
    no_input: bool = False
    yes: bool = False
    llm_backend: str | None = None
    anthropic_api_key_env: str | None = None
    anthropic_api_key_file: str | None = None
    vertex_project: str | None = None
    vertex_location: str | None = None
    gateway_base_url: str | None = None
    gateway_api_key_env: str | None = None
    gateway_api_key_file: str | None = None
    skip_llm: bool = False
    embedding_backend: str | None = None
    embedding_api_key_env: str | None = None
    embedding_api_key_file: str | None = None
    skip_embeddings: bool = False
    database: list[str] | None = None
    database_connection_id: list[str] | None = None
    database_url: str | None = None
    database_schema: list[str] | None = None
    skip_databases: bool = False
    skip_sources: bool = False
    skip_context: bool = False
    skip_agents: bool = False
    agents: bool = False
    target: list[str] | None = None
    global_: bool = False
    local: bool = False
    agent_mode: str | None = None
    install_dir: str | None = None
    remove_agents: bool = False
    source: str | None = None
    source_connection_id: str | None = None
    source_path: str | None = None
    source_git_url: str | None = None
    source_branch: str | None = None
    source_subpath: str | None = None
    source_auth_token_ref: str | None = None
    source_warehouse_connection_id: str | None = None
    source_url: str | None = None
    source_api_key_ref: str | None = None
    source_client_id: str | None = None
    source_client_secret_ref: str | None = None
    source_root: list[str] | None = None
    source_all_pages: bool = False
    source_database_mapping: list[str] | None = None

    @property
    def llm_flags_given(self) -> bool:
        return bool(
            self.llm_backend
            or self.anthropic_api_key_env
            or self.anthropic_api_key_file
            or self.vertex_project
            or self.vertex_location
            or self.gateway_flags_given
        )

    @property
    def gateway_flags_given(self) -> bool:
        return bool(self.gateway_base_url or self.gateway_api_key_env or self.gateway_api_key_file)

    def effective_llm_backend(self) -> str | None:
        """An explicit backend, or the one implied by credential flags."""
        if self.llm_backend:
            return self.llm_backend
        if self.vertex_project or self.vertex_location:
            return "vertex"
        if self.gateway_flags_given:
            return "gateway"
        if self.anthropic_api_key_env or self.anthropic_api_key_file:
            return "anthropic"
        return None


def validate(options: SetupOptions) -> None:
    """The LLM and embedding pre-checks: bad values and contradictory or misplaced flags are usage errors (exit 2)
    that stop setup before it touches anything."""
    if options.llm_backend and options.llm_backend not in LLM_BACKENDS:
        raise UsageError(f"Unsupported --llm-backend: {options.llm_backend} (use {', '.join(LLM_BACKENDS)})")
    if options.embedding_backend and options.embedding_backend not in EMBEDDING_BACKENDS:
        raise UsageError(
            f"Unsupported --embedding-backend: {options.embedding_backend} (use {', '.join(EMBEDDING_BACKENDS)})"
        )
    if options.anthropic_api_key_env and options.anthropic_api_key_file:
        raise UsageError(
            "Choose only one Anthropic credential source: --anthropic-api-key-env or --anthropic-api-key-file."
        )
    backend = options.effective_llm_backend()
    if (options.anthropic_api_key_env or options.anthropic_api_key_file) and backend != "anthropic":
        raise UsageError("Anthropic API key flags are only valid with --llm-backend anthropic.")
    if (options.vertex_project or options.vertex_location) and backend != "vertex":
        raise UsageError("Vertex AI flags are only valid with --llm-backend vertex.")
    if options.gateway_flags_given and backend != "gateway":
        raise UsageError("Gateway flags are only valid with --llm-backend gateway.")
    if options.gateway_api_key_env and options.gateway_api_key_file:
        raise UsageError("Choose only one gateway credential source: --gateway-api-key-env or --gateway-api-key-file.")
    if options.skip_llm and options.llm_flags_given:
        raise UsageError("--skip-llm cannot be combined with LLM backend or credential flags.")
    if options.embedding_api_key_env and options.embedding_api_key_file:
        raise UsageError(
            "Choose only one embedding credential source: --embedding-api-key-env or --embedding-api-key-file."
        )
    if (options.embedding_api_key_env or options.embedding_api_key_file) and options.embedding_backend != "openai":
        raise UsageError("Embedding API key flags are only valid with --embedding-backend openai.")
    if options.skip_embeddings and options.embedding_backend:
        raise UsageError("--skip-embeddings cannot be combined with --embedding-backend.")
    # Each step checks its own flags (wizard.STEP_FLAG_CHECKS); options knows none of the steps.
