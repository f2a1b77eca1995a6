"""`ktx eval --agent`: each case's question goes to an agent loop (the runtime port, any backend of the seed) that
has the MCP tool catalogue and must end by calling `final_answer` with the rows; those rows are compared with the
case's expected rows like a deterministic answer. Per case: the tool calls made, tokens, cache reads, latency, and
with `repeat` the pass rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ktx.errors import KtxError
from ktx.evals.cases import LoadedCase
from ktx.evals.run import CaseResult, EvalRun, _expected, _pick_connection, answer_hash, judge, run_selected
from ktx.tools import Tool, ToolOutput

if TYPE_CHECKING:
    from ktx.services import Services

ROLE = "default"
STEP_BUDGET = 20
SYSTEM = """You answer a data question for an evaluation of a data context layer (ktx).
Use the tools: discover_data first, then sl_read_source / entity_details / wiki_search to understand the data, then
sl_query (preferred) or sql_execution to compute the answer. When you have it, call final_answer exactly once with
the result rows (each row a list of values, in the order of the columns you report) and the column headers. Do not
answer in prose: only final_answer counts."""


class FinalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    headers: list[str] = Field(default_factory=list, description="The column names of the rows.")
    rows: list[list[Any]] = Field(description="The answer's rows: a list of rows, each a list of values.")


def _tools(services: Services, calls: list[str], answer: dict[str, Any]) -> list[Tool]:
    from ktx.mcp.catalog import build_catalogue

    def recorded(tool: Tool) -> Tool:
        def handler(args: Any) -> Any:
            calls.append(tool.name)
            return tool.handler(args)

        return Tool(tool.name, tool.description, tool.input_model, handler, title=tool.title,
                    output_model=tool.output_model, annotations=tool.annotations)  # fmt: skip

    def final(args: FinalAnswer) -> ToolOutput:
        calls.append("final_answer")
        answer["headers"], answer["rows"] = args.headers, args.rows
        return ToolOutput(f"Recorded {len(args.rows)} rows. You are done.", {"rows": len(args.rows)})

    catalogue = [recorded(t) for t in build_catalogue(services) if not t.name.startswith("memory_")]
    return [*catalogue, Tool("final_answer", "Submit the answer's rows (call once, at the end).", FinalAnswer, final)]


def _attempt(services: Services, llm: Any, case: Any, want_headers, want_rows) -> dict[str, Any]:
    calls: list[str] = []
    answer: dict[str, Any] = {}
    started = time.perf_counter()
    user = f"Question: {case.question}"
    if case.connection:
        user += f"\nUse connection `{case.connection}`."
    loop = llm.run_agent_loop(ROLE, SYSTEM, user, _tools(services, calls, answer), STEP_BUDGET)
    usage = loop.metrics.usage
    record: dict[str, Any] = {
        "toolCalls": calls,
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "cacheReadTokens": usage.cache_read_tokens,
        "cacheWriteTokens": usage.cache_write_tokens,
        "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        "stopReason": loop.stop_reason,
    }
    if "rows" not in answer:
        record["status"] = "error"
        record["message"] = (
            f"the agent ended without final_answer ({loop.stop_reason}{': ' + loop.error if loop.error else ''})"
        )
        return record
    status, diffs = judge(case, answer["headers"], answer["rows"], want_headers, want_rows)
    record.update(status=status, diffs=diffs, answerHash=answer_hash(answer["rows"]))
    return record


def run_agent_evals(
    services: Services,
    paths: list[str] | None = None,
    *,
    case_ids: list[str] | None = None,
    tags: list[str] | None = None,
    connection_id: str | None = None,
    repeat: int = 1,
    progress: Any = None,
) -> EvalRun:
    llm = services.llm()
    if llm is None:
        raise KtxError(
            "ktx eval --agent needs an LLM backend (llm.provider.backend is none).",
            hint="Run `ktx setup` to choose one, or run `ktx eval` without --agent (no LLM needed).",
        )
    return run_selected(
        services, paths, case_ids, tags, "agent",
        lambda loaded: _agent_case(services, llm, loaded, connection_id, repeat), progress,
    )  # fmt: skip


def _agent_case(services: Services, llm: Any, loaded: LoadedCase, connection_id: str | None, repeat: int) -> CaseResult:
    started = time.perf_counter()
    case = loaded.case
    result = CaseResult(loaded.id, "error", loaded.file)
    if case is None:
        result.message = loaded.problem
        return result
    result.question, result.tags, result.review = case.question, case.tags, case.review
    try:
        if not case.question:
            raise KtxError("this case has no question for the agent")
        conn = _pick_connection(services, case, connection_id)
        want_headers, want_rows = _expected(services, case, conn)
        attempts = [_attempt(services, llm, case, want_headers, want_rows) for _ in range(max(1, repeat))]
    except KtxError as exc:
        result.message = exc.message
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result
    passes = sum(a["status"] == "pass" for a in attempts)
    last = attempts[-1]
    result.status = (
        "pass" if passes == len(attempts) else ("fail" if any(a["status"] == "fail" for a in attempts) else "error")
    )
    result.diffs = next((a.get("diffs") or [] for a in attempts if a["status"] == "fail"), [])
    result.message = next((a.get("message") for a in attempts if a["status"] == "error"), None)
    result.answer_hash = last.get("answerHash")
    result.agent = {
        "attempts": attempts,
        "passRate": round(passes / len(attempts), 4),
        "toolCalls": sum(len(a["toolCalls"]) for a in attempts),
        "inputTokens": sum(a["inputTokens"] for a in attempts),
        "outputTokens": sum(a["outputTokens"] for a in attempts),
        "cacheReadTokens": sum(a["cacheReadTokens"] for a in attempts),
    }
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result
