"""The ktx.yaml schema (pydantic) and its validation rules.

Strict blocks reject unknown keys, but validation turns those rejections into
warnings, drops the keys from the in-memory config and never rewrites the file.
Connection entries are loose: driver-specific extras pass through.
"""

from __future__ import annotations

import copy
import functools
import operator
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ktx.warehouse.registry import WAREHOUSE_DRIVERS as _DRIVER_REGISTRY

MODEL_ROLES = ("default", "triage", "candidateExtraction", "curator", "reconcile", "repair")
LLM_BACKENDS = ("none", "anthropic", "vertex", "gateway", "claude-code", "codex")
EMBEDDING_BACKENDS = ("none", "openai", "sentence-transformers")
WAREHOUSE_DRIVERS = tuple(_DRIVER_REGISTRY)
SOURCE_DRIVERS = ("dbt", "metricflow", "lookml", "looker", "metabase", "notion")
DRIVERS = WAREHOUSE_DRIVERS + SOURCE_DRIVERS
CONNECTION_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
DEFAULT_GIT_AUTHOR = "ktx <ktx@example.com>"

NonEmptyStr = Annotated[str, Field(min_length=1)]
Ttl = Literal["5m", "1h"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


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


# --- connections ------------------------------------------------------------------------------


class ServiceAccountFilter(Strict):
    patterns: list[str] = Field(default_factory=list)
    mode: Literal["exclude", "include", "mark-only"] = "exclude"


class OrchestratorFilter(Strict):
    mode: Literal["exclude", "include", "mark-only"] = "mark-only"


class DropFailedBelow(Strict):
    errorRate: float = Field(ge=0, le=1)
    executions: int = Field(ge=0)


class QueryHistoryFilters(Strict):
    serviceAccounts: ServiceAccountFilter = Field(default_factory=ServiceAccountFilter)
    orchestrators: OrchestratorFilter = Field(default_factory=OrchestratorFilter)
    dropTrivialProbes: bool = True
    dropFailedBelow: DropFailedBelow | None = None


class QueryHistoryConfig(Strict):
    enabled: bool = False
    minExecutions: int = Field(5, ge=1)
    windowDays: int = Field(90, ge=1)
    filters: QueryHistoryFilters = Field(default_factory=QueryHistoryFilters)
    redactionPatterns: list[str] = Field(default_factory=list)
    staleArchiveAfterDays: int = Field(90, ge=1)
    enabledTables: list[str] | None = None
    enabledSchemas: list[str] | None = None

    @field_validator("redactionPatterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            body = pattern[4:] if pattern.startswith("(?i)") else pattern
            try:
                re.compile(body)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class ConnectionContext(Strict):
    queryHistory: QueryHistoryConfig | None = None


class WarehouseConnection(Loose):
    url: NonEmptyStr | None = None
    enabled_tables: list[str] | None = None
    maxConnections: int | None = Field(None, ge=1)
    # Every statement ktx sends (user SQL, semantic queries, ingest probes, MCP tools) is cancelled past this.
    statement_timeout_ms: int = Field(60_000, ge=100, le=86_400_000)
    description: str | None = None
    context: ConnectionContext | None = None


class NetworkWarehouse(WarehouseConnection):
    host: NonEmptyStr | None = None
    port: int | None = Field(None, ge=1, le=65535)
    database: NonEmptyStr | None = None
    user: NonEmptyStr | None = None
    username: NonEmptyStr | None = None
    password: NonEmptyStr | None = None


class DuckDBConnection(WarehouseConnection):
    driver: Literal["duckdb"]
    path: NonEmptyStr | None = None
    schemas: list[str] | None = None


class SQLiteConnection(WarehouseConnection):
    driver: Literal["sqlite"]
    path: NonEmptyStr | None = None


class PostgresConnection(NetworkWarehouse):
    driver: Literal["postgres"]
    schema_: NonEmptyStr | None = Field(None, alias="schema")
    schemas: list[str] | None = None
    sslmode: NonEmptyStr | None = None


class MySQLConnection(NetworkWarehouse):
    driver: Literal["mysql"]
    schemas: list[str] | None = None


class SQLServerConnection(NetworkWarehouse):
    driver: Literal["sqlserver"]
    schemas: list[str] | None = None


class ClickHouseConnection(NetworkWarehouse):
    driver: Literal["clickhouse"]
    databases: list[str] | None = None
    secure: bool | None = None


class SnowflakeConnection(WarehouseConnection):
    driver: Literal["snowflake"]
    account: NonEmptyStr | None = None
    user: NonEmptyStr | None = None
    password: NonEmptyStr | None = None
    private_key_path: NonEmptyStr | None = None
    warehouse: NonEmptyStr | None = None
    database: NonEmptyStr | None = None
    role: NonEmptyStr | None = None
    schema_name: NonEmptyStr | None = None
    schema_names: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_max_sessions(cls, data: Any) -> Any:
        if isinstance(data, dict) and "maxSessions" in data:
            raise ValueError("maxSessions was renamed to maxConnections")
        return data


class BigQueryConnection(WarehouseConnection):
    driver: Literal["bigquery"]
    credentials_json: NonEmptyStr | None = None
    project_id: NonEmptyStr | None = None
    dataset_id: NonEmptyStr | None = None
    dataset_ids: list[str] | None = None
    location: NonEmptyStr | None = None
    max_bytes_billed: int | None = Field(None, ge=1)
    job_timeout_ms: int | None = Field(None, ge=1)


class GitSourceConnection(Loose):
    repoUrl: NonEmptyStr | None = None
    repo_url: NonEmptyStr | None = None
    branch: NonEmptyStr | None = None
    path: str | None = None
    auth_token_ref: NonEmptyStr | None = None


class DbtConnection(GitSourceConnection):
    driver: Literal["dbt"]
    source_dir: NonEmptyStr | None = None


class MetricFlowConnection(GitSourceConnection):
    driver: Literal["metricflow"]


class LookMLConnection(GitSourceConnection):
    driver: Literal["lookml"]


class LookerConnection(Loose):
    driver: Literal["looker"]
    base_url: NonEmptyStr | None = None
    client_id: NonEmptyStr | None = None
    client_secret: NonEmptyStr | None = None
    client_secret_ref: NonEmptyStr | None = None


class MetabaseConnection(Loose):
    driver: Literal["metabase"]
    api_url: NonEmptyStr | None = None
    api_key: NonEmptyStr | None = None
    api_key_ref: NonEmptyStr | None = None
    syncEnabled: bool | None = None
    syncMode: Literal["ALL", "ONLY", "EXCEPT"] | None = None


class NotionConnection(Loose):
    driver: Literal["notion"]
    auth_token: NonEmptyStr | None = None
    auth_token_ref: NonEmptyStr | None = None
    crawl_mode: Literal["selected_roots", "all_accessible"] = "selected_roots"
    root_page_ids: list[str] = Field(default_factory=list)
    root_database_ids: list[str] = Field(default_factory=list)
    root_data_source_ids: list[str] = Field(default_factory=list)
    max_pages_per_run: int = Field(1000, ge=1, le=10000)
    max_knowledge_creates_per_run: int = Field(25, ge=0, le=25)
    max_knowledge_updates_per_run: int = Field(20, ge=0, le=100)


# Warehouse connection models come from the driver registry (one entry per driver), sources follow.
_WAREHOUSE_MODELS = functools.reduce(operator.or_, (globals()[s.config_model] for s in _DRIVER_REGISTRY.values()))
Connection = Annotated[
    _WAREHOUSE_MODELS  # type: ignore[valid-type]
    | DbtConnection
    | MetricFlowConnection
    | LookMLConnection
    | LookerConnection
    | MetabaseConnection
    | NotionConnection,
    Field(discriminator="driver"),
]


ConnectionId = Annotated[str, Field(pattern=CONNECTION_ID_PATTERN.pattern)]


# --- root ------------------------------------------------------------------------------------


class KtxConfig(Strict):
    connections: dict[ConnectionId, Connection] = Field(default_factory=dict)
    setup: SetupConfig = Field(default_factory=SetupConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)

    @field_validator("connections", mode="before")
    @classmethod
    def _normalise_drivers(cls, value: Any) -> Any:
        # Drivers are matched case-insensitively, like the reference's dispatch.
        if isinstance(value, dict):
            for entry in value.values():
                if isinstance(entry, dict) and isinstance(entry.get("driver"), str):
                    entry["driver"] = entry["driver"].strip().lower()
        return value


# --- validation -----------------------------------------------------------------------------

UNKNOWN_FIELD_FIX = "Unknown to this ktx version; it is ignored. Delete it from ktx.yaml when convenient."


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str
    severity: Literal["error", "warning"]
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "message": self.message, "severity": self.severity}
        if self.fix:
            data["fix"] = self.fix
        return data


@dataclass
class ConfigValidation:
    config: KtxConfig | None
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "warning"]


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> list[str | int]:
    """Map pydantic's error location onto the YAML path (`connections.wh.port`).

    Pydantic adds segments that are not keys: union member names, the discriminator
    tag of a connection, `[key]` for dict-key errors. Walking the data drops them.
    """
    parts: list[str | int] = []
    node: Any = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict):
            if part not in node and part == node.get("driver"):
                continue  # discriminator tag of a connection entry
            parts.append("schema" if part == "schema_" else part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            parts.append(part)
            node = node[part] if part < len(node) else None
        # anything else is a union-member label under a scalar value
    return parts


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _delete_path(data: Any, parts: list[str | int]) -> None:
    node = data
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]


