"""`ktx eval` as a user and CI run it: cases with known answers on the demo shop in DuckDB — pass, fail with the
first differing rows, one error line per bad case while the others run — JSON, JUnit, `eval init`, `ktx status`,
`ingest --eval`, and `--agent` through the Anthropic-protocol stand-in with scripted tool calls."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest

from tests.fakes.anthropic_api import AnthropicStandIn, text, tool_use

CASES = """
cases:
  - id: revenue-by-segment
    question: What was net revenue of paid orders by customer segment?
    query: {measures: [orders.revenue], dimensions: [customers.segment]}
    expected:
      sql: >-
        SELECT c.segment, sum(o.amount - o.discount) FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
        WHERE o.status = 'paid' GROUP BY c.segment
    tags: [finance]
  - id: pinned-wrong
    query: {measures: [orders.order_count], dimensions: [orders.status]}
    expected: {rows: [[paid, 1], [refunded, 2]]}
    tags: [finance]
  - id: missing-measure
    query: {measures: [orders.nope]}
    expected: {rows: [[1]]}
  - id: bad-sql
    sql: SELEC count(*) FROM orders
    expected: {rows: [[1]]}
  - id: writes
    sql: SELECT 1
    expected: {sql: DELETE FROM orders}
  - id: twice
    sql: SELECT 1
    expected: {rows: [[1]]}
  - id: twice
    sql: SELECT 2
    expected: {rows: [[2]]}
  - id: misspelt
    sql: SELECT 1
    expectd: {rows: [[1]]}
  - id: slow
    sql: SELECT count(*) FROM range(100000000) a, range(100000000) b
    expected: {rows: [[1]]}
"""


def _write(project: Path, text: str = CASES, name: str = "cases.yaml") -> None:
    (project / "evals").mkdir(exist_ok=True)
    (project / "evals" / name).write_text(text)


def _bound(project: Path) -> None:
    text = (project / "ktx.yaml").read_text()
    (project / "ktx.yaml").write_text(
        text.replace("path: shop.duckdb", "path: shop.duckdb\n    statement_timeout_ms: 1500")
    )


def test_cases_pass_fail_or_error_one_line_each_and_the_others_still_run(run_ktx, shop: Path, tmp_path) -> None:
    _write(shop)
    _bound(shop)
    junit = tmp_path / "eval.xml"
    result = run_ktx("eval", "--json", "--junit", str(junit), cwd=shop)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    by_id = {}
    for r in data["results"]:
        by_id.setdefault(r["id"], []).append(r)
    assert by_id["revenue-by-segment"][0]["status"] == "pass"
    wrong = by_id["pinned-wrong"][0]
    assert wrong["status"] == "fail" and wrong["diffs"][0].startswith("row 1: expected")
    assert by_id["missing-measure"][0]["status"] == "error" and "nope" in by_id["missing-measure"][0]["message"]
    assert by_id["bad-sql"][0]["message"].startswith("sql: Invalid expression")
    assert by_id["writes"][0]["message"].startswith("expected.sql: SQL contains read/write operation")
    assert [r["message"] for r in by_id["twice"]] == ["duplicate id 'twice' (2 cases use it)"] * 2
    assert by_id["misspelt"][0]["message"] == "expected: Field required; expectd: unknown key"
    assert "statement_timeout_ms" in by_id["slow"][0]["message"]
    assert data["summary"]["passed"] == 1 and data["summary"]["total"] == 9
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "9" and suite.get("failures") == "1"
    with duckdb.connect(str(shop / "shop.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 300  # the DELETE never ran

    plain = run_ktx("eval", "--tag", "finance", cwd=shop)
    assert plain.returncode == 1
    assert "pass   revenue-by-segment" in plain.stdout and "fail   pinned-wrong" in plain.stdout
    assert "1/2 passed · accuracy 50%" in plain.stdout
    one = run_ktx("eval", "--case", "revenue-by-segment", cwd=shop)
    assert one.returncode == 0 and "1/1 passed" in one.stdout
    status = json.loads(run_ktx("status", "--json", cwd=shop).stdout)
    assert status["evals"]["passed"] == 1 and status["evals"]["total"] == 1


def test_eval_init_drafts_cases_marked_for_review_that_run(run_ktx, shop: Path) -> None:
    drafted = run_ktx("eval", "init", cwd=shop)
    assert drafted.returncode == 0, drafted.stderr
    text = (shop / "evals" / "examples.yaml").read_text()
    assert "review: true" in text and "expected:" in text
    ran = run_ktx("eval", "--json", cwd=shop)
    data = json.loads(ran.stdout)
    assert data["summary"]["total"] >= 3 and all(r.get("review") for r in data["results"])
    assert data["summary"]["errors"] == 0, data["results"]
    log = subprocess.run(["git", "log", "--oneline"], cwd=shop, capture_output=True, text=True).stdout
    assert "eval: draft" in log
    again = run_ktx("eval", "init", cwd=shop)
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.fixture
def api():
    server = AnthropicStandIn()
    yield server
    server.close()


AGENT_CASES = """
cases:
  - id: paid-orders
    question: How many paid orders are there?
    sql: SELECT 1
    expected: {sql: "SELECT count(*) FROM orders WHERE status = 'paid'"}
  - id: refunded-orders
    question: How many refunded orders are there?
    sql: SELECT 1
    expected: {sql: "SELECT count(*) FROM orders WHERE status = 'refunded'"}
