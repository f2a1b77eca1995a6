"""LLM work units on top of the dbt projection: one unit per changed file, run through the anthropic SDK against
the Messages stand-in (scripted tool calls), and end to end through the claude-code and codex stand-ins; the units'
wiki pages land in the projection's one commit with provenance, and an unchanged project runs no unit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project
from ktx.services import Services
from tests.fakes.anthropic_api import AnthropicStandIn, text, tool_use
from tests.fakes.harness import FakeClaude, FakeCodex
from tests.integration.test_dbt_projection import _setup

PAGE = {
    "key": "order-status-rules",
    "summary": "What order statuses mean",
    "content": "Refunded orders stay in stg_orders with status refunded; revenue excludes them.",
    "sl_refs": ["wh/stg_orders"],
}


def _configure(root: Path, llm: dict) -> None:
    Project(root).update_config(lambda d: d.__setitem__("llm", llm), "llm")


def _anthropic_project(tmp_path: Path, api: AnthropicStandIn, monkeypatch, models: dict) -> Path:
    monkeypatch.setenv("KTX_WU_KEY", "sk-wu")
    root = _setup(tmp_path)
    provider = {"backend": "anthropic", "anthropic": {"api_key": "env:KTX_WU_KEY", "base_url": api.base_url}}
    _configure(root, {"provider": provider, "models": models})
    return root


def _ingest(root: Path):
    with Services(Project(root)) as services:
        return run_ingest(services, all_=True).results


def test_anthropic_units_write_pages_in_the_projection_commit(tmp_path: Path, monkeypatch) -> None:
    api = AnthropicStandIn()

    def responder(request: dict) -> dict:
        body = request["body"]
        last = json.dumps(body["messages"][-1])
        first = json.dumps(body["messages"][0])
        if "tool_result" in last:
            return text("done")
        if "models/marts/schema.yml" in first:
            return tool_use(("wiki_write", PAGE))
        return text("Nothing beyond the structure here.")

    api.default = responder
    try:
        root = _anthropic_project(tmp_path, api, monkeypatch, {"default": "claude-haiku-4-5"})
        _, dbt = _ingest(root)
        assert dbt.status == "done", dbt.message
        units = {u["rawFile"]: u["status"] for u in dbt.report["workUnits"]}
        assert units == {"models/marts/schema.yml": "done", "models/sources.yml": "done"}
        assert {"unit": "dbt-models-marts-schema-yml", "rawPath": "models/marts/schema.yml", "target": "wiki",
                "key": "order-status-rules"} in dbt.report["provenance"]  # fmt: skip
        page = (root / "wiki/global/order-status-rules.md").read_text()
        assert "revenue excludes them" in page
        log = Project(root).git.run("log", "-1", "--name-only", "--format=%s").stdout
        assert "ingest(dbt): shop_dbt" in log and "wiki/global/order-status-rules.md" in log
        requests = len(api.requests)
        _, again = _ingest(root)
        assert again.status == "unchanged" and again.report["workUnits"] == [] and len(api.requests) == requests
    finally:
        api.close()


def test_claude_code_runs_a_unit_end_to_end(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("claude_agent_sdk")
    fake = FakeClaude(tmp_path)
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(fake.cli))
    fake.script_runs(
        {"turns": [{"tool_calls": [{"name": "mcp__ktx__wiki_write", "input": PAGE}]}, {"text": "done"}]},
        {"turns": [{"text": "nothing to add"}]},
    )
    root = _setup(tmp_path)
    _configure(root, {"provider": {"backend": "claude-code"}, "models": {"default": "sonnet"}})
    _, dbt = _ingest(root)
    assert dbt.status == "done", dbt.message
    assert (root / "wiki/global/order-status-rules.md").is_file()
    assert len(fake.runs()) == 2


def test_codex_runs_a_unit_end_to_end(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("openai_codex")
    fake = FakeCodex(tmp_path)
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    fake.script_runs(
        {"items": [{"type": "mcp", "tool": "wiki_write", "arguments": PAGE}, {"type": "message", "text": "done"}]},
        {"items": [{"type": "message", "text": "nothing to add"}]},
    )
    root = _setup(tmp_path)
    _configure(root, {"provider": {"backend": "codex"}, "models": {"default": "gpt-5.5"}})
    _, dbt = _ingest(root)
    assert dbt.status == "done", dbt.message
    assert (root / "wiki/global/order-status-rules.md").is_file()
    assert [u["status"] for u in dbt.report["workUnits"]] == ["done", "done"]


def test_reconciliation_merges_pages_two_units_wrote(tmp_path: Path, monkeypatch) -> None:
    api = AnthropicStandIn()
    second = {"key": "refund-notes", "summary": "Refunds", "content": "Refunded orders keep their row."}
    merged = {**PAGE, "content": PAGE["content"] + " Refunded orders keep their row."}

    def responder(request: dict) -> dict:
        body = request["body"]
        first = json.dumps(body["messages"][0])
        last = json.dumps(body["messages"][-1])
        if "Pages written in this run" in first:  # the reconcile loop
            if "tool_result" in last:
                return text("merged")
            return tool_use(("wiki_write", merged), ("wiki_drop", {"key": "refund-notes"}))
        if "tool_result" in last:
            return text("done")
        return tool_use(("wiki_write", PAGE if "marts/schema.yml" in first else second))

    api.default = responder
    try:
        root = _anthropic_project(
            tmp_path, api, monkeypatch, {"default": "claude-haiku-4-5", "reconcile": "claude-sonnet-4-6"}
        )
        _, dbt = _ingest(root)
        assert dbt.status == "done", dbt.message
        assert dbt.report["reconciliation"]["status"] == "done", (dbt.report["provenance"], dbt.report["warnings"])
        assert dbt.report["reconciliation"]["dropped"] == ["refund-notes"]
        assert not (root / "wiki/global/refund-notes.md").exists()
        assert "keep their row" in (root / "wiki/global/order-status-rules.md").read_text()
        reconcile = [r for r in api.requests if "Pages written in this run" in json.dumps(r["body"]["messages"][0])]
        assert reconcile and reconcile[0]["body"]["model"] == "claude-sonnet-4-6"
    finally:
        api.close()


def test_pages_from_a_deleted_raw_file_are_evicted(tmp_path: Path, monkeypatch) -> None:
    api = AnthropicStandIn()

    def responder(request: dict) -> dict:
        body = request["body"]
        if "tool_result" in json.dumps(body["messages"][-1]):
            return text("done")
        if "models/sources.yml" in json.dumps(body["messages"][0]):
            return tool_use(
                ("wiki_write", {"key": "payments-feed", "summary": "Payments", "content": "From the processor."})
            )
        return text("nothing")

    api.default = responder
    try:
        root = _anthropic_project(tmp_path, api, monkeypatch, {"default": "claude-haiku-4-5"})
        _ingest(root)
        assert (root / "wiki/global/payments-feed.md").is_file()
        (root / "dbt/models/sources.yml").unlink()
        _, dbt = _ingest(root)
        assert dbt.status == "done", dbt.message
        assert [e["key"] for e in dbt.report["evictions"]] == ["payments-feed"]
        assert not (root / "wiki/global/payments-feed.md").exists()
        assert dbt.report["workUnits"] == []  # nothing changed that is still there
    finally:
        api.close()
