"""The semantic query contract: what an agent (or `ktx sl query`) asks for, as JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ktx.semantic.sqlexpr import CompileError

Granularity = Literal["hour", "day", "week", "month", "quarter", "year"]


class InlineMeasure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expr: str = Field(min_length=1)
    name: str | None = None


class DimensionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(min_length=1)
    granularity: Granularity | Literal[""] | None = None


class OrderBy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(min_length=1)
    direction: Literal["asc", "desc"] = "asc"


class SemanticQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: list[str | InlineMeasure] = Field(default_factory=list)
    dimensions: list[str | DimensionRef] = Field(default_factory=list)
    filters: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    order_by: list[str | OrderBy] = Field(default_factory=list)
    limit: int = 1000
    include_empty: bool = True

    @field_validator("limit")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"limit must be non-negative, got {value}")
        return value

    @field_validator("order_by", mode="before")
    @classmethod
    def _lower_direction(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {**v, "direction": str(v["direction"]).lower()} if isinstance(v, dict) and "direction" in v else v
                for v in value
            ]
        return value

    @classmethod
    def parse(cls, data: Any) -> SemanticQuery:
        if isinstance(data, SemanticQuery):
            return data
        if not isinstance(data, dict):
            raise CompileError("A semantic query must be a JSON object with 'measures', 'dimensions', …")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            parts = []
            for err in exc.errors(include_url=False):
                loc = ".".join(
                    str(p)
                    for p in err["loc"]
                    if not isinstance(p, str) or not p.startswith(("str", "Inline", "Dimension", "Order"))
                )
                parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}" if loc else err["msg"])
            raise CompileError("Invalid semantic query: " + "; ".join(dict.fromkeys(parts))) from None
