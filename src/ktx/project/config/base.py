"""Names, shared types and the two base models (strict blocks, loose connection entries)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
