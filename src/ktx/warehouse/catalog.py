"""What introspection finds: tables and views, columns with native and normalized types, keys."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DimensionType = Literal["string", "number", "boolean", "time"]

# Whole type names, not substrings: `point`, `int4range` and `interval` contain "int" but are not numbers.
_NUMBER = re.compile(
    r"u?(?:tiny|small|medium|big|huge)?int(?:eger)?\d*|decimal\d*|numeric|dec|fixed|float\d*|double(?: precision)?"
    r"|real|number|(?:small)?money|(?:big|small)?serial\d*|bignumeric|bigdecimal"
)


def normalize_native_type(native: str) -> str:
    """Lower-case and drop parameters: `VARCHAR(255)` → `varchar`, `Nullable(Int64)` → `int64`."""
    text = native.strip().lower()
    wrapper = re.fullmatch(r"(?:nullable|lowcardinality)\((.*)\)", text)
    while wrapper:
        text = wrapper.group(1).strip()
        wrapper = re.fullmatch(r"(?:nullable|lowcardinality)\((.*)\)", text)
    text = re.sub(r"\(.*?\)", "", text)
    return re.sub(r"\s+", " ", text).strip()


def dimension_type(native: str) -> DimensionType:
    """Map a native type to the semantic layer's four dimension types."""
    text = normalize_native_type(native)
    if text.startswith("bool") or text in ("bit", "tinyint(1)"):
        return "boolean"
    if text.startswith(("date", "time", "timestamp", "datetime", "smalldatetime")):
        return "time"
    if _NUMBER.fullmatch(text.removesuffix(" zerofill").removesuffix(" unsigned").strip()):
        return "number"
    return "string"


@dataclass(slots=True)
class CatalogColumn:
    name: str
    native_type: str
    type: DimensionType
    nullable: bool = True
    comment: str | None = None
    ordinal: int = 0

    @property
    def kind(self) -> str:
        """The dimension type, by the name relationship discovery reads (a `ColumnInfo`'s)."""
        return self.type

    @classmethod
    def build(cls, name: str, native_type: str, *, nullable: bool = True, comment: str | None = None, ordinal: int = 0):
        # One string per distinct name and type, not one per row: `id`, `created_at` and `VARCHAR` repeat across
        # every table of a large catalog, which a scan keeps whole.
        native = sys.intern(str(native_type or "unknown"))
        return cls(sys.intern(str(name)), native, dimension_type(native), nullable, comment or None, ordinal)


@dataclass(slots=True)
class ForeignKey:
    columns: list[str]
    ref_schema: str | None
    ref_table: str
    ref_columns: list[str]
    name: str | None = None


@dataclass(slots=True)
class CatalogTable:
    schema: str | None
    name: str
    kind: Literal["table", "view"] = "table"
    columns: list[CatalogColumn] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    comment: str | None = None
    row_estimate: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str) -> CatalogColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class Catalog:
    connection_id: str
    driver: str
    tables: list[CatalogTable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def table(self, qualified: str) -> CatalogTable | None:
        return next((t for t in self.tables if t.qualified_name == qualified or t.name == qualified), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def attach_column_rows(
    tables: dict[tuple[str, str], CatalogTable],
    rows: Iterable[tuple[str, str, str, str, bool, str | None, int | None]],
) -> None:
    """Attach column rows `(schema, table, column, native type, nullable, comment, ordinal)` to the tables
    they belong to; rows of tables outside `tables` (filtered out by scope) are dropped."""
    for schema, table, name, native, nullable, comment, ordinal in rows:
        entry = tables.get((schema, table))
        if entry is not None:
            entry.columns.append(CatalogColumn.build(name, native, nullable=nullable, comment=comment, ordinal=ordinal))


def apply_key_rows(
    tables: dict[tuple[str, str], CatalogTable],
    rows: Iterable[tuple[str, str, bool, str, str, str | None, str | None, str | None]],
) -> None:
    """Attach key-column rows `(schema, table, is_primary, constraint, column, ref_schema, ref_table,
    ref_column)`, ordered by constraint and position, as primary keys and (composite) foreign keys."""
    fks: dict[tuple[str, str, str], ForeignKey] = {}
    for schema, table, is_primary, constraint, column, ref_schema, ref_table, ref_column in rows:
        entry = tables.get((schema, table))
        if entry is None:
            continue
        if is_primary:
            entry.primary_key.append(column)
            continue
        fk = fks.get((schema, table, constraint))
        if fk is None:
            fk = fks[(schema, table, constraint)] = ForeignKey([], ref_schema, ref_table or "", [], constraint)
            entry.foreign_keys.append(fk)
        fk.columns.append(column)
        fk.ref_columns.append(ref_column or "")


def parse_table_ref(ref: str) -> tuple[str | None, str]:
    """`schema.table` → (schema, table); a bare name has no schema. Quotes are stripped."""
    parts = [p.strip().strip('"`[]') for p in ref.split(".")]
    if len(parts) == 1:
        return None, parts[0]
    return ".".join(parts[:-1]), parts[-1]
