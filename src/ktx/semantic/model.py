"""The semantic-layer source schema: sources with typed columns, joins, measures and segments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ktx.semantic.summaries import resolve_description

ColumnType = Literal["string", "number", "time", "boolean"]
Relationship = Literal["many_to_one", "one_to_many", "one_to_one"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ColumnConstraint(_Strict):
    not_null: bool | None = None
    unique: bool | None = None


class DbtTest(_Strict):
    name: str
    package: str | None = None
    kwargs: dict[str, Any] | None = None


class ColumnTests(_Strict):
    dbt: list[DbtTest] = Field(default_factory=list)
    dbt_by_package: dict[str, list[str]] = Field(default_factory=dict)


class Column(_Strict):
    name: str = Field(min_length=1)
    type: ColumnType
    visibility: Literal["public", "internal", "hidden"] = "public"
    role: Literal["default", "time"] = "default"
    description: str | None = None
    descriptions: dict[str, str] | None = None
    expr: str | None = None
    natural_granularity: str | None = None
    constraints: dict[str, ColumnConstraint] | None = None
    enum_values: dict[str, list[str]] | None = None
    tests: ColumnTests | None = None

    @property
    def resolved_description(self) -> str:
        return resolve_description(self.description, self.descriptions)

    @property
    def computed(self) -> bool:
        return bool(self.expr)


class Join(_Strict):
    to: str = Field(min_length=1)
    on: str = Field(min_length=1)
    relationship: Relationship
    alias: str | None = None


class Measure(_Strict):
    name: str = Field(min_length=1)
    expr: str = Field(min_length=1)
    filter: str | None = None
    segments: list[str] = Field(default_factory=list)
    description: str | None = None


class Segment(_Strict):
    name: str = Field(min_length=1)
    expr: str = Field(min_length=1)
    description: str | None = None


class Freshness(_Strict):
    raw: Any = None
    loaded_at_field: str | None = None


class Source(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    descriptions: dict[str, str] | None = None
    table: str | None = None
    sql: str | None = None
    grain: list[str]
    columns: list[Column]
    joins: list[Join] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    default_time_dimension: dict[str, str | None] | None = None
    tags: dict[str, list[str]] | None = None
    freshness: dict[str, Freshness] | None = None
    # Authoring-only keys written by other ktx tools; accepted and ignored by the engine.
    usage: Any = None
    source_type: Literal["table", "sql"] | None = None

    @model_validator(mode="after")
    def _table_or_sql(self) -> Source:
        if self.table and self.sql:
            raise ValueError("'table' and 'sql' are mutually exclusive")
        if not self.table and not self.sql:
            raise ValueError("resolved source must have 'table' or 'sql'")
        if not self.grain:
            raise ValueError("grain must be non-empty")
        return self

    @property
    def resolved_description(self) -> str:
        return resolve_description(self.description, self.descriptions)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def segment_list(self) -> str:
        return ", ".join(s.name for s in self.segments) or "(none)"
