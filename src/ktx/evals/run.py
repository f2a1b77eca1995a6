"""`ktx eval`: questions with known answers, run against the context.

Deterministic mode runs each case's semantic query (or SQL) and its expected SQL read-only through the gate, bounded
by the connection's statement timeout, and compares the rows. Agent mode (`agent=True`) gives each case's question
to an agent loop over the runtime port with the MCP tool catalogue and compares the rows it answers with. Each case
is one result — pass, fail (with the first differing rows) or error (one line) — and one case never stops another.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ktx.errors import KtxError
from ktx.evals.cases import Case, load_cases
from ktx.evals.compare import by_name, compare_rows, normal

if TYPE_CHECKING:
    from ktx.services import Services

MAX_ROWS = 10_000
LAST_RUN = Path(".ktx") / "evals" / "last-run.json"
Status = Literal["pass", "fail", "error"]


@dataclass
class CaseResult:
    id: str
    status: Status
    file: str
    message: str | None = None
    diffs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    question: str | None = None
    tags: list[str] = field(default_factory=list)
    review: bool = False
    answer_hash: str | None = None  # of the answer's rows: `ktx ingest --eval` says which answers changed
    agent: dict[str, Any] | None = None  # agent mode: tool calls, tokens, cache reads, latency, passes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status, "file": self.file}
        for key, value in (
            ("message", self.message),
            ("diffs", self.diffs),
            ("question", self.question),
            ("tags", self.tags),
            ("review", self.review or None),
            ("answerHash", self.answer_hash),
            ("agent", self.agent),
        ):
            if value:
                out[key] = value
        out["durationMs"] = round(self.duration_ms, 1)
        return out


@dataclass
class EvalRun:
    results: list[CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    mode: str = "deterministic"

    @property
    def passed(self) -> int:
        return sum(r.status == "pass" for r in self.results)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(r.status != "pass" for r in self.results)

    def summary(self) -> dict[str, Any]:
        total = len(self.results)
        return {
            "passed": self.passed,
            "failed": sum(r.status == "fail" for r in self.results),
            "errors": sum(r.status == "error" for r in self.results),
            "total": total,
            "accuracy": round(self.passed / total, 4) if total else None,
            "durationMs": round(self.duration_ms, 1),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "summary": self.summary(),
            "results": [r.to_json() for r in self.results],
            "problems": self.problems,
        }


def _pick_connection(services: Services, case: Case, override: str | None) -> str:
    from ktx.project.config import WAREHOUSE_DRIVERS
    from ktx.warehouse.connections import connection_config

    wanted = override or case.connection
    if wanted:
        connection_config(services.project, wanted)
        return wanted
    warehouses = sorted(c for c, v in services.project.config.connections.items() if v.driver in WAREHOUSE_DRIVERS)
    if len(warehouses) != 1:
        raise KtxError(
            f"the case names no connection and the project has {len(warehouses) or 'no'} warehouse connections"
            + (f" ({', '.join(warehouses)})" if warehouses else "")
            + ": add `connection:` to the case or pass --connection-id"
        )
    return warehouses[0]


def _sql_rows(services: Services, connection_id: str, sql: str, what: str) -> tuple[list[str], list[list[Any]]]:
    from ktx.warehouse.service import run_sql

    try:
        result = run_sql(services, connection_id, sql, max_rows=MAX_ROWS)
    except KtxError as exc:
        raise KtxError(f"{what}: {exc.message}") from None
    if result["truncated"]:
        raise KtxError(f"{what} returns more than {MAX_ROWS:,} rows; compare a smaller result")
    return result["headers"], result["rows"]


def _answer(services: Services, case: Case, connection_id: str) -> tuple[list[str], list[list[Any]]]:
    if case.sql is not None:
        return _sql_rows(services, connection_id, case.sql, "sql")
    from ktx.semantic.service import run_query

    query = {"limit": MAX_ROWS + 1, **(case.query or {})}
    try:
        result = run_query(services, connection_id, query, execute=True, max_rows=MAX_ROWS)
    except KtxError as exc:
        raise KtxError(f"query: {exc.message}") from None
    data = result.to_json()
    if data["plan"]["execution"].get("truncated"):
        raise KtxError(f"query returns more than {MAX_ROWS:,} rows; compare a smaller result")
    return data["headers"], data["rows"]


def _expected(services: Services, case: Case, connection_id: str) -> tuple[list[str] | None, list[list[Any]]]:
    if case.expected.rows is not None:
        return None, case.expected.rows
    return _sql_rows(services, connection_id, case.expected.sql or "", "expected.sql")


def answer_hash(rows: list[list[Any]]) -> str:
    text = json.dumps(sorted(json.dumps([normal(v) for v in r], default=str) for r in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def judge(case: Case, headers: list[str], rows: list[list[Any]], want_headers, want_rows) -> tuple[Status, list[str]]:
    if case.compare.columns == "by_name" and want_headers is not None:
        try:
            rows = by_name(headers, rows, want_headers)
        except ValueError as exc:
            return "fail", [str(exc)]
    outcome = compare_rows(rows, want_rows, ordered=case.compare.ordered, tolerance=case.compare.tolerance)
    return ("pass" if outcome.equal else "fail"), outcome.diffs


def _selected(
    services: Services, paths: list[str] | None, case_ids: list[str] | None, tags: list[str] | None
) -> tuple[list[Any], list[str]]:
    found = load_cases(services.project.root, paths)
    chosen = []
    for loaded in found.cases:
        if case_ids and loaded.id not in case_ids:
            continue
        if tags and (loaded.case is None or not set(tags) & set(loaded.case.tags)):
            continue
        chosen.append(loaded)
    missing = sorted(set(case_ids or []) - {c.id for c in found.cases})
    problems = list(found.problems) + [f"--case {m}: no such case" for m in missing]
    return chosen, problems


def run_evals(
    services: Services,
    paths: list[str] | None = None,
    *,
    case_ids: list[str] | None = None,
    tags: list[str] | None = None,
    connection_id: str | None = None,
    progress: Any = None,
) -> EvalRun:
    """Every selected case, deterministically; never raises for one case's failure."""
    return run_selected(
        services, paths, case_ids, tags, "deterministic", lambda loaded: _run_case(services, loaded, connection_id),
        progress,
    )  # fmt: skip


