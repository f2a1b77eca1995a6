"""The draft-07 JSON Schema of ktx.yaml."""

from __future__ import annotations

from typing import Any

from ktx.project.config.root import KtxConfig

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
