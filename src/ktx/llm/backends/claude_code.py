"""The claude-code backend: the local Claude Code login through the Claude Agent SDK.

Every call is isolated: no setting sources, skills or plugins, no built-in tools, only the
run's `mcp__ktx__<tool>` tools (served in process by an SDK MCP server named `ktx`), a
permission callback that denies anything else, no session persistence, and a child process
whose environment has the provider-routing variables removed so the subscription login is used.
The SDK's init message is checked before any work happens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ktx.llm.backends.launcher import checked_cli_override, env_launcher
from ktx.llm.governor import RateLimitGovernor, RateLimitSignal
from ktx.llm.port import LlmCancelled, LlmError, LoopResult, Usage
from ktx.llm.runtime import Backend, CallContext
from ktx.llm.sync import run_async
from ktx.tools import Tool

# Removed from the Claude Code child's environment so it uses the subscription login.
STRIPPED_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "CLOUD_ML_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_PROFILE",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)
DISALLOWED_BUILTINS = (
    "Agent",
    "Task",
    "AskUserQuestion",
    "Bash",
    "Read",
    "Edit",
    "Write",
    "Glob",
    "Grep",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
)
MODEL_ALIASES = {"sonnet": "claude-sonnet-4-6", "opus": "claude-opus-4-7", "haiku": "claude-haiku-4-5"}
_FULL_ID = re.compile(r"^claude-(sonnet|opus|haiku)-\d+(-\d+)?(-\d{8})?$")
_RATE_LIMITED = re.compile(r"\b429\b|rate limit|too many requests|quota exceeded|overloaded|max_retries", re.I)
CLI_OVERRIDE_ENV = "KTX_CLAUDE_CODE_CLI"
STRUCTURED_OUTPUT_TOOL = "StructuredOutput"


def resolve_claude_model(model: str) -> str:
    """Aliases `sonnet|opus|haiku` or a full `claude-*` id; anything else is an error."""
    value = model.strip()
    if value in MODEL_ALIASES:
        return MODEL_ALIASES[value]
    if _FULL_ID.match(value):
        return value
    raise LlmError(f'Unsupported Claude Code model "{model}". Use sonnet, opus, haiku, or a claude-* model id.')


def real_cli_path() -> str:
    """The Claude Code CLI: `KTX_CLAUDE_CODE_CLI`, else the SDK's bundled binary, else `claude` on PATH."""
    override = os.environ.get(CLI_OVERRIDE_ENV, "").strip()
    if override:
        return checked_cli_override(
            override, CLI_OVERRIDE_ENV, "Claude Code", "the bundled CLI (pip install 'ktx-context[claude-code]')"
        )
    try:
        import claude_agent_sdk

        bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("claude")
    if found:
        return found
    raise LlmError(
        "Claude Code CLI not found.",
        hint="Install the claude-code extra (pip install 'ktx-context[claude-code]'), which bundles it.",
    )


def child_environment(parent: dict[str, str]) -> dict[str, str]:
    """What the Claude Code process sees: the parent environment minus STRIPPED_ENV."""
    return {k: v for k, v in parent.items() if k not in STRIPPED_ENV}


def _reset_ms(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)):
        number = float(value)
        return number * 1000 if number < 1e10 else number
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


class IsolationError(LlmError):
    """The Claude Code run could execute tools or MCP servers ktx did not grant: never an auth problem."""


