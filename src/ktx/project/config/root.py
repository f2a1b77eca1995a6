"""The root model of ktx.yaml."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ktx.project.config.base import Strict
from ktx.project.config.connections import Connection, ConnectionId
from ktx.project.config.sections import (
    AgentConfig,
    IngestConfig,
    LlmConfig,
    MemoryConfig,
    ScanConfig,
    SemanticLayerConfig,
    SetupConfig,
    StorageConfig,
)

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
    semantic_layer: SemanticLayerConfig = Field(default_factory=SemanticLayerConfig)

    @field_validator("connections", mode="before")
    @classmethod
    def _normalise_drivers(cls, value: Any) -> Any:
        # Drivers are matched case-insensitively, like the reference's dispatch.
        if isinstance(value, dict):
            for entry in value.values():
                if isinstance(entry, dict) and isinstance(entry.get("driver"), str):
                    entry["driver"] = entry["driver"].strip().lower()
        return value
