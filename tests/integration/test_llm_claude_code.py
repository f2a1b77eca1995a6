"""The claude-code backend through the real claude-agent-sdk, with the Claude Code CLI replaced
at the process boundary by a stand-in that speaks the SDK's stream-json control protocol."""

from __future__ import annotations

import os
import warnings

import pytest
from pydantic import BaseModel

pytest.importorskip("claude_agent_sdk")

from ktx.llm.backends.claude_code import STRIPPED_ENV, ClaudeCodeBackend, probe, resolve_claude_model
from ktx.llm.governor import RateLimitGovernor
from ktx.llm.port import LlmError
from ktx.llm.runtime import LlmRuntime
from ktx.project.config import RateLimitConfig
from ktx.tools import Tool, ToolOutput
from tests.fakes.harness import FakeClaude


@pytest.fixture
def fake(tmp_path, monkeypatch):
    f = FakeClaude(tmp_path)
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(f.cli))
    return f


def runtime(tmp_path, governor=None) -> LlmRuntime:
    models = {r: "sonnet" for r in ("default", "triage", "candidateExtraction", "curator", "reconcile", "repair")}
    models["triage"] = "haiku"
    return LlmRuntime(ClaudeCodeBackend(tmp_path, governor), models, governor=governor)


class Lookup(BaseModel):
    table: str


def lookup(calls: list[str]) -> Tool:
    def handler(args: Lookup) -> ToolOutput:
        calls.append(args.table)
        if args.table == "boom":
            raise RuntimeError("warehouse unreachable")
        return ToolOutput(f"{args.table}: 3 columns")

    return Tool("lookup_table", "Describe a table", Lookup, handler)


def test_models_aliases_and_rejections():
    assert resolve_claude_model("sonnet") == "claude-sonnet-4-6"
    assert resolve_claude_model("opus") == "claude-opus-4-7"
    assert resolve_claude_model("claude-haiku-4-5") == "claude-haiku-4-5"
    assert resolve_claude_model("claude-opus-4-7-20260101") == "claude-opus-4-7-20260101"
    with pytest.raises(LlmError, match='Unsupported Claude Code model "gpt-5". Use sonnet, opus, haiku, or a claude'):
        resolve_claude_model("gpt-5")


def test_text_strips_exactly_the_provider_variables_and_sends_isolation_options(fake, tmp_path, monkeypatch):
    for key in STRIPPED_ENV:
        monkeypatch.setenv(key, "should-not-pass")
    monkeypatch.setenv("KTX_KEEP_ME", "passes")
    fake.script_runs({"turns": [{"text": "ok"}]})
    assert runtime(tmp_path).generate_text("triage", "Reply ok", system="Be brief.") == "ok"
    (run,) = fake.runs()
    assert not set(STRIPPED_ENV) & set(run["env"])
    assert run["env"]["KTX_KEEP_ME"] == "passes" and "PATH" in run["env"] and "HOME" in run["env"]
    assert run["model"] == "claude-haiku-4-5"
    assert run["max_turns"] == 1
    assert run["tools"] == []  # no built-in tools at all
    assert run["permission_mode"] == "dontAsk"
    assert {"--strict-mcp-config", "--no-session-persistence"} <= set(run["flags"])
    assert run["setting_sources"] == []  # no user, project or local settings are read
    assert {"Bash", "Read", "Edit", "Write", "WebFetch", "WebSearch", "Agent", "Task"} <= set(run["disallowed_tools"])
    assert run["settings"] == {"allowManagedMcpServersOnly": True, "allowedMcpServers": []}
    assert run["mcp_servers"] == {}
    assert run["prompt"] == "Be brief.\n\nReply ok"
    assert run["initialize"]["skills"] == []


def test_agent_loop_calls_ktx_tools_in_process_and_denies_everything_else(fake, tmp_path):
    calls: list[str] = []
    fake.script_runs(
        {
            "turns": [
                {"text": "checking", "tool_calls": [{"name": "mcp__ktx__lookup_table", "input": {"table": "orders"}}]},
                {"tool_calls": [{"name": "Bash", "input": {"command": "rm -rf /"}}]},
                {"tool_calls": [{"name": "mcp__ktx__lookup_table", "input": {"table": "boom"}}]},
                {"text": "orders has 3 columns"},
            ]
        }
    )
    rt = runtime(tmp_path)
    from claude_agent_sdk.types import CanUseToolShadowedWarning

    with warnings.catch_warnings():
        # The SDK warns when an allow rule would bypass a permission callback; ktx's gate is a hook instead.
        warnings.simplefilter("error", CanUseToolShadowedWarning)
        result = rt.run_agent_loop("default", "You map tables.", "Describe orders", [lookup(calls)], step_budget=10)
    assert (result.stop_reason, result.final_text, result.metrics.step_count) == ("natural", "orders has 3 columns", 4)
    assert result.metrics.usage.input_tokens == 120 and result.metrics.usage.cache_read_tokens == 80
    assert calls == ["orders", "boom"]
    (run,) = fake.runs()
    assert run["tool_results"][0] == {"name": "mcp__ktx__lookup_table", "is_error": False, "text": "orders: 3 columns"}
    assert run["tool_results"][1] == {
        "name": "Bash",
        "is_error": True,
        "text": "ktx claude-code runtime only permits current ktx MCP tools; denied Bash.",
    }
    assert run["tool_results"][2]["is_error"] and "warehouse unreachable" in run["tool_results"][2]["text"]
    assert run["allowed_tools"] == ["mcp__ktx__lookup_table"]
    assert run["mcp_servers"] == {"ktx": {"type": "sdk", "name": "ktx"}}
    assert run["system_prompt"] == "You map tables."
    assert run["max_turns"] == 10
    assert [t["name"] for t in run["mcp_tools"]] == ["lookup_table"]
    # every call went through ktx's PreToolUse gate, which only said no to the built-in tool
    assert [(h["tool"], bool(h["output"])) for h in run["hook_calls"]] == [
        ("mcp__ktx__lookup_table", False),
        ("Bash", True),
        ("mcp__ktx__lookup_table", False),
    ]
    assert run["prompt"] == "Describe orders"


