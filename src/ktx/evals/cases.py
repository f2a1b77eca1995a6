"""Eval case files: `evals/*.yaml` in the project, each `cases: [...]`.

Every case is read on its own: a bad case becomes one error line and the others still run. Keys are strict (a
misspelt key is named, never ignored), ids are unique per project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
EVALS_DIR = "evals"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Compare(_Strict):
    ordered: bool = False  # rows must come in the same order
    tolerance: float = Field(0.005, ge=0, le=1)  # relative, for numbers
    columns: Literal["by_position", "by_name"] = "by_position"


class Expected(_Strict):
    sql: str | None = Field(None, min_length=1)  # ground truth, run read-only through the gate
    rows: list[list[Any]] | None = None  # or pinned rows

    @model_validator(mode="after")
    def _one(self) -> Expected:
        if (self.sql is None) == (self.rows is None):
            raise ValueError("expected needs exactly one of sql or rows")
        return self


class Case(_Strict):
    id: str = Field(min_length=1)
    question: str | None = None
    connection: str | None = None
    query: dict[str, Any] | None = None  # a semantic query, the same JSON/YAML as `ktx sl query`
    sql: str | None = Field(None, min_length=1)  # or a hand-written query to check
    expected: Expected
    compare: Compare = Field(default_factory=Compare)
    tags: list[str] = Field(default_factory=list)
    review: bool = False  # drafted by `ktx eval init`: a person confirms `expected` before trusting it

    @model_validator(mode="after")
    def _shape(self) -> Case:
        if not CASE_ID.match(self.id):
            raise ValueError(f"id {self.id!r} must be letters, digits, '.', '_' or '-'")
        if self.query is not None and self.sql is not None:
            raise ValueError("give query or sql, not both")
        if self.query is None and self.sql is None and not self.question:
            raise ValueError("needs query, sql or (for --agent) question")
        if self.compare.columns == "by_name" and self.expected.rows is not None:
            raise ValueError("compare.columns by_name needs expected.sql (pinned rows have no column names)")
        return self


@dataclass
class LoadedCase:
    """A case as read, or why it could not be (then `case` is None)."""

    id: str
    file: str
    case: Case | None = None
    problem: str | None = None


@dataclass
class CaseSet:
    cases: list[LoadedCase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files that could not be read at all


def case_files(root: Path, paths: list[str] | None = None) -> list[Path]:
    """`evals/*.yaml` (and `.yml`), or the files and folders given."""
    if not paths:
        folder = root / EVALS_DIR
        return sorted(p for p in folder.glob("*.y*ml") if p.is_file()) if folder.is_dir() else []
    out: list[Path] = []
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else (Path.cwd() / raw)
        if not path.exists():
            path = root / raw
        if path.is_dir():
            out += sorted(p for p in path.glob("*.y*ml") if p.is_file())
        else:
            out.append(path)
    return out


def load_cases(root: Path, paths: list[str] | None = None) -> CaseSet:
    from ktx.project.yamlio import safe_load, yaml_problem

    found = CaseSet()
    for path in case_files(root, paths):
        label = _label(root, path)
        try:
            data = safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            found.problems.append(f"{label}: no such file")
            continue
        except Exception as exc:  # not YAML, too deep, too large: the file is named, the others still load
            found.problems.append(f"{label}: {yaml_problem(exc) if hasattr(exc, 'problem') else exc}")
            continue
        items = data.get("cases") if isinstance(data, dict) else None
        if not isinstance(items, list):
            found.problems.append(f"{label}: expected a mapping with a `cases:` list")
            continue
        for index, item in enumerate(items, start=1):
            raw_id = str(item.get("id")) if isinstance(item, dict) and item.get("id") else f"{label}#{index}"
            try:
                found.cases.append(LoadedCase(raw_id, label, Case.model_validate(item)))
            except ValidationError as exc:
                found.cases.append(LoadedCase(raw_id, label, problem=_validation_text(exc)))
    seen: dict[str, int] = {}
    for loaded in found.cases:
        seen[loaded.id] = seen.get(loaded.id, 0) + 1
    for loaded in found.cases:
        if seen[loaded.id] > 1 and loaded.case is not None:
            loaded.case, loaded.problem = None, f"duplicate id {loaded.id!r} ({seen[loaded.id]} cases use it)"
    return found


def _label(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
