"""The anthropic, vertex and gateway backends: the official `anthropic` SDK, Messages API, streaming.

One request per model turn, sent through the governor: 429 and overloaded answers pause and
retry, 5xx and connection failures back off and retry, other errors end the call with the
provider's message (any API key redacted). The agent loop runs here, tool by tool.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ktx.llm.caching import CachePolicy, apply_cache_markers, beta_headers
from ktx.llm.governor import RateLimitGovernor, RateLimitSignal, retry_after_ms, utilization_from_headers
from ktx.llm.port import LlmCancelled, LlmError, LoopResult, Usage
from ktx.llm.recorder import RequestRecorder
from ktx.llm.runtime import Backend, CallContext, validation_lines
from ktx.tools import Tool

if TYPE_CHECKING:
    from ktx.project.config import KtxConfig

DEFAULT_MAX_TOKENS = 8192
RESULT_TOOL = "emit_result"


class AnthropicApiBackend(Backend):
    def __init__(
        self,
        name: str,
        client: Any,
        *,
        cache_policy: CachePolicy,
        governor: RateLimitGovernor,
        secrets: Sequence[str] = (),
        recorder: RequestRecorder | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.name = name
        self.client = client
        self.cache_policy = cache_policy
        self.governor = governor
        self.secrets = [s for s in secrets if s]
        self.recorder = recorder
        self.max_tokens = max_tokens
        self.provider = "vertex" if name == "vertex" else "anthropic-api"

    # --- one model turn ------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def create(self, ctx: CallContext, request: dict[str, Any], *, max_attempts: int | None = None) -> Any:
        """Send one Messages request (with cache markers) and return the final Message."""
        import anthropic

        request = apply_cache_markers(
            {"model": ctx.model, "max_tokens": self.max_tokens, **request}, self.cache_policy, ctx.model
        )
        if self.recorder is not None:
            self.recorder.record(ctx, request)
        attempts = max_attempts or self.governor.max_retry_attempts()
        last_error = "no attempt made"
        for attempt in range(attempts):
            self.governor.wait_for_ready(ctx.cancel)
            try:
                return self._stream(ctx, request)
            except anthropic.RateLimitError as exc:
                headers = exc.response.headers
                self.governor.report(
                    RateLimitSignal(
                        self.provider, "rejected", retry_after_ms=retry_after_ms(headers), rate_limit_type="http_429"
                    )
                )
                last_error = f"rate limited (HTTP 429): {self._message(exc)}"
                if not self.governor.enabled:
                    self._backoff(ctx, attempt)
            except anthropic.APIStatusError as exc:
                status = exc.status_code
                last_error = f"{self.name} API error {status}: {self._message(exc)}"
                if status == 529:
                    # Overloaded is provider-wide pressure: pause everyone, like a 429 without retry-after.
                    self.governor.report(RateLimitSignal(self.provider, "rejected", rate_limit_type="overloaded"))
                    if not self.governor.enabled:
                        self._backoff(ctx, attempt)
                elif status >= 500:
                    self._backoff(ctx, attempt)
                else:
                    raise LlmError(last_error) from None
            except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
                last_error = f"cannot reach the {self.name} API: {self._redact(str(exc))}"
                self._backoff(ctx, attempt)
        raise LlmError(f"{last_error} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})")

    def _backoff(self, ctx: CallContext, attempt: int) -> None:
        seconds = self.governor.backoff_ms(attempt) / 1000
        if ctx.cancel is not None:
            ctx.cancel.wait(seconds)
        else:
            time.sleep(seconds)

    def _message(self, exc: Any) -> str:
        body = getattr(exc, "body", None)
        message = None
        if isinstance(body, dict):
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else None
        return self._redact(message or getattr(exc, "message", None) or str(exc))

    def _stream(self, ctx: CallContext, request: dict[str, Any]) -> Any:
        with self.client.messages.stream(**request) as stream:
            for _event in stream:
                if ctx.cancel is not None and ctx.cancel.cancelled:
                    raise LlmCancelled("cancelled")
            message = stream.get_final_message()
            headers = stream.response.headers
        utilization, kind = utilization_from_headers(headers)
        self.governor.report(RateLimitSignal(self.provider, "allowed", utilization=utilization, rate_limit_type=kind))
        return message

    # --- operations ----------------------------------------------------------------------

    def generate_text(self, ctx: CallContext, prompt: str, system: str | None) -> tuple[str, Usage]:
        request: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        if system:
            request["system"] = system
        message = self.create(ctx, request)
        return _text_of(message), usage_of(message)

    def generate_json(
        self, ctx: CallContext, prompt: str, system: str | None, schema: dict[str, Any]
    ) -> tuple[Any, Usage]:
        # A forced tool call is the Messages API's structured-output channel.
        request: dict[str, Any] = {
            "messages": [{"role": "user", "content": prompt}],
            "tools": [
                {"name": RESULT_TOOL, "description": "Return the result in the required shape.", "input_schema": schema}
            ],
            "tool_choice": {"type": "tool", "name": RESULT_TOOL},
        }
        if system:
            request["system"] = system
        message = self.create(ctx, request)
        for block in message.content:
            if block.type == "tool_use" and block.name == RESULT_TOOL:
                return block.input, usage_of(message)
        return _text_of(message), usage_of(message)

    def run_agent_loop(
        self, ctx: CallContext, system: str, user: str, tools: Sequence[Tool], step_budget: int
    ) -> LoopResult:
        started = time.perf_counter()
        result = LoopResult("natural")
        metrics = result.metrics
        by_name = {t.name: t for t in tools}
        specs = [{"name": t.name, "description": t.description, "input_schema": t.input_schema()} for t in tools]
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        try:
            while True:
                if metrics.step_count >= step_budget:
                    result.stop_reason = "budget"
                    break
                request: dict[str, Any] = {"system": system, "messages": messages}
                if specs:
                    request["tools"] = specs
                message = self.create(ctx, request)
                metrics.step_count += 1
                metrics.step_boundaries_ms.append(round((time.perf_counter() - started) * 1000, 3))
                step_usage = usage_of(message)
                metrics.usage.add(step_usage)
                metrics.step_usage.append(step_usage)
                messages.append({"role": "assistant", "content": [_block_param(b) for b in message.content]})
                calls = [b for b in message.content if b.type == "tool_use"]
                if message.stop_reason != "tool_use" or not calls:
                    result.final_text = _text_of(message)
                    break
                messages.append({"role": "user", "content": [self._run_tool(by_name, call, ctx) for call in calls]})
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except LlmError as exc:
            result.stop_reason, result.error = "error", exc.message
        except Exception as exc:
            result.stop_reason, result.error = "error", f"{type(exc).__name__}: {self._redact(str(exc))}"
        metrics.total_ms = (time.perf_counter() - started) * 1000
        return result

    def _run_tool(self, by_name: dict[str, Tool], call: Any, ctx: CallContext) -> dict[str, Any]:
        """Tool failures become error results the model sees, never loop failures."""
        if ctx.cancel is not None:
            ctx.cancel.raise_if_cancelled()
        tool = by_name.get(call.name)
        if tool is None:
            return _tool_result(call.id, f"Unknown tool: {call.name}. Available: {', '.join(sorted(by_name))}", True)
        try:
            output = tool.call(call.input if isinstance(call.input, dict) else {})
        except ValidationError as exc:
            return _tool_result(call.id, f"Invalid input for {call.name}:\n{validation_lines(exc)}", True)
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return _tool_result(call.id, f"Tool {call.name} failed: {message}", True)
        return _tool_result(call.id, output.markdown, False)


def _tool_result(tool_use_id: str, text: str, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if is_error:
        block["is_error"] = True
    return block


def _block_param(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(mode="json", exclude_none=True)


def _text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def usage_of(message: Any) -> Usage:
    usage = message.usage
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
        cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
    )


def create_client(
    backend: str, *, api_key: str | None, base_url: str | None, project: str | None, location: str | None
) -> Any:
    import anthropic

    headers = beta_headers(backend)
    if backend == "vertex":
        # Google credentials come from application-default credentials (gcloud, a service account file).
        return anthropic.AnthropicVertex(
            region=location, project_id=project, base_url=base_url, max_retries=0, default_headers=headers
        )
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, default_headers=headers)


def build_backend(
    config: KtxConfig, base_dir: Path, env: Mapping[str, str], governor: RateLimitGovernor
) -> AnthropicApiBackend:
    """The anthropic, vertex or gateway backend from the `llm.provider` block (keys resolved from env:/file:)."""
    from ktx.project.refs import resolve_reference

    llm = config.llm
    backend = llm.provider.backend
    provider = llm.provider
    api_key = base_url = project = location = None

    def ref(value: str | None, field: str) -> str | None:
        return resolve_reference(value, field=field, env=env, base_dir=base_dir)

    if backend == "anthropic":
        block = provider.anthropic
        api_key = (
            ref(block.api_key if block else None, "llm.provider.anthropic.api_key")
            or env.get("ANTHROPIC_API_KEY", "").strip()
            or None
        )
        base_url = ref(block.base_url if block else None, "llm.provider.anthropic.base_url")
        if not api_key:
            raise LlmError(
                "Anthropic API key missing: set ANTHROPIC_API_KEY or llm.provider.anthropic.api_key "
                "(env:/file: reference)."
            )
    elif backend == "gateway":
        block = provider.gateway
        api_key = (
            ref(block.api_key if block else None, "llm.provider.gateway.api_key")
            or env.get("AI_GATEWAY_API_KEY", "").strip()
            or None
        )
        base_url = ref(block.base_url if block else None, "llm.provider.gateway.base_url")
        if not base_url:
            raise LlmError("llm.provider.gateway.base_url is required for the gateway backend.")
        if not api_key:
            raise LlmError("Gateway API key missing: set llm.provider.gateway.api_key or AI_GATEWAY_API_KEY.")
    else:
        block = provider.vertex
        if block is None:
            raise LlmError("vertex.location is required when ktx LLM backend is vertex")
        location = ref(block.location, "llm.provider.vertex.location")
        project = (
            ref(block.project, "llm.provider.vertex.project")
            or env.get("GOOGLE_VERTEX_PROJECT")
            or env.get("ANTHROPIC_VERTEX_PROJECT_ID")
        )
        if not project:
            raise LlmError(
                "Vertex project missing: set llm.provider.vertex.project or GOOGLE_VERTEX_PROJECT "
                "(or run `gcloud config set project PROJECT_ID`)."
            )
    client = create_client(backend, api_key=api_key, base_url=base_url, project=project, location=location)
    log = env.get("KTX_LLM_REQUEST_LOG", "").strip()
    return AnthropicApiBackend(
        backend,
        client,
        cache_policy=CachePolicy.from_config(llm.promptCaching, backend=backend),
        governor=governor,
        secrets=[api_key or ""],
        recorder=RequestRecorder(Path(log)) if log else None,
    )
