"""Every backend of the seed is reachable from the project's services (`Services(project).llm()`): claude-code and codex end to end, through the
project's own ktx.yaml, against their stand-ins (the SDKs are real; only the CLI process is replaced)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from ktx.project.project import Project, init_project
from ktx.services import Services
from ktx.tools import Tool, ToolOutput
from tests.fakes.harness import FakeClaude, FakeCodex


class Verdict(BaseModel):
    name: str
    score: float


class Lookup(BaseModel):
    table: str


def lookup(calls: list[str]) -> Tool:
    def handler(args: Lookup) -> ToolOutput:
        calls.append(args.table)
        return ToolOutput(f"{args.table}: 3 columns", {"columns": 3})

    return Tool("lookup_table", "Describe a table", Lookup, handler)


def _configure(tmp_path, backend: str, model: str) -> Project:
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)

    def edit(doc) -> None:
        doc.setdefault("llm", {})
        doc["llm"]["provider"] = {"backend": backend}
        doc["llm"]["models"] = {"default": model}

    project.update_config(edit, f"Use {backend}")
    return Project(root)


@pytest.fixture
def claude(tmp_path, monkeypatch):
    pytest.importorskip("claude_agent_sdk")
    fake = FakeClaude(tmp_path)
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(fake.cli))
    return fake


@pytest.fixture
def codex(tmp_path, monkeypatch):
    pytest.importorskip("openai_codex")
    fake = FakeCodex(tmp_path)
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    return fake


def test_claude_code_through_the_project_services(claude, tmp_path):
    project = _configure(tmp_path, "claude-code", "sonnet")
    calls: list[str] = []
    claude.script_runs(
        {"turns": [{"text": "hello"}]},
        {"turns": [{"text": ""}], "structured_output": {"name": "orders", "score": 0.8}},
        {
            "turns": [
                {"tool_calls": [{"name": "mcp__ktx__lookup_table", "input": {"table": "orders"}}]},
                {"text": "orders has 3 columns"},
            ]
        },
    )
    runtime = Services(project).llm()
    assert runtime is not None
    assert runtime.generate_text("default", "Say hello") == "hello"
    assert runtime.generate_object("default", "Judge", Verdict) == Verdict(name="orders", score=0.8)
    result = runtime.run_agent_loop("default", "You map tables.", "Describe orders", [lookup(calls)], step_budget=5)
    assert (result.stop_reason, result.final_text) == ("natural", "orders has 3 columns")
    assert calls == ["orders"]
    runs = claude.runs()
    assert len(runs) == 3
    assert [r["model"] for r in runs] == ["claude-sonnet-4-6"] * 3
    assert runs[1]["json_schema"]["required"] == ["name", "score"]


def test_codex_through_the_project_services(codex, tmp_path):
    project = _configure(tmp_path, "codex", "codex")
    calls: list[str] = []
    codex.script_runs(
        {"items": [{"type": "message", "text": "hello"}]},
        {"items": [{"type": "message", "text": json.dumps({"name": "orders", "score": 0.5})}]},
        {
            "items": [
                {"type": "mcp", "tool": "lookup_table", "arguments": {"table": "orders"}},
                {"type": "message", "text": "orders has 3 columns"},
            ]
        },
    )
    runtime = Services(project).llm()
    assert runtime is not None
    assert runtime.generate_text("default", "Say hello") == "hello"
    assert runtime.generate_object("default", "Judge", Verdict) == Verdict(name="orders", score=0.5)
    result = runtime.run_agent_loop("default", "You map tables.", "Describe orders", [lookup(calls)], step_budget=5)
    assert (result.stop_reason, result.final_text) == ("natural", "orders has 3 columns")
    assert calls == ["orders"]
    runs = codex.runs()
    assert len(runs) == 3
    for run in runs:
        thread = next(r for r in run["requests"] if r["method"] == "thread/start")["params"]
        assert thread["model"] == "gpt-5.5"