class ClaudeCodeBackend(Backend):
    name = "claude-code"

    def __init__(self, project_dir: Path, governor: RateLimitGovernor | None = None) -> None:
        self.project_dir = project_dir
        self.governor = governor

    # --- options and isolation -----------------------------------------------------------

    def _options(
        self,
        ctx: CallContext,
        *,
        tools: Sequence[Tool],
        max_turns: int,
        system: str | None,
        output_schema: dict[str, Any] | None,
        stderr_lines: list[str],
    ) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions, HookMatcher

        allowed = [f"mcp__ktx__{t.name}" for t in tools]
        allowed_set = set(allowed)

        # A PreToolUse hook sees every tool call before any permission rule, so it is the gate: ktx's own tools
        # pass (and are pre-approved by allowed_tools), anything else is denied with a reason the model reads.
        # A can_use_tool callback would never be consulted for the pre-approved tools (the SDK warns about it).
        async def gate(hook_input: Any, _tool_use_id: str | None, _context: Any) -> dict[str, Any]:
            tool_name = (hook_input or {}).get("tool_name", "")
            if tool_name in allowed_set:
                return {}
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": (
                        f"ktx claude-code runtime only permits current ktx MCP tools; denied {tool_name}."
                    ),
                }
            }

        settings = {
            "allowManagedMcpServersOnly": True,
            "allowedMcpServers": [{"serverName": "ktx"}] if tools else [],
        }
        options: dict[str, Any] = {
            "cwd": str(self.project_dir),
            "model": resolve_claude_model(ctx.model),
            "max_turns": max_turns,
            "setting_sources": [],
            "skills": [],
            "plugins": [],
            "tools": [],
            "permission_mode": "dontAsk",
            "disallowed_tools": list(DISALLOWED_BUILTINS),
            "allowed_tools": allowed,
            "strict_mcp_config": True,
            "settings": json.dumps(settings),
            "hooks": {"PreToolUse": [HookMatcher(matcher=None, hooks=[gate])]},
            "mcp_servers": {"ktx": _sdk_server(tools)} if tools else {},
            "cli_path": str(env_launcher(real_cli_path(), strip=STRIPPED_ENV)),
            "extra_args": {"no-session-persistence": None},
            "stderr": stderr_lines.append,
        }
        if system is not None:
            options["system_prompt"] = system
        if output_schema is not None:
            options["output_format"] = {"type": "json_schema", "schema": output_schema}
        return ClaudeAgentOptions(**options)

    @staticmethod
    def check_isolation(data: dict[str, Any], expected_tools: set[str], with_tools: bool) -> None:
        """Fail closed when the run could execute anything ktx did not pass (tools, MCP servers).

        Host plugins, slash commands, skills and subagents listed in the init message are metadata: the run has
        no tool through which to execute them, so they are reported (in the failure text) but never fatal.
        """
        tools = set(data.get("tools") or [])
        servers = [s.get("name") if isinstance(s, dict) else str(s) for s in data.get("mcp_servers") or []]
        plugins = data.get("plugins") or []
        unexpected = sorted(tools - expected_tools)
        missing = sorted(expected_tools - tools)
        foreign = sorted(s for s in servers if s != "ktx")
        missing_servers = ["ktx"] if with_tools and "ktx" not in servers else []
        if unexpected or missing or foreign or missing_servers:
            raise IsolationError(
                "Claude Code runtime isolation failed: "
                f"tools={','.join(unexpected) or '-'} missing_tools={','.join(missing) or '-'} "
                f"mcp_servers={','.join(foreign) or '-'} missing_mcp_servers={','.join(missing_servers) or '-'} "
                f"plugins={len(plugins)} host_slash_commands={len(data.get('slash_commands') or [])} "
                f"host_skills={len(data.get('skills') or [])} host_agents={len(data.get('agents') or [])}"
            )

    # --- one query, with rate-limit retries ----------------------------------------------

    def _query(
        self,
        ctx: CallContext,
        prompt: str,
        *,
        tools: Sequence[Tool] = (),
        max_turns: int,
        system: str | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> tuple[Any, float]:
        attempts = self.governor.max_retry_attempts() if self.governor else 1
        for attempt in range(attempts):
            if self.governor is not None:
                self.governor.wait_for_ready(ctx.cancel)
            started = time.perf_counter()
            result, rejected = run_async(lambda: self._query_once(ctx, prompt, tools, max_turns, system, output_schema))
            limited = result.is_error and (rejected or _RATE_LIMITED.search(_result_text(result)))
            if not limited or attempt == attempts - 1:
                return result, (time.perf_counter() - started) * 1000
            if self.governor is not None and not rejected:
                self.governor.report(RateLimitSignal("claude-subscription", "rejected", rate_limit_type="opaque"))
        raise AssertionError("unreachable")

    async def _query_once(
        self,
        ctx: CallContext,
        prompt: str,
        tools: Sequence[Tool],
        max_turns: int,
        system: str | None,
        output_schema: dict[str, Any] | None,
    ) -> tuple[Any, bool]:
        from claude_agent_sdk import RateLimitEvent, ResultMessage, SystemMessage, query

        stderr_lines: list[str] = []
        options = self._options(
            ctx, tools=tools, max_turns=max_turns, system=system, output_schema=output_schema, stderr_lines=stderr_lines
        )
        expected = {f"mcp__ktx__{t.name}" for t in tools}
        if output_schema is not None:
            expected.add(STRUCTURED_OUTPUT_TOOL)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            yield {"type": "user", "message": {"role": "user", "content": prompt}, "parent_tool_use_id": None}

        result = None
        rejected = False
        stream = query(prompt=messages(), options=options)
        try:
            async for message in stream:
                if ctx.cancel is not None and ctx.cancel.cancelled:
                    raise LlmCancelled("cancelled")
                if isinstance(message, SystemMessage):
                    if message.subtype == "init":
                        self.check_isolation(message.data, expected, bool(tools))
                    elif message.subtype == "api_retry" or message.data.get("type") == "api_retry":
                        self._report(
                            RateLimitSignal(
                                "claude-subscription",
                                "warning",
                                retry_after_ms=message.data.get("retry_delay_ms"),
                                rate_limit_type="api_retry",
                            )
                        )
                elif isinstance(message, RateLimitEvent):
                    rejected |= self._rate_limit_event(message)
                elif isinstance(message, ResultMessage):
                    result = message
        except LlmError:
            raise
        except LlmCancelled:
            raise
        except Exception as exc:
            if type(exc).__name__ == "CLINotFoundError":
                raise LlmError(
                    "Claude Code CLI not found or not executable.",
                    hint="Install the claude-code extra (pip install 'ktx-context[claude-code]'), which bundles it, "
                    "or set the path to a working `claude` binary.",
                ) from None
            detail = str(exc).strip() or type(exc).__name__
            tail = " ".join(stderr_lines[-3:]).strip()
            raise LlmError(f"Claude Code query failed: {detail}{' — ' + tail if tail else ''}") from None
        finally:
            await stream.aclose()
        if result is None:
            raise LlmError("Claude Code query returned no result message")
        return result, rejected

    def _report(self, signal: RateLimitSignal) -> None:
        if self.governor is not None:
            self.governor.report(signal)

    def _rate_limit_event(self, event: Any) -> bool:
        info = event.rate_limit_info
        status_raw = getattr(info, "status", None)
        status = {"rejected": "rejected", "allowed_warning": "warning"}.get(status_raw, "allowed")
        self._report(
            RateLimitSignal(
                "claude-subscription",
                status,  # type: ignore[arg-type]
                reset_at_ms=_reset_ms(getattr(info, "resets_at", None)),
                utilization=getattr(info, "utilization", None),
                rate_limit_type=getattr(info, "rate_limit_type", None),
            )
        )
        return status == "rejected"

    # --- operations ----------------------------------------------------------------------

    def generate_text(self, ctx: CallContext, prompt: str, system: str | None) -> tuple[str, Usage]:
        result, _ = self._query(ctx, _joined(system, prompt), max_turns=1)
        _raise_unless_success(result)
        return result.result or "", _usage(result)

    def generate_json(
        self, ctx: CallContext, prompt: str, system: str | None, schema: dict[str, Any]
    ) -> tuple[Any, Usage]:
        result, _ = self._query(ctx, _joined(system, prompt), max_turns=5, output_schema=schema)
        _raise_unless_success(result)
        value = result.structured_output if result.structured_output is not None else (result.result or "")
        return value, _usage(result)

    def run_agent_loop(
        self, ctx: CallContext, system: str, user: str, tools: Sequence[Tool], step_budget: int
    ) -> LoopResult:
        started = time.perf_counter()
        loop = LoopResult("natural")
        try:
            result, _ = self._query(ctx, user, tools=tools, max_turns=step_budget, system=system)
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except LlmError as exc:
            loop.stop_reason, loop.error = "error", exc.message
            loop.metrics.total_ms = (time.perf_counter() - started) * 1000
            return loop
        loop.metrics.step_count = result.num_turns or 0
        loop.metrics.usage = _usage(result)
        loop.metrics.step_usage = []
        loop.final_text = result.result or ""
        terminal = getattr(result, "stop_reason", None)
        if result.subtype == "error_max_turns" or terminal == "max_turns":
            loop.stop_reason = "budget"
        elif result.subtype == "success" and not result.is_error:
            loop.stop_reason = "natural"
        else:
            loop.stop_reason, loop.error = "error", _failure(result)
        loop.metrics.total_ms = (time.perf_counter() - started) * 1000
        return loop


def _sdk_server(tools: Sequence[Tool]) -> Any:
    """An in-process MCP server named `ktx` exposing exactly the run's tools."""
    import anyio
    from claude_agent_sdk import SdkMcpTool, create_sdk_mcp_server

    def adapt(tool: Tool) -> Any:
        async def handler(arguments: dict[str, Any]) -> dict[str, Any]:
            try:
                output = await anyio.to_thread.run_sync(tool.call, arguments)
            except Exception as exc:  # the model sees tool failures as error results
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                return {"content": [{"type": "text", "text": f"Tool {tool.name} failed: {message}"}], "is_error": True}
            return {"content": [{"type": "text", "text": output.markdown}]}

        return SdkMcpTool(
            name=tool.name, description=tool.description, input_schema=tool.input_schema(), handler=handler
        )

    return create_sdk_mcp_server(name="ktx", version="1.0.0", tools=[adapt(t) for t in tools])


def _joined(system: str | None, prompt: str) -> str:
    return f"{system}\n\n{prompt}" if system else prompt


def _usage(result: Any) -> Usage:
    usage = result.usage or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
    )