def run_selected(
    services: Services,
    paths: list[str] | None,
    case_ids: list[str] | None,
    tags: list[str] | None,
    mode: str,
    one_case: Any,
    progress: Any = None,
) -> EvalRun:
    """The selected cases, each through `one_case(loaded) -> CaseResult`, timed, with progress."""
    started = time.perf_counter()
    chosen, problems = _selected(services, paths, case_ids, tags)
    run = EvalRun(problems=problems, mode=mode)
    for index, loaded in enumerate(chosen, start=1):
        if progress is not None:
            progress(index, len(chosen), loaded.id)
        run.results.append(one_case(loaded))
    run.duration_ms = (time.perf_counter() - started) * 1000
    return run


def _run_case(services: Services, loaded: Any, connection_id: str | None) -> CaseResult:
    started = time.perf_counter()
    case: Case | None = loaded.case
    result = CaseResult(loaded.id, "error", loaded.file)
    if case is None:
        result.message = loaded.problem
        return result
    result.question, result.tags, result.review = case.question, case.tags, case.review
    try:
        if case.query is None and case.sql is None:
            raise KtxError("this case has only a question: run it with --agent")
        conn = _pick_connection(services, case, connection_id)
        want_headers, want_rows = _expected(services, case, conn)
        headers, rows = _answer(services, case, conn)
        result.answer_hash = answer_hash(rows)
        result.status, result.diffs = judge(case, headers, rows, want_headers, want_rows)
    except KtxError as exc:
        result.status, result.message = "error", exc.message
    except Exception as exc:  # one case's surprise is that case's error, never the run's
        result.status, result.message = "error", f"unexpected {type(exc).__name__}: {exc}"
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


# --- the last run, for `ktx status` and `ktx ingest --eval` ------------------------------------------------------


def save_last_run(root: Path, run: EvalRun) -> dict[str, Any]:
    from ktx.project.files import atomic_write
    from ktx.project.project import merge_gitignore

    merge_gitignore(root / ".ktx" / ".gitignore", ("evals/",))  # projects made before evals existed
    record = {
        "finishedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": run.mode,
        **run.summary(),
        "cases": {r.id: {"status": r.status, "answerHash": r.answer_hash} for r in run.results},
    }
    atomic_write(root / LAST_RUN, json.dumps(record, indent=2) + "\n")
    return record


def read_last_run(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / LAST_RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def changed_answers(before: dict[str, Any] | None, run: EvalRun) -> list[str]:
    """Cases whose verdict or answer differs from the previous run's."""
    if not before:
        return []
    old = before.get("cases") or {}
    out = []
    for result in run.results:
        prior = old.get(result.id)
        if prior is None:
            continue
        if prior.get("status") != result.status:
            out.append(f"{result.id}: {prior.get('status')} → {result.status}")
        elif prior.get("answerHash") and result.answer_hash and prior["answerHash"] != result.answer_hash:
            out.append(f"{result.id}: the answer changed (still {result.status})")
    return out


# --- reports ------------------------------------------------------------------------------------------------------


def junit_xml(run: EvalRun) -> str:
    from xml.sax.saxutils import escape, quoteattr

    summary = run.summary()
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuite name="ktx-eval" tests="{summary["total"]}" failures="{summary["failed"]}" '
        f'errors="{summary["errors"] + len(run.problems)}" time="{summary["durationMs"] / 1000:.3f}">',
    ]
    for r in run.results:
        head = f'  <testcase classname={quoteattr(r.file)} name={quoteattr(r.id)} time="{r.duration_ms / 1000:.3f}"'
        if r.status == "pass":
            lines.append(head + "/>")
            continue
        tag = "failure" if r.status == "fail" else "error"
        text = "\n".join(r.diffs) if r.diffs else (r.message or "")
        lines += [head + ">", f"    <{tag} message={quoteattr((r.message or r.status)[:200])}>{escape(text)}</{tag}>"]
        lines.append("  </testcase>")
    for problem in run.problems:
        lines.append(f'  <testcase classname="ktx-eval" name={quoteattr(problem[:80])}>')
        lines.append(f"    <error message={quoteattr(problem[:200])}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"
