"""The blocks of ktx.yaml other than connections: setup, storage, llm, ingest, scan, agent, memory."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ktx.project.config.base import DEFAULT_GIT_AUTHOR, MODEL_ROLES, NonEmptyStr, Strict, Ttl

# --- setup / storage -------------------------------------------------------------------------


class SetupConfig(Strict):
    database_connection_ids: list[str] = Field(default_factory=list)


class GitConfig(Strict):
    author: str = DEFAULT_GIT_AUTHOR

    @field_validator("author")
    @classmethod
    def _author_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[^<>]+ <[^<>@\s]+@[^<>\s]+>", value.strip()):
            raise ValueError("must look like 'Name <email@example.com>'")
        return value.strip()


class SearchWeightsConfig(Strict):
    """Reciprocal-rank-fusion weight per search lane (defaults: 1.5, 0.75, 3, 2)."""

    lexical: float | None = Field(None, ge=0)
    token: float | None = Field(None, ge=0)
    semantic: float | None = Field(None, ge=0)
    dictionary: float | None = Field(None, ge=0)


class StorageConfig(Strict):
    state: Literal["sqlite", "postgres"] = "sqlite"
    search: Literal["sqlite-fts5", "postgres-hybrid"] = "sqlite-fts5"
    searchWeights: SearchWeightsConfig | None = None
    git: GitConfig = Field(default_factory=GitConfig)


# --- llm --------------------------------------------------------------------------------------


class ApiProviderConfig(Strict):
    api_key: NonEmptyStr | None = None
    base_url: NonEmptyStr | None = None


class VertexProviderConfig(Strict):
    project: NonEmptyStr | None = None
    location: NonEmptyStr


class LlmProviderConfig(Strict):
    backend: Literal["none", "anthropic", "vertex", "gateway", "claude-code", "codex"] = "none"
    anthropic: ApiProviderConfig | None = None
    gateway: ApiProviderConfig | None = None
    vertex: VertexProviderConfig | None = None


class LlmModelsConfig(Strict):
    default: NonEmptyStr | None = None
    triage: NonEmptyStr | None = None
    candidateExtraction: NonEmptyStr | None = None
    curator: NonEmptyStr | None = None
    reconcile: NonEmptyStr | None = None
    repair: NonEmptyStr | None = None

    def for_role(self, role: str) -> str | None:
        """The configured model for a role, falling back to `default`."""
        if role not in MODEL_ROLES:
            raise ValueError(f"unknown model role: {role}")
        return getattr(self, role) or self.default


class PromptCachingConfig(Strict):
    enabled: bool | None = None
    systemTtl: Ttl | None = None
    toolsTtl: Ttl | None = None
    historyTtl: Ttl | None = None
    vertexFallbackTo5m: bool | None = None


class LlmConfig(Strict):
    provider: LlmProviderConfig = Field(default_factory=LlmProviderConfig)
    models: LlmModelsConfig = Field(default_factory=LlmModelsConfig)
    promptCaching: PromptCachingConfig | None = None


# --- ingest / embeddings ---------------------------------------------------------------------


class OpenAIEmbeddingsConfig(Strict):
    api_key: NonEmptyStr | None = None
    base_url: NonEmptyStr | None = None


class SentenceTransformersConfig(Strict):
    base_url: str = ""
    pathPrefix: str | None = None
    model_path: NonEmptyStr | None = None


class EmbeddingsConfig(Strict):
    backend: Literal["none", "openai", "sentence-transformers"] = "none"
    model: NonEmptyStr | None = None
    dimensions: int = Field(8, gt=0)
    openai: OpenAIEmbeddingsConfig | None = None
    sentenceTransformers: SentenceTransformersConfig | None = None
    batchSize: int | None = Field(None, gt=0)


class WorkUnitsConfig(Strict):
    stepBudget: int = Field(40, ge=1)
    maxConcurrency: int = Field(1, ge=1)
    failureMode: Literal["continue", "abort"] = "continue"


class RetryConfig(Strict):
    maxAttempts: int = Field(6, ge=1)
    baseDelayMs: int = Field(1000, ge=0)
    maxDelayMs: int = Field(60000, ge=0)
    jitter: bool = True


class RateLimitConfig(Strict):
    enabled: bool = True
    throttleThreshold: float = Field(0.8, ge=0, le=1)
    minConcurrencyUnderPressure: int = Field(1, ge=1)
    maxWaitMs: int | None = Field(None, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)


class IngestConfig(Strict):
    adapters: list[NonEmptyStr] = Field(default_factory=list)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    workUnits: WorkUnitsConfig = Field(default_factory=WorkUnitsConfig)
    rateLimit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    profile: bool | Literal["json"] = False


# --- scan -------------------------------------------------------------------------------------


class EnrichmentConfig(Strict):
    # The reference defaults to `none`; deterministic descriptions cost nothing and need no LLM.
    mode: Literal["none", "deterministic", "llm"] = "deterministic"
    embeddings: EmbeddingsConfig | None = None


class RelationshipsConfig(Strict):
    enabled: bool = True
    llmProposals: bool = True
    validationRequiredForManifest: bool = True
    acceptThreshold: float = Field(0.85, ge=0, le=1)
    reviewThreshold: float = Field(0.55, ge=0, le=1)
    maxLlmTablesPerBatch: int = Field(40, ge=1)
    maxCandidatesPerColumn: int = Field(25, ge=1)
    profileSampleRows: int = Field(10000, ge=1)
    profileConcurrency: int = Field(4, ge=1)
    validationConcurrency: int = Field(4, ge=1)
    validationBudget: Literal["all"] | Annotated[int, Field(ge=0)] | None = None


class ScanConfig(Strict):
    enrichment: EnrichmentConfig = Field(default_factory=EnrichmentConfig)
    relationships: RelationshipsConfig = Field(default_factory=RelationshipsConfig)


# --- agent / memory ---------------------------------------------------------------------------


class RunResearchConfig(Strict):
    enabled: bool = False
    max_iterations: int = Field(20, ge=0)
    default_toolset: list[NonEmptyStr] = Field(default_factory=lambda: ["sl_query", "wiki_search", "sl_read_source"])


class AgentConfig(Strict):
    run_research: RunResearchConfig = Field(default_factory=RunResearchConfig)


class MemoryConfig(Strict):
    """Memory capture (`memory_ingest`, `ktx ingest --text`)."""

    enabled: bool = True
    stepBudget: int = Field(30, ge=1)
    maxContentChars: int = Field(48000, ge=1000)


class SemanticLayerConfig(Strict):
    # When several join paths lead to a query's dimension or filter and neither the query (`via`) nor the layer
    # (`preferred: true`) settles which: `refuse` (the default) is an error listing them; `pick` uses the shortest
    # and says so in the answer's warnings.
    ambiguousPaths: Literal["refuse", "pick"] = "refuse"
