"""Database ingest with an LLM: descriptions.ai and relationship proposals through role candidateExtraction, on
the anthropic backend (real SDK, loopback Messages API) and on claude-code and codex (real SDKs, stand-in CLIs).
Assertions are on the requests ktx sent and on what lands in the shard."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.services import Services
from tests.fakes.anthropic_api import AnthropicStandIn, error, text, tool_use
from tests.fakes.harness import FakeClaude, FakeCodex
from tests.fixtures.relationships.schemas import all_fixtures, build

KEY = "sk-ant-ingest-DO-NOT-LEAK"
LONG = " ".join(f"word{i}" for i in range(40))


def _project(tmp_path: Path, fixture_id: str, llm: dict[str, Any]) -> Project:
    fixture = next(f for f in all_fixtures() if f.id == fixture_id)
    path = build(fixture, tmp_path / "data")
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)

    def edit(doc: Any) -> None:
        doc["connections"] = {"wh": {"driver": fixture.engine, "path": str(path)}}
        doc["llm"] = llm
        doc["scan"] = {"enrichment": {"mode": "llm"}}
        doc["ingest"] = {"rateLimit": {"retry": {"maxAttempts": 2, "baseDelayMs": 10, "maxDelayMs": 20}}}

    project.update_config(edit, "configure")
    return Project(root)


def _tables(project: Project) -> dict[str, Any]:
    return safe_load((project.root / "semantic-layer/wh/_schema/public.yaml").read_text())["tables"]


@pytest.fixture
def api():
    server = AnthropicStandIn()
    yield server
    server.close()


def _responder(request: dict[str, Any]) -> dict[str, Any]:
    """Answer like a model would: descriptions for the table in the prompt, proposals over the schema."""
    body = request["body"]
    tools = body.get("tools") or []
    prompt = body["messages"][0]["content"]
    prompt = prompt if isinstance(prompt, str) else prompt[0]["text"]
    if tools and "fkCandidates" in json.dumps(tools[0]["input_schema"]):
        return tool_use(
            (
                "emit_result",
                {
                    "pkCandidates": [{"table": "people", "column": "pid", "confidence": 0.9}],
                    "fkCandidates": [
                        {"fromTable": "purchases", "fromColumn": "buyer", "toTable": "people", "toColumn": "pid",
                         "confidence": 0.8, "rationale": "buyers are people"},
                        {"fromTable": "purchases", "fromColumn": "item", "toTable": "goods", "toColumn": "gid",
                         "confidence": 0.8},
                        {"fromTable": "purchases", "fromColumn": "paid", "toTable": "goods", "toColumn": "price",
                         "confidence": 0.7},
                        {"fromTable": "purchases", "fromColumn": "seller", "toTable": "sellers", "toColumn": "id",
                         "confidence": 0.9},
                    ],
                },
            )
        )  # fmt: skip
    if tools:
        table = re.search(r"^Table: (\S+)", prompt, re.M).group(1)
        columns = re.findall(r"^- (\S+) \(", prompt, re.M)
        described = [{"name": c, "description": f"The {c} of a {table[:-1]}."} for c in columns[1:]]
        return tool_use(("emit_result", {"tableDescription": f"{table}: {LONG}", "columns": described}))
    return text("Identifier of the row, assigned by the shop.")


def test_anthropic_backend_writes_ai_descriptions_and_validated_proposals(api, tmp_path):
    llm = {
        "provider": {"backend": "anthropic", "anthropic": {"api_key": "env:KTX_TEST_KEY", "base_url": api.base_url}},
        "models": {"default": "claude-sonnet-4-6", "candidateExtraction": "claude-haiku-4-5"},
    }
    project = _project(tmp_path, "no_naming_convention", llm)
    api.default = _responder
    import os

    os.environ["KTX_TEST_KEY"] = KEY
    try:
        with Services(project) as services:
            result = run_ingest(services, "wh").results[0]
    finally:
        del os.environ["KTX_TEST_KEY"]
    assert result.status == "done", result.message
    bodies = api.bodies
    assert {b["model"] for b in bodies} == {"claude-haiku-4-5"}  # every call used the candidateExtraction model
    structured = [b for b in bodies if b.get("tools")]
    describe = [b for b in structured if "tableDescription" in json.dumps(b["tools"][0]["input_schema"])]
    proposals = [b for b in structured if "fkCandidates" in json.dumps(b["tools"][0]["input_schema"])]
    assert len(describe) == 3 and len(proposals) == 1  # one call per table, one proposal call
    first = describe[0]["messages"][0]["content"]
    first = first if isinstance(first, str) else first[0]["text"]
    assert "Data source type: sqlite" in first and "Sample rows:" in first and "=" in first
    system = describe[0]["system"]
    system = system if isinstance(system, str) else " ".join(block["text"] for block in system)
    assert "at most 24 words for the table and 16 words per column" in system
    plain = [b for b in bodies if not b.get("tools")]
    assert len(plain) == 3  # the first column of each table was left empty: one text fallback each
    tables = _tables(project)
    purchases = tables["purchases"]
    ai = purchases["descriptions"]["ai"]
    assert ai.startswith("purchases: word0") and len(ai.split()) <= 24 and ai.endswith("…")
    assert purchases["descriptions"]["profile"]  # the profile text stays beside the AI one
    first_column = purchases["columns"][0]
    assert first_column["descriptions"]["ai"] == "Identifier of the row, assigned by the shop."
    joins = {(j["to"], j["on"]) for j in purchases["joins"]}
    assert ("people", "purchases.buyer = people.pid") in joins
    assert ("goods", "purchases.item = goods.gid") in joins
    assert not any("price" in on for _, on in joins)  # proposed, checked against the data, rejected
    report = result.report
    assert any(w["code"] == "relationship_llm_invalid_reference" for w in report["warnings"])
    rel = json.loads((project.root / "raw-sources/wh/live-database/snapshot/enrichment/relationships.json").read_text())
    rejected = next(e for e in rel["rejected"] if e["to"]["columns"] == ["price"])
    assert "llm_proposed_but_validation_failed" in rejected["reasons"]
    assert KEY not in json.dumps(report)

    # The warehouse changes and the model fails: the run still completes and keeps every AI description.
    con = sqlite3.connect(tmp_path / "data" / "no_naming_convention.sqlite")
    con.execute("ALTER TABLE purchases ADD COLUMN channel TEXT")
    con.commit()
    con.close()
    api.default = error(500, "model exploded")
    os.environ["KTX_TEST_KEY"] = KEY
    try:
        with Services(Project(project.root)) as services:
            again = run_ingest(services, "wh").results[0]
    finally:
        del os.environ["KTX_TEST_KEY"]
    assert again.status == "done"
    assert again.report["enrichment"]["descriptions"] == "failed"
    assert any(w["code"] == "enrichment_failed" for w in again.report["warnings"])
    after = _tables(project)["purchases"]
    assert after["descriptions"]["ai"] == ai
    assert after["columns"][0]["descriptions"]["ai"] == "Identifier of the row, assigned by the shop."
    assert after["columns"][-1]["name"] == "channel"


def _single_table(tmp_path: Path, llm: dict[str, Any]) -> Project:
    db = tmp_path / "one.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE plans (plan_code TEXT, monthly_price INTEGER)")
    con.executemany("INSERT INTO plans VALUES (?, ?)", [("free", 0), ("pro", 49), ("team", 99)])
    con.commit()
    con.close()
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)

    def edit(doc: Any) -> None:
        doc["connections"] = {"wh": {"driver": "sqlite", "path": str(db)}}
        doc["llm"] = llm
        doc["scan"] = {"enrichment": {"mode": "llm"}}

    project.update_config(edit, "configure")
    return Project(root)


DESCRIBED = {
    "tableDescription": "Subscription plans and their monthly list price.",
    "columns": [
        {"name": "plan_code", "description": "Plan identifier used on invoices."},
        {"name": "monthly_price", "description": "List price per month in EUR."},
    ],
}
PROPOSED = {"pkCandidates": [{"table": "plans", "column": "plan_code", "confidence": 0.9}], "fkCandidates": []}


def _assert_described(project: Project) -> None:
    plans = _tables(project)["plans"]
    assert plans["descriptions"]["ai"] == "Subscription plans and their monthly list price."
    assert plans["columns"][1]["descriptions"]["ai"] == "List price per month in EUR."


def test_claude_code_backend_describes_tables(tmp_path, monkeypatch):
    pytest.importorskip("claude_agent_sdk")
    fake = FakeClaude(tmp_path)
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(fake.cli))
    fake.script_runs(
        {"turns": [{"text": ""}], "structured_output": DESCRIBED},
        {"turns": [{"text": ""}], "structured_output": PROPOSED},
    )
    project = _single_table(
        tmp_path,
        {"provider": {"backend": "claude-code"}, "models": {"default": "sonnet", "candidateExtraction": "haiku"}},
    )
    with Services(project) as services:
        result = run_ingest(services, "wh").results[0]
    assert result.status == "done", result.message
    _assert_described(project)
    runs = fake.runs()
    assert len(runs) == 2
    assert [r["model"] for r in runs] == ["claude-haiku-4-5"] * 2
    schemas = [r["json_schema"] for r in runs]
    assert "tableDescription" in json.dumps(schemas[0]) and "fkCandidates" in json.dumps(schemas[1])


def test_codex_backend_describes_tables(tmp_path, monkeypatch):
    pytest.importorskip("openai_codex")
    fake = FakeCodex(tmp_path)
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    fake.script_runs(
        {"items": [{"type": "message", "text": json.dumps(DESCRIBED)}]},
        {"items": [{"type": "message", "text": json.dumps(PROPOSED)}]},
    )
    project = _single_table(tmp_path, {"provider": {"backend": "codex"}, "models": {"default": "gpt-5.5"}})
    with Services(project) as services:
        result = run_ingest(services, "wh").results[0]
    assert result.status == "done", result.message
    _assert_described(project)
    runs = fake.runs()
    assert len(runs) == 2
    for run in runs:
        thread = next(r for r in run["requests"] if r["method"] == "thread/start")["params"]
        assert thread["model"] == "gpt-5.5"


def _described_responder(request: dict[str, Any]) -> dict[str, Any]:
    tools = request["body"].get("tools") or []
    if tools and "fkCandidates" in json.dumps(tools[0]["input_schema"]):
        return tool_use(("emit_result", PROPOSED))
    return tool_use(("emit_result", DESCRIBED))


def test_vertex_backend_describes_tables(api, tmp_path, monkeypatch):
    from tests.fakes.google_auth import service_account_file

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file(tmp_path, f"{api.base_url}/token")))
    monkeypatch.setenv("ANTHROPIC_VERTEX_BASE_URL", f"{api.base_url}/v1")
    api.default = _described_responder
    project = _single_table(
        tmp_path,
        {
            "provider": {"backend": "vertex", "vertex": {"project": "acme-ml", "location": "us-east5"}},
            "models": {"default": "claude-sonnet-4-6", "candidateExtraction": "claude-haiku-4-5"},
        },
    )
    with Services(project) as services:
        result = run_ingest(services, "wh").results[0]
    assert result.status == "done", result.message
    _assert_described(project)
    model_calls = [r for r in api.requests if "/publishers/" in r["path"]]
    # Both calls use the candidateExtraction model, through Vertex's paths and Google credentials.
    assert len(model_calls) == 2
    prefix = "/v1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5:"
    assert all(r["path"].startswith(prefix) for r in model_calls)
    assert all(r["headers"]["authorization"] == "Bearer fake-google-token" for r in model_calls)


def test_gateway_backend_describes_tables(api, tmp_path, monkeypatch):
    monkeypatch.setenv("KTX_GATEWAY_KEY", KEY)
    api.default = _described_responder
    project = _single_table(
        tmp_path,
        {
            "provider": {"backend": "gateway", "gateway": {"api_key": "env:KTX_GATEWAY_KEY", "base_url": api.base_url}},
            "models": {"default": "anthropic/claude-sonnet-4-6"},
        },
    )
    with Services(project) as services:
        result = run_ingest(services, "wh").results[0]
    assert result.status == "done", result.message
    _assert_described(project)
    sent = [r for r in api.requests if r["path"].endswith("/messages")]
    assert len(sent) == 2 and {r["body"]["model"] for r in sent} == {"anthropic/claude-sonnet-4-6"}
    trace = next((project.root / ".ktx" / "ingest-traces").rglob("trace.jsonl")).read_text()
    assert KEY not in trace and KEY not in json.dumps(result.report)
