"""The codex backend: the local Codex login through the Codex SDK (`openai-codex`, app-server).

Per call: a read-only sandbox, `approval_policy=never`, web search disabled, no history
persistence, an environment reduced to an allowlist, and — when the call has tools — a per-run
loopback MCP server registered as `mcp_servers.ktx` with only the run's tools, auto-approved and
required, whose bearer token reaches Codex only through the child's environment.

Isolation is limited by what the Codex SDK and CLI expose: Codex may still load the user's own
Codex config and its built-in command execution or read-only file capabilities.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.llm.backends.launcher import checked_cli_override, env_launcher
from ktx.llm.backends.runtime_mcp import RuntimeMcpServer
from ktx.llm.governor import RateLimitGovernor, RateLimitSignal
from ktx.llm.port import LlmCancelled, LlmError, LoopResult, Usage
from ktx.llm.runtime import Backend, CallContext
from ktx.llm.sync import run_with_deadline
from ktx.tools import Tool

TOKEN_ENV = "KTX_CODEX_RUNTIME_MCP_TOKEN"
ENV_ALLOWLIST = (
    "HOME",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "XDG_CONFIG_HOME",
    "CODEX_HOME",
    "CODEX_API_KEY",
    "OPENAI_API_KEY",
    "PATH",
    "Path",
    "SYSTEMROOT",
    "COMSPEC",
    "TMPDIR",
    "TMP",
    "TEMP",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    TOKEN_ENV,
)
CLI_OVERRIDE_ENV = "KTX_CODEX_CLI"
DEFAULT_MODEL = "gpt-5.5"
_MODEL_ID = re.compile(r"^(gpt|codex)-[a-z0-9][a-z0-9._-]*$", re.I)
_ACTION_ITEMS = {"commandExecution", "mcpToolCall", "fileChange", "webSearch"}
_RATE_LIMITED = re.compile(r"\b429\b|rate limit|too many requests|quota exceeded|temporarily overloaded", re.I)
_MODEL_UNAVAILABLE = re.compile(
    r"\bnot supported\b|\bnot available\b|\bdoes not "
    r"exist\b|invalid_request_error|\bunknown model\b|\bunsupported model\b",
    re.I,
)
ISOLATION_WARNING = (
    "Codex backend isolation is limited by the public Codex SDK/CLI surface: ktx restricts the runtime MCP server "
    "to the current ktx tool set, disables Codex web search, asks for a read-only sandbox, and sets "
    "approval_policy=never, but Codex may still load user Codex config and built-in command execution or "
    "read-only file capabilities."
)
ISOLATION_FIX = (
    "Use llm.provider.backend: claude-code when you need stricter Claude-Code-style runtime tool isolation, or "
    "remove host Codex MCP/tool config before running untrusted prompts through the codex backend."
)


def resolve_codex_model(model: str) -> str:
    value = model.strip()
    if value.lower() in ("codex", "default"):
        return DEFAULT_MODEL
    if _MODEL_ID.match(value):
        return value
    raise LlmError(f'Unsupported Codex model "{model}". Use codex, default, or a gpt-* / codex-* model id.')


def real_codex_path() -> str:
    import os
    import shutil

    override = os.environ.get(CLI_OVERRIDE_ENV, "").strip()
    if override:
        return checked_cli_override(
            override, CLI_OVERRIDE_ENV, "Codex", "the bundled CLI (pip install 'ktx-context[codex]')"
        )
    try:
        from codex_cli_bin import bundled_codex_path

        return str(bundled_codex_path())
    except Exception:
        pass
    found = shutil.which("codex")
    if found:
        return found
    raise LlmError("Codex CLI not found.", hint="Install the codex extra: pip install 'ktx-context[codex]'")


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings, lists and booleans are valid TOML values


def config_overrides(mcp_url: str | None, tool_names: Sequence[str]) -> list[str]:
    """`--config key=value` overrides for every Codex run."""
    overrides = ['history.persistence="none"', 'web_search="disabled"']
    if mcp_url:
        overrides += [
            f"mcp_servers.ktx.url={_toml(mcp_url)}",
            f"mcp_servers.ktx.bearer_token_env_var={_toml(TOKEN_ENV)}",
            f"mcp_servers.ktx.enabled_tools={_toml(list(tool_names))}",
            'mcp_servers.ktx.default_tools_approval_mode="approve"',
            "mcp_servers.ktx.required=true",
        ]
    return overrides


@dataclass
class TurnOutcome:
    stop_reason: str = "natural"
    error: str | None = None
    final_text: str = ""
    steps: int = 0
    turns: int = 0
    tool_failures: list[str] = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


def _unwrap(message: str) -> str:
    """Codex may report a provider error envelope as JSON text; surface the inner message."""
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return message
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if data.get("message"):
            return str(data["message"])
    return message


class CodexBackend(Backend):
    name = "codex"

    def __init__(self, project_dir: Path, governor: RateLimitGovernor | None = None) -> None:
        self.project_dir = project_dir
        self.governor = governor

    # --- one turn ------------------------------------------------------------------------

    def _turn(
        self,
        ctx: CallContext,
        prompt: str,
        *,
        tools: Sequence[Tool] = (),
        output_schema: dict[str, Any] | None = None,
        step_budget: int | None = None,
    ) -> TurnOutcome:
        attempts = self.governor.max_retry_attempts() if self.governor else 1
        for attempt in range(attempts):
            if self.governor is not None:
                self.governor.wait_for_ready(ctx.cancel)
            error: LlmError | None = None
            try:
                outcome = self._turn_once(ctx, prompt, tools, output_schema, step_budget)
                failure = outcome.error or ""
            except LlmError as exc:
                outcome, failure, error = None, exc.message, exc
            if _RATE_LIMITED.search(failure) and self.governor is not None:
                self.governor.report(RateLimitSignal("codex", "rejected", rate_limit_type="opaque"))
                if attempt < attempts - 1:
                    continue
            if error is not None:
                raise error  # keeps its hint (a missing CLI says how to install it)
            return outcome
        raise AssertionError("unreachable")

    def _turn_once(
        self,
        ctx: CallContext,
        prompt: str,
        tools: Sequence[Tool],
        output_schema: dict[str, Any] | None,
        step_budget: int | None,
    ) -> TurnOutcome:
        model = resolve_codex_model(ctx.model)
        if tools:
            with RuntimeMcpServer(tools) as server:
                return self._run_codex(ctx, model, prompt, tools, output_schema, step_budget, server.url, server.token)
        return self._run_codex(ctx, model, prompt, tools, output_schema, step_budget, None, None)

    def _run_codex(
        self,
        ctx: CallContext,
        model: str,
        prompt: str,
        tools: Sequence[Tool],
        output_schema: dict[str, Any] | None,
        step_budget: int | None,
        mcp_url: str | None,
        token: str | None,
    ) -> TurnOutcome:
        from openai_codex import ApprovalMode, Codex, CodexConfig, Sandbox

        launcher = env_launcher(real_codex_path(), keep=ENV_ALLOWLIST)
        args = [str(launcher)]
        for override in config_overrides(mcp_url, [t.name for t in tools]):
            args += ["--config", override]
        args += ["app-server", "--listen", "stdio://"]
        config = CodexConfig(
            launch_args_override=tuple(args),
            cwd=str(self.project_dir),
            env={TOKEN_ENV: token} if token else None,
            client_name="ktx",
            client_title="ktx",
        )
        outcome = TurnOutcome()
        started = time.perf_counter()
        try:
            codex = Codex(config=config)
        except Exception as exc:
            raise LlmError(f"Codex could not start: {exc}") from None
        try:
            thread = codex.thread_start(
                approval_mode=ApprovalMode.deny_all,
                cwd=str(self.project_dir),
                model=model,
                sandbox=Sandbox.read_only,
                ephemeral=True,
            )
            handle = thread.turn(prompt, output_schema=output_schema)
            self._consume(ctx, handle, outcome, step_budget, started)
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except LlmError:
            raise
        except Exception as exc:
            if outcome.error is None:
                outcome.stop_reason, outcome.error = "error", _unwrap(str(exc)) or type(exc).__name__
        finally:
            codex.close()
        if outcome.stop_reason != "budget" and outcome.error is None and outcome.tool_failures:
            outcome.stop_reason = "error"
            outcome.error = f"Codex runtime tool call failed: {'; '.join(outcome.tool_failures)}"
        return outcome

    def _consume(self, ctx: CallContext, handle: Any, outcome: TurnOutcome, budget: int | None, started: float) -> None:
        """Read the turn's notifications: steps, tool failures, final text, usage, stop reason."""
        stream = handle.stream()
        try:
            for event in stream:
                if ctx.cancel is not None and ctx.cancel.cancelled:
                    handle.interrupt()
                    raise LlmCancelled("cancelled")
                method, payload = event.method, event.payload
                if method == "turn/started":
                    outcome.turns += 1
                elif method == "item/completed":
                    item = getattr(payload.item, "root", payload.item)
                    kind = getattr(item, "type", None)
                    if kind in _ACTION_ITEMS:
                        outcome.steps += 1
                        outcome.boundaries.append(round((time.perf_counter() - started) * 1000, 3))
                        if kind == "mcpToolCall" and (_status(item) == "failed" or item.error is not None):
                            message = item.error.message if item.error is not None else "Codex turn failed"
                            outcome.tool_failures.append(f"{item.tool or 'unknown'}: {message}")
                        if budget is not None and outcome.steps >= budget:
                            outcome.stop_reason = "budget"
                            handle.interrupt()
                            return
                    elif kind == "agentMessage" and item.text.strip():
                        outcome.final_text = item.text
                elif method == "thread/tokenUsage/updated":
                    usage = payload.token_usage.total
                    outcome.usage = Usage(
                        input_tokens=max(0, usage.input_tokens - usage.cached_input_tokens),
                        output_tokens=usage.output_tokens,
                        cache_read_tokens=usage.cached_input_tokens,
                    )
                elif method == "error":
                    if not payload.will_retry:
                        outcome.stop_reason, outcome.error = "error", _unwrap(payload.error.message)
                elif method == "turn/completed":
                    turn = payload.turn
                    status = _status(turn)
                    if status == "failed" and outcome.error is None:
                        message = turn.error.message if turn.error is not None else "Codex turn failed"
                        outcome.stop_reason, outcome.error = "error", _unwrap(message)
                    if not outcome.boundaries:
                        outcome.boundaries.append(round((time.perf_counter() - started) * 1000, 3))
        finally:
            stream.close()

    # --- operations ----------------------------------------------------------------------

    def generate_text(self, ctx: CallContext, prompt: str, system: str | None) -> tuple[str, Usage]:
        outcome = self._turn(ctx, _joined(system, prompt))
        if outcome.error:
            raise LlmError(outcome.error)
        if not outcome.final_text.strip():
            raise LlmError("Codex completed without an agent message")
        return outcome.final_text, outcome.usage

    def generate_json(
        self, ctx: CallContext, prompt: str, system: str | None, schema: dict[str, Any]
    ) -> tuple[Any, Usage]:
        outcome = self._turn(ctx, _joined(system, prompt), output_schema=_strict_schema(schema))
        if outcome.error:
            raise LlmError(outcome.error)
        if not outcome.final_text.strip():
            raise LlmError("Codex completed without an agent message")
        return outcome.final_text, outcome.usage

    def run_agent_loop(
        self, ctx: CallContext, system: str, user: str, tools: Sequence[Tool], step_budget: int
    ) -> LoopResult:
        started = time.perf_counter()
        result = LoopResult("natural")
        try:
            outcome = self._turn(ctx, _joined(system, user), tools=tools, step_budget=step_budget)
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except LlmError as exc:
            result.stop_reason, result.error = "error", exc.message
            result.metrics.total_ms = (time.perf_counter() - started) * 1000
            return result
        result.stop_reason = outcome.stop_reason  # type: ignore[assignment]
        result.error = outcome.error if outcome.stop_reason == "error" else None
        result.final_text = outcome.final_text
        result.metrics.step_count = outcome.steps or outcome.turns
        result.metrics.step_boundaries_ms = outcome.boundaries
        result.metrics.usage = outcome.usage
        result.metrics.total_ms = (time.perf_counter() - started) * 1000
        return result