"""


def test_agent_mode_asks_the_question_through_the_tools_and_compares_the_final_answer(run_ktx, shop: Path, api):
    with duckdb.connect(str(shop / "shop.duckdb"), read_only=True) as con:
        paid = con.execute("SELECT count(*) FROM orders WHERE status = 'paid'").fetchone()[0]
    from ktx.project.project import Project

    llm = {
        "provider": {"backend": "anthropic", "anthropic": {"api_key": "env:KEY"}},
        "models": {"default": "claude-sonnet-4-6"},
    }
    Project(shop).update_config(lambda d: d.__setitem__("llm", llm), "llm: anthropic")
    _write(shop, AGENT_CASES)
    query = {"connectionId": "warehouse", "measures": ["orders.paid_orders"]}
    api.queue(
        # the first case: a real sl_query through the catalogue, then the right answer
        tool_use(("sl_query", query)),
        tool_use(("final_answer", {"headers": ["paid_orders"], "rows": [[paid]]})),
        text("Done."),
        # the second: a wrong answer
        tool_use(("final_answer", {"headers": ["n"], "rows": [[paid]]})),
        text("Done."),
    )
    result = run_ktx("eval", "--agent", "--json", cwd=shop, env={"ANTHROPIC_BASE_URL": api.base_url, "KEY": "k"})
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert "results" in data, (data, result.stderr)
    first, second = data["results"]
    assert first["status"] == "pass" and first["agent"]["attempts"][0]["toolCalls"] == ["sl_query", "final_answer"]
    attempt = first["agent"]["attempts"][0]
    assert attempt["inputTokens"] + attempt["cacheWriteTokens"] + attempt["cacheReadTokens"] > 0
    assert attempt["outputTokens"] > 0 and attempt["latencyMs"] > 0 and first["agent"]["passRate"] == 1.0
    assert second["status"] == "fail" and second["diffs"]
    assert data["mode"] == "agent"
    tools = {t["name"] for t in api.bodies[0]["tools"]}
    assert {"sl_query", "discover_data", "sql_execution", "final_answer"} <= tools
    assert "memory_ingest" not in tools


def test_agent_mode_without_an_llm_says_how_to_get_one(run_ktx, shop: Path) -> None:
    _write(shop, AGENT_CASES)
    result = run_ktx("eval", "--agent", cwd=shop)
    assert result.returncode == 1 and "needs an LLM backend" in result.stderr


def test_ingest_eval_runs_the_cases_after_the_commit(run_ktx, shop: Path) -> None:
    _write(shop, AGENT_CASES.replace("sql: SELECT 1\n", "sql: SELECT count(*) FROM orders WHERE status = 'paid'\n", 1))
    (shop / "evals" / "cases.yaml").write_text(
        (shop / "evals" / "cases.yaml")
        .read_text()
        .replace("  - id: refunded-orders", "  - id: refunded-orders\n    tags: [x]")
    )
    result = run_ktx("ingest", "warehouse", "--eval", cwd=shop)
    assert "Evals: 1/2 passed after the ingest" in result.stdout
    assert result.returncode == 1


def test_agent_mode_on_the_claude_code_backend(run_ktx, shop: Path, tmp_path) -> None:
    """The same loop through the Claude Agent SDK and the stand-in Claude Code CLI: ktx's tools reach it as the
    in-process `ktx` MCP server, and final_answer ends the case."""
    pytest.importorskip("claude_agent_sdk")
    from ktx.project.project import Project
    from tests.fakes.harness import FakeClaude

    with duckdb.connect(str(shop / "shop.duckdb"), read_only=True) as con:
        paid = con.execute("SELECT count(*) FROM orders WHERE status = 'paid'").fetchone()[0]
    llm = {"provider": {"backend": "claude-code"}, "models": {"default": "sonnet"}}
    Project(shop).update_config(lambda d: d.__setitem__("llm", llm), "llm: claude-code")
    _write(shop, AGENT_CASES.split("  - id: refunded-orders")[0])
    claude = FakeClaude(tmp_path)
    claude.script_runs(
        {
            "turns": [
                {"tool_calls": [{"name": "mcp__ktx__sl_query", "input": {"connectionId": "warehouse",
                                                                         "measures": ["orders.paid_orders"]}}]},
                {"tool_calls": [{"name": "mcp__ktx__final_answer", "input": {"rows": [[paid]]}}]},
                {"text": "done"},
            ]
        }
    )  # fmt: skip
    result = run_ktx("eval", "--agent", "--json", cwd=shop, env={"KTX_CLAUDE_CODE_CLI": str(claude.cli)})
    assert result.returncode == 0, result.stdout + result.stderr
    [case] = json.loads(result.stdout)["results"]
    assert case["status"] == "pass" and case["agent"]["attempts"][0]["toolCalls"] == ["sl_query", "final_answer"]
    [run] = claude.runs()
    assert "mcp__ktx__final_answer" in run["allowed_tools"] and run["model"] == "claude-sonnet-4-6"
