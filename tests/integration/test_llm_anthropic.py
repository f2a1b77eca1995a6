"""The runtime and the anthropic / vertex / gateway backends, through the real `anthropic` SDK
against a loopback Messages API stand-in. Assertions are on what ktx sent and what callers get."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from ktx.llm.factory import create_llm_runtime
from ktx.llm.governor import RateLimitGovernor
from ktx.llm.port import CancelToken, LlmCancelled, LlmError
from ktx.project.config import KtxConfig
from ktx.tools import Tool, ToolOutput
from tests.fakes.anthropic_api import AnthropicStandIn, error, text, tool_use
from tests.fakes.google_auth import service_account_file

KEY = "sk-ant-test-DO-NOT-LEAK"


@pytest.fixture
def api():
    server = AnthropicStandIn()
    yield server
    server.close()


def runtime_for(api: AnthropicStandIn, tmp_path: Path, *, backend="anthropic", llm_extra=None, env=None, rate=None):
    models = {"default": "claude-sonnet-4-6", "triage": "claude-haiku-4-5", "repair": "claude-haiku-4-5"}
    llm: dict = {"provider": {"backend": backend}, "models": models}
    if backend == "anthropic":
        llm["provider"]["anthropic"] = {"api_key": "env:TEST_ANTHROPIC_KEY", "base_url": api.base_url}
    if backend == "gateway":
        llm["provider"]["gateway"] = {"api_key": "env:TEST_ANTHROPIC_KEY", "base_url": api.base_url}
        llm["models"] = {"default": "anthropic/claude-sonnet-4-6"}
    for key, value in (llm_extra or {}).items():
        llm[key] = value
    config = KtxConfig.model_validate(
        {"llm": llm, "ingest": {"rateLimit": rate or {"retry": {"baseDelayMs": 10, "maxDelayMs": 50}}}}
    )
    return create_llm_runtime(config, tmp_path, env={"TEST_ANTHROPIC_KEY": KEY, **(env or {})})


class Lookup(BaseModel):
    table: str = Field(description="table name")


def lookup_tool(calls: list, *, fail: bool = False) -> Tool:
    def handler(args: Lookup) -> ToolOutput:
        calls.append(args.table)
        if fail:
            raise RuntimeError("warehouse unreachable")
        return ToolOutput(f"{args.table} has 3 columns", {"columns": 3})

    return Tool("lookup_table", "Describe a table", Lookup, handler)


def noop_tool(name: str) -> Tool:
    return Tool(name, f"{name} tool", Lookup, lambda a: "done")


# --- text and roles --------------------------------------------------------------------------


def test_generate_text_sends_role_model_key_beta_and_cache_markers(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.queue(text("Revenue is recognised at shipment."))
    assert rt.generate_text("triage", "Summarise", system="You are terse.") == "Revenue is recognised at shipment."
    request = api.requests[0]
    assert request["path"] == "/v1/messages"
    auth = request["headers"].get("x-api-key") or request["headers"].get("authorization", "")
    assert auth in (KEY, f"Bearer {KEY}")
    assert request["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11"
    body = request["body"]
    assert body["model"] == "claude-haiku-4-5" and body["stream"] is True and "temperature" not in body
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Summarise", "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
        }
    ]


def test_roles_without_a_model_use_default(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    assert rt.models["curator"] == rt.models["reconcile"] == "claude-sonnet-4-6"
    rt.generate_text("curator", "x")
    assert api.bodies[0]["model"] == "claude-sonnet-4-6"


def test_missing_default_model_and_missing_key_are_clear_errors(api, tmp_path):
    config = KtxConfig.model_validate({"llm": {"provider": {"backend": "anthropic"}, "models": {"triage": "x"}}})
    with pytest.raises(LlmError, match=r"llm\.models\.default is required when llm\.provider\.backend is not none"):
        create_llm_runtime(config, tmp_path, env={})
    config = KtxConfig.model_validate({"llm": {"provider": {"backend": "anthropic"}, "models": {"default": "m"}}})
    with pytest.raises(LlmError, match="Anthropic API key missing"):
        create_llm_runtime(config, tmp_path, env={})
    assert create_llm_runtime(KtxConfig(), tmp_path) is None


def test_model_ids_may_be_references(api, tmp_path):
    rt = runtime_for(
        api,
        tmp_path,
        llm_extra={"models": {"default": "env:KTX_TEST_MODEL"}},
        env={"KTX_TEST_MODEL": "claude-opus-4-7"},
    )
    rt.generate_text("default", "x")
    assert api.bodies[0]["model"] == "claude-opus-4-7"


# --- structured output -----------------------------------------------------------------------


class Verdict(BaseModel):
    name: str
    score: float = Field(ge=0, le=1)


def test_generate_object_uses_a_forced_tool_and_validates(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.queue(tool_use(("emit_result", {"name": "orders", "score": 0.9})))
    result = rt.generate_object("default", "Judge the table", Verdict)
    assert result == Verdict(name="orders", score=0.9)
    body = api.bodies[0]
    assert body["tool_choice"] == {"type": "tool", "name": "emit_result"}
    assert body["tools"][0]["input_schema"]["properties"]["score"]["maximum"] == 1


def test_invalid_object_is_repaired_once_through_the_repair_role(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.queue(
        tool_use(("emit_result", {"name": "orders", "score": 7})),
        tool_use(("emit_result", {"name": "orders", "score": 0.7})),
    )
    assert rt.generate_object("default", "Judge", Verdict).score == 0.7
    assert [b["model"] for b in api.bodies] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    repair_prompt = api.bodies[1]["messages"][0]["content"][0]["text"]
    assert "score: Input should be less than or equal to 1" in repair_prompt
    api.queue(tool_use(("emit_result", {"name": 1})), tool_use(("emit_result", {"score": 2})))
    with pytest.raises(LlmError, match="even after repair"):
        rt.generate_object("default", "Judge", Verdict)


# --- agent loops -----------------------------------------------------------------------------


def test_loop_runs_tools_and_stops_naturally_with_metrics(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    calls: list[str] = []
    tools = [noop_tool("zeta_tool"), lookup_tool(calls), noop_tool("alpha_tool")]
    api.queue(tool_use(("lookup_table", {"table": "orders"}), say="Let me look."), text("orders has 3 columns."))
    records = []
    rt.on_call(records.append)
    result = rt.run_agent_loop("default", "You map tables.", "Describe orders", tools, step_budget=5)
    assert (result.stop_reason, result.error, result.final_text) == ("natural", None, "orders has 3 columns.")
    assert calls == ["orders"]
    assert result.metrics.step_count == 2 and len(result.metrics.step_boundaries_ms) == 2
    assert result.metrics.usage.output_tokens > 0
    first, second = api.bodies
    assert [t["name"] for t in first["tools"]] == ["alpha_tool", "lookup_table", "zeta_tool"]
    assert "cache_control" not in first["tools"][0] and first["tools"][-1]["cache_control"]["ttl"] == "1h"
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["content"] == "orders has 3 columns"
    assert tool_result["cache_control"]["ttl"] == "5m"
    assert second["messages"][1]["content"][0] == {"type": "text", "text": "Let me look."}
    assert records[-1].kind == "loop" and records[-1].steps == 2 and records[-1].stop_reason == "natural"


def test_tool_failures_are_results_the_model_sees(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    calls: list[str] = []
    api.queue(
        tool_use(("lookup_table", {"table": "orders"})),
        tool_use(("lookup_table", {"tabel": "typo"})),
        tool_use(("drop_everything", {})),
        text("giving up"),
    )
    result = rt.run_agent_loop("default", "s", "u", [lookup_tool(calls, fail=True)], step_budget=10)
    assert result.stop_reason == "natural"
    results = [b["messages"][-1]["content"][0] for b in api.bodies[1:]]
    assert all(r["is_error"] for r in results)
    assert results[0]["content"] == "Tool lookup_table failed: warehouse unreachable"
    assert "table: Field required" in results[1]["content"]
    assert results[2]["content"].startswith("Unknown tool: drop_everything")


def test_budget_stop(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.default = tool_use(("lookup_table", {"table": "t"}))
    result = rt.run_agent_loop("default", "s", "u", [lookup_tool([])], step_budget=3)
    assert result.stop_reason == "budget" and result.metrics.step_count == 3 and len(api.requests) == 3


def test_model_error_ends_the_loop_without_raising_and_redacts_the_key(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.queue(error(400, f"bad request for key {KEY}"))
    result = rt.run_agent_loop("default", "s", "u", [], step_budget=3)
    assert result.stop_reason == "error"
    assert result.error == "anthropic API error 400: bad request for key [redacted]"


def test_cancellation_raises_and_stops_streaming(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.queue({**text("slow " * 5), "delay": 0.3})
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    started = time.perf_counter()
    with pytest.raises(LlmCancelled):
        rt.run_agent_loop("default", "s", "u", [], step_budget=3, cancel=token)
    assert time.perf_counter() - started < 1.5


# --- rate limits and retries -----------------------------------------------------------------


def test_429_with_retry_after_pauses_then_succeeds(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    events = []
    rt.governor.subscribe(events.append)
    api.queue(error(429, "slow down", {"retry-after": "0.3"}), text("ok"))
    started = time.perf_counter()
    assert rt.generate_text("default", "x") == "ok"
    assert time.perf_counter() - started >= 0.25
    kinds = [e.kind for e in events]
    assert "wait_started" in kinds and "wait_finished" in kinds
    assert next(e for e in events if e.kind == "wait_started").data["provider"] == "anthropic-api"


def test_overloaded_and_server_errors_retry_then_give_up(api, tmp_path):
    rt = runtime_for(api, tmp_path, rate={"retry": {"maxAttempts": 3, "baseDelayMs": 10, "maxDelayMs": 20}})
    api.queue(error(529, "overloaded"), error(500, "boom"), text("finally"))
    assert rt.generate_text("default", "x") == "finally"
    api.queue(error(503), error(503), error(503))
    with pytest.raises(LlmError, match=r"gave up after 3 attempts"):
        rt.generate_text("default", "x")


def test_ratelimit_headers_reduce_and_restore_concurrency(api, tmp_path):
    config = KtxConfig.model_validate({"ingest": {"workUnits": {"maxConcurrency": 4}}})
    governor = RateLimitGovernor(config.ingest.rateLimit, max_concurrency=4)
    rt = runtime_for(api, tmp_path)
    rt.backend.governor = governor
    api.rate_limit_headers = {"anthropic-ratelimit-tokens-limit": "1000", "anthropic-ratelimit-tokens-remaining": "100"}
    rt.generate_text("default", "x")
    assert governor.effective_concurrency == 1
    api.rate_limit_headers = {"anthropic-ratelimit-tokens-limit": "1000", "anthropic-ratelimit-tokens-remaining": "900"}
    rt.generate_text("default", "x")
    assert governor.effective_concurrency == 4


# --- prompt caching --------------------------------------------------------------------------


def _markers(body):
    found = []
    for block in body.get("system") or []:
        if "cache_control" in block:
            found.append(("system", block["cache_control"]["ttl"]))
    for tool in body.get("tools") or []:
        if "cache_control" in tool:
            found.append(("tool", tool["cache_control"]["ttl"]))
    for message in body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if "cache_control" in part:
                found.append(("message", part["cache_control"]["ttl"]))
    return found


def test_cache_ttls_are_configurable_and_can_be_disabled(api, tmp_path):
    custom = runtime_for(
        api, tmp_path, llm_extra={"promptCaching": {"systemTtl": "5m", "toolsTtl": "5m", "historyTtl": "1h"}}
    )
    custom.run_agent_loop("default", "sys", "u", [lookup_tool([])], step_budget=1)
    assert _markers(api.bodies[-1]) == [("system", "5m"), ("tool", "5m"), ("message", "1h")]
    off = runtime_for(api, tmp_path, llm_extra={"promptCaching": {"enabled": False}})
    off.run_agent_loop("default", "sys", "u", [lookup_tool([])], step_budget=1)
    assert _markers(api.bodies[-1]) == []
    assert api.bodies[-1]["system"] == "sys"


def test_gateway_uses_anthropic_prefixed_ids_and_non_anthropic_ids_get_no_markers(api, tmp_path):
    rt = runtime_for(api, tmp_path, backend="gateway")
    rt.generate_text("default", "x", system="s")
    assert api.bodies[-1]["model"] == "anthropic/claude-sonnet-4-6"
    assert _markers(api.bodies[-1]) == [("system", "1h"), ("message", "5m")]
    other = runtime_for(api, tmp_path, backend="gateway", llm_extra={"models": {"default": "openai/gpt-5"}})
    other.generate_text("default", "x", system="s")
    assert _markers(api.bodies[-1]) == []


def test_cache_reads_accumulate_over_a_loop(api, tmp_path):
    rt = runtime_for(api, tmp_path)
    api.default = tool_use(("lookup_table", {"table": "t"}))
    result = rt.run_agent_loop("default", "A long system prompt. " * 50, "u", [lookup_tool([])], step_budget=4)
    assert result.metrics.usage.cache_read_tokens > 0 and result.metrics.usage.cache_write_tokens > 0


# --- vertex ----------------------------------------------------------------------------------


def test_vertex_goes_through_google_credentials_and_vertex_paths(api, tmp_path, monkeypatch):
    creds = service_account_file(tmp_path, f"{api.base_url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(creds))
    monkeypatch.setenv("ANTHROPIC_VERTEX_BASE_URL", f"{api.base_url}/v1")
    config_llm = {"provider": {"backend": "vertex", "vertex": {"project": "acme-ml", "location": "us-east5"}}}
    config = KtxConfig.model_validate(
        {
            "llm": {
                **config_llm,
                "models": {"default": "claude-sonnet-4-6"},
                "promptCaching": {"vertexFallbackTo5m": True},
            }
        }
    )
    rt = create_llm_runtime(config, tmp_path, env={})
    rt.generate_text("default", "x", system="s")
    request = api.requests[-1]
    assert (
        request["path"]
        == "/v1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-6:streamRawPredict"
    )
    assert request["headers"]["authorization"] == "Bearer fake-google-token"
    assert "anthropic-beta" not in request["headers"]
    assert _markers(request["body"]) == [("system", "5m"), ("message", "5m")]
    assert api.token_requests >= 1


def test_vertex_without_block_or_project_is_a_clear_error(tmp_path):
    config = KtxConfig.model_validate({"llm": {"provider": {"backend": "vertex"}, "models": {"default": "m"}}})
    with pytest.raises(LlmError, match=r"vertex\.location is required"):
        create_llm_runtime(config, tmp_path, env={})
    config = KtxConfig.model_validate(
        {"llm": {"provider": {"backend": "vertex", "vertex": {"location": "us-east5"}}, "models": {"default": "m"}}}
    )
    with pytest.raises(LlmError, match="Vertex project missing"):
        create_llm_runtime(config, tmp_path, env={})


# --- request recorder ------------------------------------------------------------------------


def test_request_recorder_writes_summaries_without_prompt_text(api, tmp_path):
    log = tmp_path / "requests.jsonl"
    rt = runtime_for(api, tmp_path, env={"KTX_LLM_REQUEST_LOG": str(log)})
    api.queue(tool_use(("lookup_table", {"table": "t"})), text("done"))
    rt.run_agent_loop(
        "default",
        "SECRET SYSTEM PROMPT",
        "SECRET USER PROMPT",
        [lookup_tool([])],
        step_budget=3,
        tags={"operationName": "ingest", "jobId": "job-1"},
    )
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["operationName"] == "ingest" and lines[0]["jobId"] == "job-1"
    assert lines[0]["modelRole"] == "default" and lines[0]["toolNames"] == ["lookup_table"]
    assert lines[1]["messageCount"] == 3
    assert {m["target"] for m in lines[0]["cacheMarkers"]} == {"system", "tool", "message-part"}
    text_dump = log.read_text()
    assert "SECRET" not in text_dump and KEY not in text_dump