def _status(obj: Any) -> str:
    status = getattr(obj, "status", None)
    return getattr(status, "value", status) or ""


def _joined(system: str | None, prompt: str) -> str:
    return f"{system}\n\n{prompt}" if system else prompt


def _strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Structured outputs need every object closed (`additionalProperties: false`)."""

    def close(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: close(v) for k, v in node.items()}
            if node.get("type") == "object":
                node.setdefault("additionalProperties", False)
            return node
        if isinstance(node, list):
            return [close(v) for v in node]
        return node

    return close(schema)


@dataclass
class ProbeResult:
    ok: bool
    message: str
    fix: str | None = None


def probe(project_dir: Path, model: str) -> ProbeResult:
    """`Reply with exactly: ok`, separating "model not available" from "not authenticated"."""
    try:
        resolved = resolve_codex_model(model)
    except LlmError as exc:
        return ProbeResult(
            False,
            exc.message,
            "Set llm.models.default in ktx.yaml to a supported codex model (codex, default, or a gpt-* / codex-* id), "
            "or rerun `ktx setup`.",
        )
    try:
        real_codex_path()
    except LlmError as exc:  # the CLI itself is missing: its own message and fix
        return ProbeResult(False, f"{exc.message} {exc.hint}", exc.hint)
    missing_login = _missing_login()
    if missing_login:
        # Nothing to wait for: without a login or a key Codex can only hang until the deadline.
        return ProbeResult(
            False, missing_login, "Run `codex login` (or set OPENAI_API_KEY), then rerun setup or `ktx status`."
        )
    try:
        run_with_deadline(
            lambda: CodexBackend(project_dir).generate_text(
                CallContext("default", resolved), "Reply with exactly: ok", None
            ),
            PROBE_TIMEOUT_S,
            _silence_message(),
        )
    except LlmError as exc:
        if exc.hint:  # the CLI itself is missing: its own message and fix
            return ProbeResult(False, f"{exc.message} {exc.hint}", exc.hint)
        if exc.message.startswith("Codex did not answer"):
            fix = "Run `codex login` (or check the network), then rerun setup or `ktx status`."
            return ProbeResult(False, exc.message, fix)
        if _MODEL_UNAVAILABLE.search(exc.message):
            fix = (
                "Run `codex` to see the models your account supports, then set llm.models.default "
                "in ktx.yaml (or rerun `ktx setup`)."
            )
            return ProbeResult(
                False,
                f'Codex is authenticated, but the configured model "{resolved}" is not available '
                "for this Codex account. "
                f"{fix} Details: {exc.message}",
                fix,
            )
        fix = (
            "Authenticate Codex locally with the Codex CLI, verify the Codex CLI is "
            "installed, then rerun setup or `ktx status`."
        )
        return ProbeResult(False, f"Codex authentication is not usable. {fix} Details: {exc.message}", fix)
    return ProbeResult(True, "local Codex session authenticated")


PROBE_TIMEOUT_S = 45.0


def _codex_home() -> Path:
    import os

    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def _missing_login() -> str | None:
    """Why Codex cannot be authenticated, when that is known without asking it: no auth.json and no API key."""
    import os

    auth = _codex_home() / "auth.json"
    if auth.is_file() or any(os.environ.get(name) for name in ("OPENAI_API_KEY", "CODEX_API_KEY")):
        return None
    return f"No Codex login was found: {auth} is missing and neither OPENAI_API_KEY nor CODEX_API_KEY is set."


def _silence_message() -> str:
    """What the probe waited for (a login exists, yet Codex never answered)."""
    return f"Codex did not answer the probe ('Reply with exactly: ok') within {PROBE_TIMEOUT_S:.0f} s"


def build_backend(config: Any, base_dir: Path, env: Any, governor: RateLimitGovernor) -> CodexBackend:
    """The registry's factory: the local CLI session needs no keys, only the project directory."""
    return CodexBackend(base_dir, governor)
