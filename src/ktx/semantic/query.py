"""The semantic query contract: what an agent (or `ktx sl query`) asks for, as JSON.

Checked like the source schema (`ktx.semantic.schemacheck`): unknown keys and wrong types are errors,
every problem reported with its key path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ktx.semantic.errors import CompileError
from ktx.semantic.grains import Granularity, parse_dimension  # noqa: F401 - re-exported
from ktx.semantic.schemacheck import SchemaError, build, require

DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class InlineMeasure:
    expr: str
    name: str | None = None

    def __post_init__(self) -> None:
        require(self, "expr")


@dataclass(frozen=True)
class DimensionRef:
    field: str
    # hour … year, or a custom granularity of the layer's time spine (`fiscal_quarter`)
    granularity: str | None = None

    def __post_init__(self) -> None:
        require(self, "field")


@dataclass(frozen=True)
class OrderBy:
    field: str
    direction: Literal["asc", "desc"] = "asc"

    def __post_init__(self) -> None:
        require(self, "field")

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "direction": self.direction}


@dataclass
class SemanticQuery:
    measures: list[str | InlineMeasure] = field(default_factory=list)
    dimensions: list[str | DimensionRef] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    order_by: list[str | OrderBy] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    include_empty: bool = True
    # Sources a join path must go through when several lead to a dimension or filter (`["customer"]`).
    via: list[str] = field(default_factory=list)
    given: frozenset[str] = field(default=frozenset(), init=False)  # the keys the caller set explicitly

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"limit must be non-negative, got {self.limit}")

    @classmethod
    def parse(cls, data: Any) -> SemanticQuery:
        if isinstance(data, SemanticQuery):
            return data
        if not isinstance(data, dict):
            raise CompileError("A semantic query must be a JSON object with 'measures', 'dimensions', …")
        try:
            query = build(cls, _json_spellings(data))
        except SchemaError as exc:
            raise CompileError(f"Invalid semantic query: {exc}") from None
        query.given = frozenset(data)
        return query


def _json_spellings(data: dict[str, Any]) -> dict[str, Any]:
    """Accept what JSON producers commonly send: "5" for 5, "false" for false, "DESC" for desc, and an
    empty granularity for none."""
    data = dict(data)
    limit = data.get("limit")
    if isinstance(limit, str) and limit.strip().lstrip("-").isdigit():
        data["limit"] = int(limit)
    flag = data.get("include_empty")
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        data["include_empty"] = flag.lower() == "true"
    if isinstance(data.get("order_by"), list):
        data["order_by"] = [
            {**o, "direction": o["direction"].lower()}
            if isinstance(o, dict) and isinstance(o.get("direction"), str)
            else o
            for o in data["order_by"]
        ]
    if isinstance(data.get("dimensions"), list):
        data["dimensions"] = [
            {k: v for k, v in d.items() if not (k == "granularity" and v == "")} if isinstance(d, dict) else d
            for d in data["dimensions"]
        ]
    return data
