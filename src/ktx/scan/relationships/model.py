"""The shapes relationship discovery works on: tables as a scan saw them, candidate edges, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["accepted", "review", "rejected"]


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    native_type: str
    kind: str  # dimension type: string | number | time | boolean
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class FormalKey:
    columns: tuple[str, ...]
    ref_schema: str | None
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(slots=True)
class TableInfo:
    key: str  # the manifest's source name for the table (unique within a connection)
    name: str
    schema: str | None = None
    catalog: str | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    declared_pk: tuple[str, ...] = ()
    foreign_keys: list[FormalKey] = field(default_factory=list)
    kind: str = "table"  # table | view

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(slots=True)
class Edge:
    from_table: str
    from_columns: tuple[str, ...]
    to_table: str
    to_columns: tuple[str, ...]
    source: str = "inferred"  # formal | inferred | manual
    match: str = ""  # how the candidate was found: normalized_table_match, inflection, llm_proposal, …
    name_score: float = 0.0
    target_key_score: float = 0.0
    confidence: float = 0.0
    status: Status = "review"
    score: float = 0.0  # validation score
    pk_score: float = 0.0
    fk_score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.from_table}:({','.join(self.from_columns)})->{self.to_table}:({','.join(self.to_columns)})"

    @property
    def validation_passed(self) -> bool:
        return bool(self.validation and self.validation.get("passed"))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "match": self.match,
            "from": {"table": self.from_table, "columns": list(self.from_columns)},
            "to": {"table": self.to_table, "columns": list(self.to_columns)},
            "relationshipType": "many_to_one",
            "confidence": self.confidence,
            "score": round(self.score, 3),
            "pkScore": round(self.pk_score, 3),
            "fkScore": round(self.fk_score, 3),
            "evidence": {k: round(v, 3) for k, v in self.features.items()},
            "validation": self.validation,
            "reasons": self.reasons,
        }


@dataclass(slots=True)
class PrimaryKey:
    table: str
    columns: tuple[str, ...]
    source: str  # declared | inferred | composite | profile
    score: float


@dataclass
class DiscoveryResult:
    accepted: list[Edge] = field(default_factory=list)
    review: list[Edge] = field(default_factory=list)
    rejected: list[Edge] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    primary_keys: dict[str, PrimaryKey] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "accepted": len(self.accepted),
            "review": len(self.review),
            "rejected": len(self.rejected),
            "skipped": len(self.skipped),
        }

    def to_json(self, connection_id: str, *, consume: bool = False) -> dict[str, Any]:
        """`consume`: each edge is replaced by its JSON in its own list (the result is spent), so a scan's
        100,000 links and their JSON are never all alive together."""

        def edges(found: list[Edge]) -> list[Any]:
            if not consume:
                return [e.to_json() for e in found]
            spent: list[Any] = found
            for index, edge in enumerate(found):
                spent[index] = edge.to_json()
            return spent

        return {
            "connectionId": connection_id,
            "accepted": edges(self.accepted),
            "review": edges(self.review),
            "rejected": edges(self.rejected),
            "skipped": self.skipped,
            "primaryKeys": [
                {"table": pk.table, "columns": list(pk.columns), "source": pk.source, "score": round(pk.score, 3)}
                for pk in self.primary_keys.values()
            ],
        }
