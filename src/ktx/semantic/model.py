"""The semantic-layer source schema: sources with typed columns, joins, measures and segments.

Plain dataclasses; `Source.parse` checks YAML data against their annotations (`ktx.semantic.schemacheck`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ktx.semantic.grains import GRANULARITIES, IDENTIFIER, SUB_SECOND_GRAINS
from ktx.semantic.schemacheck import build, require
from ktx.semantic.summaries import resolve_description

ColumnType = Literal["string", "number", "time", "boolean"]
Relationship = Literal["many_to_one", "one_to_many", "one_to_one"]


@dataclass
class ColumnConstraint:
    not_null: bool | None = None
    unique: bool | None = None


@dataclass
class DbtTest:
    name: str
    package: str | None = None
    kwargs: dict[str, Any] | None = None


@dataclass
class ColumnTests:
    dbt: list[DbtTest] = field(default_factory=list)
    dbt_by_package: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Column:
    name: str
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

    def __post_init__(self) -> None:
        require(self, "name")
        grain = (self.natural_granularity or "").lower()
        if grain and grain not in (*GRANULARITIES, *SUB_SECOND_GRAINS):
            raise ValueError(
                f"column {self.name!r}: natural_granularity {self.natural_granularity!r} is not one of "
                f"{', '.join((*SUB_SECOND_GRAINS, *GRANULARITIES))}"
            )

    @property
    def resolved_description(self) -> str:
        return resolve_description(self.description, self.descriptions)

    @property
    def computed(self) -> bool:
        return bool(self.expr)


@dataclass
class Join:
    to: str
    on: str
    relationship: Relationship
    alias: str | None = None
    # When two join paths lead to the same source, a path through a preferred join is the one used.
    preferred: bool = False
    # Where the join came from, which decides between two joins of the same two sources (see JoinGraph.build):
    # written by a person > projected from dbt/MetricFlow/LookML > declared in the warehouse > inferred by a scan.
    origin: Literal["manual", "projection", "declared", "inferred"] | None = None

    def __post_init__(self) -> None:
        require(self, "to", "on")


Grain = Literal["second", "minute", "hour", "day", "week", "month", "quarter", "year"]


@dataclass
class Window:
    """How a measure reads rows in time, against the layer's time spine (see docs/semantic-layer.md).

    `cumulative`: each period's value aggregates the rows of a trailing `window` ("7 days"), of the period's
    `grain_to_date` ("month": month to date), or of all time up to it (neither given). `offset`: each period's value is
    the measure's value `window` earlier ("14 days", "1 month") or at the start of its `grain_to_date` period.
    """

    kind: Literal["cumulative", "offset"]
    window: str | None = None
    grain_to_date: Grain | None = None
    # A cumulative value asked by a coarser grain than the spine's: the period's first day's value (MetricFlow's
    # default), its last day's, or the average over its days.
    period_agg: Literal["first", "last", "average"] = "first"
    # A cumulative value as of an earlier day: `offset` ("1 week") before each period, or `offset_to_grain`, the
    # start of the period's month (MetricFlow's offset_window / offset_to_grain on a cumulative input).
    offset: str | None = None
    offset_to_grain: Grain | None = None

    def __post_init__(self) -> None:
        if self.window is not None:
            # An offset may count periods of the project's own calendar (`1 fiscal_quarter`).
            parse_window(self.window, custom=self.kind == "offset")
        if self.offset is not None:
            parse_window(self.offset)
        if (self.offset or self.offset_to_grain) and self.kind != "cumulative":
            raise ValueError("offset / offset_to_grain shift a cumulative window; an offset window uses 'window'")
        if self.offset and self.offset_to_grain:
            raise ValueError("a cumulative window takes 'offset' or 'offset_to_grain', not both")
        if self.kind == "offset" and (self.window is None) == (self.grain_to_date is None):
            raise ValueError("an offset takes exactly one of 'window' or 'grain_to_date'")
        if self.kind == "cumulative" and self.window is not None and self.grain_to_date is not None:
            raise ValueError("a cumulative window takes 'window' or 'grain_to_date', not both")


def parse_window(text: str, *, custom: bool = False) -> tuple[int, str]:
    """`"7 days"` → (7, "day"); a clear error for anything else. With `custom`, a unit that is no time grain is
    taken as a custom granularity of the time spine (`"1 fiscal_quarter"`), which the compiler checks."""
    parts = str(text).split()
    unit = parts[1].lower().rstrip("s") if len(parts) == 2 else ""
    if len(parts) == 2 and parts[0].isdigit() and unit in GRANULARITIES:
        return int(parts[0]), unit
    if custom and len(parts) == 2 and parts[0].isdigit() and IDENTIFIER.fullmatch(parts[1]):
        return int(parts[0]), parts[1]
    raise ValueError(f"window {text!r} must be a count and a unit, like '7 days' or '1 month'")


def custom_unit(text: str | None) -> str | None:
    """The custom granularity an offset window counts in (`"1 fiscal_quarter"` → fiscal_quarter), else None."""
    if not text:
        return None
    _, unit = parse_window(text, custom=True)
    return None if unit in GRANULARITIES else unit


@dataclass
class NonAdditive:
    """A semi-additive measure (a balance, a headcount): in each group of the query only the rows at the first
    (`min`) or last (`max`) day of `column` count — per each value of `per` as well, when given."""

    column: str
    choose: Literal["min", "max"] = "min"
    per: list[str] = field(default_factory=list)


@dataclass
class Conversion:
    """A conversion measure: the aggregate counts only this source's rows (the conversions) that have a row of
    `base` for the same `key` at or before them — within `window` when given, and with equal `same` columns."""

    base: str
    key: str
    base_key: str | None = None
    window: str | None = None
    same: dict[str, str] = field(default_factory=dict)  # this source's column → the base's column
    # Only base rows passing this condition (SQL over the base's columns) convert: a funnel from some visits.
    base_filter: str | None = None

    def __post_init__(self) -> None:
        if self.window is not None:
            parse_window(self.window)


@dataclass
class CustomGranularity:
    """A calendar's own periods (a fiscal quarter, a retail week): `column` of the spine names each row's period
    (its first day, or a label), so a time dimension can be grouped by it (`orders.ordered_at:fiscal_quarter`)."""

    name: str
    column: str | None = None

    def __post_init__(self) -> None:
        require(self, "name")
        if not IDENTIFIER.fullmatch(self.name) or self.name.lower() in GRANULARITIES:
            raise ValueError(
                f"custom granularity {self.name!r} must be an identifier other than {', '.join(GRANULARITIES)}"
            )

    @property
    def source_column(self) -> str:
        return self.column or self.name


@dataclass
class TimeSpine:
    """This source is a calendar: one row per `granularity` period in `column`, without gaps; its
    `custom_granularities` are columns naming each row's period of the project's own calendar."""

    column: str
    granularity: Grain = "day"
    custom_granularities: list[CustomGranularity] = field(default_factory=list)


@dataclass
class Measure:
    name: str
    expr: str
    filter: str | None = None
    segments: list[str] = field(default_factory=list)
    description: str | None = None
    # The column that places this measure in time when it is not the source's default time dimension (a payment
    # total over `paid_at` beside the booking total over `ds`): two such measures are distinct numbers.
    time_dimension: str | None = None
    window: Window | None = None
    non_additive: NonAdditive | None = None
    conversion: Conversion | None = None
    # What the measure answers where it would be NULL (a period or group without rows): MetricFlow's
    # `fill_nulls_with`.
    fill_nulls_with: float | None = None
    # Grouped by its time dimension, every period of the time spine is answered, also those without rows.
    join_to_timespine: bool = False

    def __post_init__(self) -> None:
        require(self, "name", "expr")
        if self.window is not None and self.non_additive is not None:
            raise ValueError("a measure takes a window or non_additive, not both")


@dataclass
class Segment:
    name: str
    expr: str
    description: str | None = None

    def __post_init__(self) -> None:
        require(self, "name", "expr")


@dataclass
class Freshness:
    raw: Any = None
    loaded_at_field: str | None = None


@dataclass
class Source:
    name: str
    grain: list[str]
    columns: list[Column]
    description: str | None = None
    descriptions: dict[str, str] | None = None
    table: str | None = None
    sql: str | None = None
    joins: list[Join] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    default_time_dimension: dict[str, str | None] | None = None
    time_spine: TimeSpine | None = None
    tags: dict[str, list[str]] | None = None
    freshness: dict[str, Freshness] | None = None
    # Authoring-only keys written by other ktx tools; accepted and ignored by the engine.
    usage: Any = None
    source_type: Literal["table", "sql"] | None = None

    def __post_init__(self) -> None:
        require(self, "name")
        if self.table and self.sql:
            raise ValueError("'table' and 'sql' are mutually exclusive")
        if not self.table and not self.sql:
            raise ValueError("resolved source must have 'table' or 'sql'")
        if not self.grain:
            raise ValueError("grain must be non-empty")

    @classmethod
    def parse(cls, data: Any) -> Source:
        """A source from its YAML mapping; SchemaError lists every problem with its key path."""
        return build(cls, data)

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


def custom_granularities(sources: Iterable[Source]) -> dict[str, tuple[Source, CustomGranularity]]:
    """The custom granularities of the layer's time spines by name (of two spines naming one, the first by name)."""
    found: dict[str, tuple[Source, CustomGranularity]] = {}
    for source in sorted(sources, key=lambda s: s.name):
        for custom in source.time_spine.custom_granularities if source.time_spine is not None else []:
            found.setdefault(custom.name, (source, custom))
    return found