def _error_issue(data: Any, err: dict[str, Any]) -> ConfigIssue:
    parts = _clean_loc(data, err["loc"])
    path = _dotted(parts)
    kind = err["type"]
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        return ConfigIssue(
            f"{path}.driver",
            f"Unsupported {path}.driver: {tag}",
            "error",
            fix=f"Use one of: {', '.join(DRIVERS)}.",
        )
    if kind == "union_tag_not_found":
        return ConfigIssue(
            f"{path}.driver",
            f"{path} has no `driver` field",
            "error",
            fix=f"Add `driver:` with one of: {', '.join(DRIVERS)}.",
        )
    if kind == "literal_error" and parts and parts[-1] in ("backend", "driver"):
        return ConfigIssue(path, f"Unsupported {path}: {err.get('input')}", "error")
    if kind == "missing":
        return ConfigIssue(path, f"{path}: required field is missing", "error")
    if kind == "string_pattern_mismatch" and len(parts) == 2 and parts[0] == "connections":
        return ConfigIssue(
            path,
            f"{path}: connection id must start with a letter or digit and use only letters, digits, '_' and '-'",
            "error",
        )
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return ConfigIssue(path, f"{path}: {message}" if path else message, "error")


def validate_config_data(raw: Any) -> ConfigValidation:
    """Validate parsed ktx.yaml data: unknown keys warn and are dropped, bad values are errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return ConfigValidation(None, [ConfigIssue("", "ktx.yaml must contain a YAML object", "error")])
    data = copy.deepcopy(_plain(raw))
    warnings: list[ConfigIssue] = []
    # Each pass strips the unknown keys pydantic reported; nested unknowns surface once parents validate.
    for _ in range(16):
        try:
            return ConfigValidation(KtxConfig.model_validate(data), warnings)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        extras = [e for e in errors if e["type"] == "extra_forbidden"]
        if not extras:
            return ConfigValidation(None, warnings + _merge_by_path([_error_issue(data, e) for e in errors]))
        for err in extras:
            parts = _clean_loc(data, err["loc"])
            path = _dotted(parts)
            hint = _did_you_mean(str(parts[-1]) if parts else "", top_level=len(parts) == 1)
            warnings.append(
                ConfigIssue(
                    path, f"Unsupported {path}: unknown field (ignored){hint}", "warning", fix=UNKNOWN_FIELD_FIX
                )
            )
        for err in sorted(extras, key=lambda e: len(e["loc"]), reverse=True):
            _delete_path(data, _clean_loc(data, err["loc"]))
    raise AssertionError("config validation did not converge")


def _did_you_mean(key: str, *, top_level: bool) -> str:
    """` — did you mean 'collections'?` for a near miss of a known key."""
    import difflib

    if top_level:
        names = [f.alias or name for name, f in KtxConfig.model_fields.items()]
    else:
        names = sorted(
            {
                f.alias or name
                for model in _config_models()
                for name, f in model.model_fields.items()
                if not name.startswith("_")
            }
        )
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return f" — did you mean '{close[0]}'?" if close else ""


def _config_models() -> list[type[BaseModel]]:
    return [v for v in globals().values() if isinstance(v, type) and issubclass(v, BaseModel) and v is not BaseModel]


def _merge_by_path(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """One issue per path: a union reports one error per member, which reads as alternatives."""
    merged: dict[str, ConfigIssue] = {}
    for issue in issues:
        prior = merged.get(issue.path)
        if prior is None:
            merged[issue.path] = issue
            continue
        extra = issue.message.removeprefix(f"{issue.path}: ")
        merged[issue.path] = ConfigIssue(issue.path, f"{prior.message}; or {extra}", "error", prior.fix)
    return list(merged.values())


def _plain(value: Any) -> Any:
    """Convert ruamel's commented containers into plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


SCHEMA_ID = "https://ktx.dev/schemas/ktx-project-config.json"


def config_json_schema() -> dict[str, Any]:
    """Draft-07 JSON Schema of ktx.yaml."""
    schema = KtxConfig.model_json_schema(ref_template="#/definitions/{model}", by_alias=True)
    defs = schema.pop("$defs", {})
    out: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "ktx.yaml",
    }
    out.update({k: v for k, v in schema.items() if k != "title"})
    if defs:
        out["definitions"] = defs
    return out
