"""The semantic query contract: what an agent (or `ktx sl query`) asks for, as JSON.

Checked by hand rather than by pydantic: the contract is small, every compile parses one, and the
compile path stays free of pydantic's import cost (see `ktx.semantic.model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ktx.semantic.sqlexpr import CompileError

GRANULARITIES = ("hour", "day", "week", "month", "quarter", "year")
DIRECTIONS = ("asc", "desc")
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class InlineMeasure:
    expr: str
    name: str | None = None


@dataclass(frozen=True)
class DimensionRef:
    field: str
    granularity: str | None = None


@dataclass(frozen=True)
class OrderBy:
    field: str
    direction: str = "asc"

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
    given: frozenset[str] = frozenset()  # the keys the caller set explicitly

    @classmethod
    def parse(cls, data: Any) -> SemanticQuery:
        if isinstance(data, SemanticQuery):
            return data
        if not isinstance(data, dict):
            raise CompileError("A semantic query must be a JSON object with 'measures', 'dimensions', …")
        return _Checker(data).query()


class _Checker:
    """Collects every problem of a query (with its key path) before failing, like a schema validator."""

    FIELDS = ("measures", "dimensions", "filters", "segments", "order_by", "limit", "include_empty")

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.problems: list[str] = []

    def query(self) -> SemanticQuery:
        for key in self.data:
            if key not in self.FIELDS:
                self.problems.append(f"{key}: unknown field (expected one of: {', '.join(self.FIELDS)})")
        query = SemanticQuery(
            measures=self.items("measures", self.measure),
            dimensions=self.items("dimensions", self.dimension),
            filters=self.items("filters", self.text),
            segments=self.items("segments", self.text),
            order_by=self.items("order_by", self.order),
            limit=self.limit(),
            include_empty=self.flag("include_empty", True),
            given=frozenset(k for k in self.data if k in self.FIELDS),
        )
        if self.problems:
            raise CompileError("Invalid semantic query: " + "; ".join(dict.fromkeys(self.problems)))
        return query

    def items(self, key: str, convert) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.append(f"{key}: expected a list")
            return []
        out = []
        for index, item in enumerate(value):
            converted = convert(item, f"{key}.{index}")
            if converted is not None:
                out.append(converted)
        return out

    def text(self, value: Any, where: str, *, required: bool = True) -> str | None:
        if isinstance(value, str) and (value.strip() or not required):
            return value
        self.problems.append(f"{where}: expected a non-empty string")
        return None

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> bool:
        extra = [k for k in value if k not in allowed]
        for key in extra:
            self.problems.append(f"{where}.{key}: unknown field (expected one of: {', '.join(allowed)})")
        return not extra

    def measure(self, value: Any, where: str) -> str | InlineMeasure | None:
        if isinstance(value, dict):
            if not self.mapping(value, where, ("expr", "name")):
                return None
            expr = self.text(value.get("expr"), f"{where}.expr")
            name = value.get("name")
            if name is not None:
                name = self.text(name, f"{where}.name")
            return InlineMeasure(expr, name) if expr is not None else None
        if isinstance(value, str):
            return self.text(value, where)
        self.problems.append(f'{where}: expected a measure name, an expression or {{"expr": …, "name": …}}')
        return None

    def dimension(self, value: Any, where: str) -> str | DimensionRef | None:
        if isinstance(value, dict):
            if not self.mapping(value, where, ("field", "granularity")):
                return None
            name = self.text(value.get("field"), f"{where}.field")
            granularity = value.get("granularity") or None
            if granularity is not None and granularity not in GRANULARITIES:
                self.problems.append(f"{where}.granularity: expected one of {', '.join(GRANULARITIES)}")
                return None
            return DimensionRef(name, granularity) if name is not None else None
        if isinstance(value, str):
            return self.text(value, where)
        self.problems.append(f'{where}: expected "source.column" or {{"field": …, "granularity": …}}')
        return None

    def order(self, value: Any, where: str) -> str | OrderBy | None:
        if isinstance(value, dict):
            if not self.mapping(value, where, ("field", "direction")):
                return None
            name = self.text(value.get("field"), f"{where}.field")
            direction = str(value.get("direction", "asc")).lower()
            if direction not in DIRECTIONS:
                self.problems.append(f"{where}.direction: expected asc or desc")
                return None
            return OrderBy(name, direction) if name is not None else None
        if isinstance(value, str):
            return self.text(value, where)
        self.problems.append(f'{where}: expected a field name or {{"field": …, "direction": "asc"|"desc"}}')
        return None

    def limit(self) -> int:
        value = self.data.get("limit", DEFAULT_LIMIT)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append("limit: expected a whole number")
            return DEFAULT_LIMIT
        if value < 0:
            self.problems.append(f"limit: limit must be non-negative, got {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.problems.append(f"{key}: expected true or false")
            return default
        return value
