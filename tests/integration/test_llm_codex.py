"""The codex backend through the real openai-codex SDK, with `codex app-server` replaced at the
process boundary by a stand-in that speaks the SDK's JSON-RPC and calls ktx tools over the
run's loopback MCP server, bearer token included."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

pytest.importorskip("openai_codex")

from ktx.llm.backends.codex import ENV_ALLOWLIST, TOKEN_ENV, CodexBackend, probe, resolve_codex_model
from ktx.llm.governor import RateLimitGovernor
from ktx.llm.port import LlmError
from ktx.llm.runtime import LlmRuntime
from ktx.project.config import RateLimitConfig
from ktx.tools import Tool, ToolOutput
from tests.fakes.harness import FakeCodex


@pytest.fixture
def fake(tmp_path, monkeypatch):
    f = FakeCodex(tmp_path)
    for key, value in f.env.items():
        monkeypatch.setenv(key, value)
    return f


def runtime(tmp_path, governor=None) -> LlmRuntime:
    models = dict.fromkeys(("default", "triage", "candidateExtraction", "curator", "reconcile", "repair"), "gpt-5.5")
    return LlmRuntime(CodexBackend(tmp_path, governor), models, governor=governor)


class Lookup(BaseModel):
    table: str


def lookup(calls: list[str]) -> Tool:
    def handler(args: Lookup) -> ToolOutput:
        calls.append(args.table)
        return ToolOutput(f"{args.table}: 3 columns", {"columns": 3})

    return Tool("lookup_table", "Describe a table", Lookup, handler)


def test_models():
    assert resolve_codex_model("codex") == resolve_codex_model("default") == "gpt-5.5"
    assert resolve_codex_model("gpt-5.5-mini") == "gpt-5.5-mini" and resolve_codex_model("codex-mini") == "codex-mini"
    with pytest.raises(LlmError, match='Unsupported Codex model "claude-x". Use codex, default, or a gpt-'):
        resolve_codex_model("claude-x")


def test_text_options_and_environment_allowlist(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-allowed")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-allowed")
    monkeypatch.setenv("KTX_SOMETHING", "not-allowed")
    fake.script_runs({"items": [{"type": "message", "text": "ok"}]})
    assert runtime(tmp_path).generate_text("default", "Reply ok", system="Be brief.") == "ok"
    (run,) = fake.runs()
    # PWD, SHLVL and _ come from the wrapper sh, FAKE_CODEX_DIR from the wrapper, LC_CTYPE from the
    # stand-in Python interpreter's own locale coercion (PEP 538).
    assert set(run["env"]) - {"PWD", "SHLVL", "_", "FAKE_CODEX_DIR", "LC_CTYPE"} <= set(ENV_ALLOWLIST)
    assert run["env"]["OPENAI_API_KEY"] == "sk-allowed" and "PATH" in run["env"]
    assert TOKEN_ENV not in run["env"]  # no tools: no MCP server, no token
    config = run["config"]
    assert config == {"history.persistence": "none", "web_search": "disabled"}
    assert (run["command"], run["listen"]) == (["app-server"], "stdio://")
    thread = next(r for r in run["requests"] if r["method"] == "thread/start")["params"]
    assert (thread["approvalPolicy"], thread["model"], thread["ephemeral"]) == ("never", "gpt-5.5", True)
    assert thread["sandbox"] == "read-only"
    turn = next(r for r in run["requests"] if r["method"] == "turn/start")["params"]
    assert turn["input"][0]["text"] == "Be brief.\n\nReply ok"


def test_agent_loop_calls_ktx_tools_over_loopback_mcp_with_the_token(fake, tmp_path):
    calls: list[str] = []
    fake.script_runs(
        {
            "items": [
                {"type": "mcp", "tool": "lookup_table", "arguments": {"table": "orders"}},
                {"type": "mcp_without_token", "tool": "lookup_table", "arguments": {"table": "stolen"}},
                {"type": "command", "command": "ls", "exit_code": 1},
                {"type": "message", "text": "orders has 3 columns"},
            ]
        }
    )
    result = runtime(tmp_path).run_agent_loop(
        "default", "You map tables.", "Describe orders", [lookup(calls)], step_budget=10
    )
    assert calls == ["orders"]  # the call without the token never reached the tool
    (run,) = fake.runs()
    with_token, without_token = run["mcp_calls"]
    assert with_token["with_token"] and with_token["http_status"] == 200
    assert with_token["body"]["result"]["content"][0]["text"] == "orders: 3 columns"
    assert with_token["body"]["result"]["structuredContent"] == {"columns": 3}
    assert not without_token["with_token"] and without_token["http_status"] == 401
    # the refused call is reported back as a failed tool item, so the loop surfaces it
    assert result.stop_reason == "error" and result.error.startswith("Codex runtime tool call failed: lookup_table:")
    assert result.final_text == "orders has 3 columns" and result.metrics.step_count == 3
    assert result.metrics.usage.cache_read_tokens == 60 and result.metrics.usage.input_tokens == 40
    config = run["config"]
    assert config["mcp_servers.ktx.url"].startswith("http://127.0.0.1:") and config["mcp_servers.ktx.url"].endswith(
        "/mcp"
    )
    assert config["mcp_servers.ktx.bearer_token_env_var"] == TOKEN_ENV
    assert config["mcp_servers.ktx.enabled_tools"] == ["lookup_table"]
    assert (
        config["mcp_servers.ktx.default_tools_approval_mode"] == "approve"
        and config["mcp_servers.ktx.required"] is True
    )
    assert len(run["env"][TOKEN_ENV]) == 64
    assert TOKEN_ENV not in __import__("os").environ  # the parent environment is untouched


def test_successful_mcp_items_with_null_error_are_not_failures(fake, tmp_path):
    fake.script_runs(
        {
            "items": [
                {"type": "mcp", "tool": "lookup_table", "arguments": {"table": "orders"}},
                {"type": "message", "text": "done"},
            ]
        }
    )
    result = runtime(tmp_path).run_agent_loop("default", "s", "u", [lookup([])], step_budget=5)
    assert (result.stop_reason, result.error, result.metrics.step_count) == ("natural", None, 1)


def test_budget_interrupts_the_turn_while_streaming(fake, tmp_path):
    fake.script_runs(
        {
            "items": [
                {"type": "mcp", "tool": "lookup_table", "arguments": {"table": f"t{i}"}, "delay": 0.05}
                for i in range(6)
            ]
            + [{"type": "message", "text": "never"}]
        }
    )
    calls: list[str] = []
    result = runtime(tmp_path).run_agent_loop("default", "s", "u", [lookup(calls)], step_budget=2)
    assert result.stop_reason == "budget" and result.error is None and result.metrics.step_count == 2
    assert fake.runs()[0].get("interrupted") is True and len(calls) < 6


def test_failed_turn_unwraps_error_envelopes(fake, tmp_path):
    envelope = json.dumps({"type": "error", "status": 400, "error": {"message": "The model does not exist"}})
    fake.script_runs({"items": [], "turn_error": envelope})
    with pytest.raises(LlmError, match="^The model does not exist$"):
        runtime(tmp_path).generate_text("default", "x")


class Verdict(BaseModel):
    name: str
    score: float


def test_structured_output_sends_a_closed_schema_and_validates(fake, tmp_path):
    fake.script_runs({"items": [{"type": "message", "text": json.dumps({"name": "orders", "score": 0.5})}]})
    assert runtime(tmp_path).generate_object("default", "Judge", Verdict) == Verdict(name="orders", score=0.5)
    turn = next(r for r in fake.runs()[0]["requests"] if r["method"] == "turn/start")["params"]
    assert turn["outputSchema"]["additionalProperties"] is False


def test_rate_limits_retry_through_the_governor(fake, tmp_path):
    fake.script_runs(
        {"items": [], "turn_error": "429 Too Many Requests"}, {"items": [{"type": "message", "text": "ok"}]}
    )
    governor = RateLimitGovernor(RateLimitConfig.model_validate({"retry": {"baseDelayMs": 10, "jitter": False}}))
    events = []
    governor.subscribe(events.append)
    assert runtime(tmp_path, governor).generate_text("default", "x") == "ok"
    assert len(fake.runs()) == 2
    assert any(e.kind == "rate_limit_observed" and e.data["provider"] == "codex" for e in events)


def test_probe_separates_model_from_auth(fake, tmp_path):
    fake.script_runs({"items": [{"type": "message", "text": "ok"}]})
    assert probe(tmp_path, "codex").ok
    fake.script_runs(
        {"items": [], "turn_error": "The 'gpt-5.5' model is not supported when using Codex with a ChatGPT account."}
    )
    model = probe(tmp_path, "codex")
    assert not model.ok and model.message.startswith(
        'Codex is authenticated, but the configured model "gpt-5.5" is not available for this Codex account.'
    )
    assert "Run `codex` to see the models" in model.fix
    fake.script_runs({"fail_initialize": "Not logged in. Run codex login."})
    auth = probe(tmp_path, "codex")
    assert not auth.ok and auth.message.startswith("Codex authentication is not usable.")
    assert "Not logged in" in auth.message
    bad = probe(tmp_path, "llama")
    assert not bad.ok and bad.message.startswith('Unsupported Codex model "llama"')