def _result_text(result: Any) -> str:
    parts = [result.result or "", getattr(result, "stop_reason", None) or "", *(result.errors or [])]
    return " ".join(str(p) for p in parts)


def _failure(result: Any) -> str:
    errors = "; ".join(result.errors or [])
    message = f"Claude Code query failed ({result.subtype})"
    if errors:
        message += f": {errors}"
    elif result.is_error and result.result:
        message += f": {result.result}"
    return message


def _raise_unless_success(result: Any) -> None:
    if result.subtype != "success" or result.is_error:
        raise LlmError(_failure(result))


def probe(project_dir: Path, model: str) -> tuple[bool, str]:
    """One isolated, tool-less turn: `Reply with exactly: ok`. (ok, message)."""
    try:
        resolved = resolve_claude_model(model)
    except LlmError as exc:
        return False, exc.message
    backend = ClaudeCodeBackend(project_dir, governor=None)
    try:
        _bounded_probe(lambda: backend.generate_text(CallContext("default", resolved), "Reply with exactly: ok", None))
    except IsolationError as exc:
        return False, exc.message
    except LlmError as exc:
        if exc.hint:  # the CLI is missing: its own message and fix, not an authentication problem
            return False, f"{exc.message} {exc.hint}"
        return False, (
            "Claude Code authentication is not usable. Authenticate Claude Code locally with the Claude Code CLI, "
            f"then rerun setup or the command. {exc.message}"
        )
    return True, "local Claude Code session authenticated"


PROBE_TIMEOUT_S = 60.0


def _bounded_probe(call: Any) -> Any:
    """A probe that never hangs: past PROBE_TIMEOUT_S it fails with what it waited for."""
    from ktx.llm.sync import run_with_deadline

    return run_with_deadline(
        call,
        PROBE_TIMEOUT_S,
        f"Claude Code did not answer the probe ('Reply with exactly: ok') within {PROBE_TIMEOUT_S:.0f} s",
    )


def build_backend(config: Any, base_dir: Path, env: Any, governor: RateLimitGovernor) -> ClaudeCodeBackend:
    """The registry's factory: the local CLI session needs no keys, only the project directory."""
    return ClaudeCodeBackend(base_dir, governor)