def test_budget_is_max_turns(fake, tmp_path):
    fake.script_runs({"turns": [{"tool_calls": [{"name": "mcp__ktx__lookup_table", "input": {"table": "t"}}]}] * 5})
    result = runtime(tmp_path).run_agent_loop("default", "s", "u", [lookup([])], step_budget=2)
    assert result.stop_reason == "budget" and result.metrics.step_count == 2


@pytest.mark.parametrize(
    ("init", "fragment"),
    [
        ({"extra_tools": ["Bash"]}, "tools=Bash"),
        ({"extra_mcp_servers": [{"name": "github", "status": "connected"}]}, "mcp_servers=github"),
    ],
)
def test_isolation_failures_are_fatal(fake, tmp_path, init, fragment):
    fake.script_runs({"init": init, "turns": [{"text": "should not matter"}]})
    result = runtime(tmp_path).run_agent_loop("default", "s", "u", [lookup([])], step_budget=3)
    assert result.stop_reason == "error"
    assert result.error.startswith("Claude Code runtime isolation failed:") and fragment in result.error


def test_host_plugins_commands_skills_and_agents_are_reported_not_fatal(fake, tmp_path):
    init = {"slash_commands": ["review"], "skills": ["pdf"], "agents": ["helper"], "plugins": [{"name": "p"}]}
    fake.script_runs({"init": init, "turns": [{"text": "fine"}]})
    assert runtime(tmp_path).generate_text("default", "x") == "fine"


class Verdict(BaseModel):
    name: str
    score: float


def test_structured_output(fake, tmp_path):
    fake.script_runs({"turns": [{"text": ""}], "structured_output": {"name": "orders", "score": 0.8}})
    assert runtime(tmp_path).generate_object("default", "Judge", Verdict) == Verdict(name="orders", score=0.8)
    (run,) = fake.runs()
    assert run["json_schema"]["required"] == ["name", "score"]
    assert run["max_turns"] == 5


def test_failed_result_is_an_error_with_details(fake, tmp_path):
    fake.script_runs(
        {
            "turns": [{"text": ""}],
            "result": {"subtype": "error_during_execution", "is_error": True, "errors": ["model overloaded?"]},
        }
    )
    with pytest.raises(LlmError, match=r"Claude Code query failed \(error_during_execution\): model overloaded\?"):
        runtime(tmp_path).generate_text("default", "x")


def test_rate_limited_results_are_retried_through_the_governor(fake, tmp_path):
    reset = 1  # seconds since epoch: already past, so the pause is immediate
    fake.script_runs(
        {
            "turns": [{"text": ""}],
            "rate_limit_event": {"status": "rejected", "resetsAt": reset, "rateLimitType": "five_hour"},
            "result": {"subtype": "success", "is_error": True, "result": "API Error: 429 rate limit"},
        },
        {"turns": [{"text": "recovered"}]},
    )
    governor = RateLimitGovernor(RateLimitConfig())
    events = []
    governor.subscribe(events.append)
    assert runtime(tmp_path, governor).generate_text("default", "x") == "recovered"
    assert len(fake.runs()) == 2
    observed = [e.data for e in events if e.kind == "rate_limit_observed"]
    assert observed[0]["provider"] == "claude-subscription" and observed[0]["status"] == "rejected"
    assert observed[0]["type"] == "five_hour"


def test_probe_success_and_failure(fake, tmp_path):
    fake.script_runs({"turns": [{"text": "ok"}]})
    assert probe(tmp_path, "sonnet") == (True, "local Claude Code session authenticated")
    fake.script_runs(
        {
            "turns": [{"text": ""}],
            "result": {"subtype": "success", "is_error": True, "result": "Invalid API key · Please run /login"},
        }
    )
    ok, message = probe(tmp_path, "sonnet")
    assert not ok and message.startswith("Claude Code authentication is not usable.") and "Please run /login" in message
    assert probe(tmp_path, "gpt-5") == (
        False,
        'Unsupported Claude Code model "gpt-5". Use sonnet, opus, haiku, or a claude-* model id.',
    )


def test_missing_cli_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(tmp_path / "nope"))
    with pytest.raises(LlmError):
        runtime(tmp_path).generate_text("default", "x")
    assert os.environ["KTX_CLAUDE_CODE_CLI"]


def test_cancellation_stops_the_run(fake, tmp_path):
    import threading
    import time

    from ktx.llm.port import CancelToken, LlmCancelled

    fake.script_runs({"turns": [{"text": f"step {i}", "delay": 0.3} for i in range(20)]})
    token = CancelToken()
    threading.Timer(0.5, token.cancel).start()
    started = time.perf_counter()
    with pytest.raises(LlmCancelled):
        runtime(tmp_path).run_agent_loop("default", "s", "u", [], step_budget=30, cancel=token)
    assert time.perf_counter() - started < 4
