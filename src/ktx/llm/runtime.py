"""LlmRuntime: role → model, structured output with one repair, loops that never raise, accounting."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ktx.llm.port import CallRecord, CancelToken, LlmCancelled, LlmError, LoopResult, Usage
from ktx.tools import Tool

T = TypeVar("T", bound=BaseModel)


@dataclass
class CallContext:
    """Who is calling: used for request records and traces, never sent to the model."""

    role: str
    model: str
    tags: dict[str, str] = field(default_factory=dict)
    cancel: CancelToken | None = None


class Backend(ABC):
    """One way of reaching models. API backends run the loop themselves; SDK backends delegate."""

    name: str

    @abstractmethod
    def generate_text(self, ctx: CallContext, prompt: str, system: str | None) -> tuple[str, Usage]: ...

    @abstractmethod
    def generate_json(
        self, ctx: CallContext, prompt: str, system: str | None, schema: dict[str, Any]
    ) -> tuple[Any, Usage]:
        """A JSON value meant to match `schema` (not yet validated)."""

    @abstractmethod
    def run_agent_loop(
        self, ctx: CallContext, system: str, user: str, tools: Sequence[Tool], step_budget: int
    ) -> LoopResult: ...


CallListener = Callable[[CallRecord], None]


class LlmRuntime:
    def __init__(self, backend: Backend, models: dict[str, str], *, governor: Any = None) -> None:
        self.backend = backend
        self.models = models
        self.governor = governor
        self._listeners: list[CallListener] = []

    def on_call(self, listener: CallListener) -> None:
        """Receive a CallRecord (role, model, tokens, duration) after every call."""
        self._listeners.append(listener)

    def model_for(self, role: str) -> str:
        if role not in self.models:
            raise LlmError(f"Unknown model role: {role}")
        return self.models[role]

    def _record(self, record: CallRecord) -> None:
        for listener in self._listeners:
            listener(record)

    def _ctx(self, role: str, tags: dict[str, str] | None, cancel: CancelToken | None) -> CallContext:
        return CallContext(role, self.model_for(role), dict(tags or {}), cancel)

    # --- operations ----------------------------------------------------------------------

    def generate_text(
        self,
        role: str,
        prompt: str,
        system: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        cancel: CancelToken | None = None,
    ) -> str:
        ctx = self._ctx(role, tags, cancel)
        started = time.perf_counter()
        text, usage = self.backend.generate_text(ctx, prompt, system)
        self._record(CallRecord("text", role, ctx.model, (time.perf_counter() - started) * 1000, usage, tags=ctx.tags))
        if not text.strip():
            raise LlmError(f"The {ctx.model} model returned no text")
        return text

    def generate_object(
        self,
        role: str,
        prompt: str,
        schema: type[T],
        system: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        cancel: CancelToken | None = None,
    ) -> T:
        """Structured output validated against `schema`; one repair attempt through the `repair` role."""
        ctx = self._ctx(role, tags, cancel)
        json_schema = schema.model_json_schema()
        started = time.perf_counter()
        value, usage = self.backend.generate_json(ctx, prompt, system, json_schema)
        self._record(
            CallRecord("object", role, ctx.model, (time.perf_counter() - started) * 1000, usage, tags=ctx.tags)
        )
        try:
            return _validate(schema, value)
        except (ValidationError, ValueError) as exc:
            problem = _describe_invalid(exc)
        repair_ctx = self._ctx("repair", tags, cancel)
        repair_prompt = (
            "The JSON below does not match the required schema. Return corrected JSON that matches it, "
            "keeping every value that is already valid.\n\n"
            f"Problems:\n{problem}\n\nInvalid JSON:\n{_as_text(value)}\n\nOriginal request:\n{prompt}"
        )
        started = time.perf_counter()
        repaired, usage = self.backend.generate_json(repair_ctx, repair_prompt, system, json_schema)
        self._record(
            CallRecord(
                "object", "repair", repair_ctx.model, (time.perf_counter() - started) * 1000, usage, tags=ctx.tags
            )
        )
        try:
            return _validate(schema, repaired)
        except (ValidationError, ValueError) as exc:
            raise LlmError(
                f"The model's structured output did not match the schema, even after repair: {_describe_invalid(exc)}"
            ) from None

    def run_agent_loop(
        self,
        role: str,
        system: str,
        user: str,
        tools: Sequence[Tool],
        step_budget: int,
        *,
        tags: dict[str, str] | None = None,
        cancel: CancelToken | None = None,
    ) -> LoopResult:
        """Never raises for model or tool failures (stop reason `error`); cancellation re-raises."""
        if step_budget < 1:
            raise LlmError("step budget must be at least 1")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise LlmError(f"duplicate tool names: {sorted(n for n in names if names.count(n) > 1)}")
        ctx = self._ctx(role, tags, cancel)
        started = time.perf_counter()
        try:
            result = self.backend.run_agent_loop(ctx, system, user, tools, step_budget)
        except (LlmCancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # a backend bug must not escape as a crash of the caller
            message = exc.message if isinstance(exc, LlmError) else f"{type(exc).__name__}: {exc}"
            result = LoopResult("error", message)
            result.metrics.total_ms = (time.perf_counter() - started) * 1000
        self._record(
            CallRecord(
                "loop",
                role,
                ctx.model,
                result.metrics.total_ms,
                result.metrics.usage,
                steps=result.metrics.step_count,
                stop_reason=result.stop_reason,
                tags=ctx.tags,
            )
        )
        return result


def _validate(schema: type[T], value: Any) -> T:
    if isinstance(value, str):
        value = json.loads(_strip_fence(value))
    return schema.model_validate(value)


def _strip_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _describe_invalid(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "\n".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
    return f"<root>: not valid JSON ({exc})"


def validation_lines(exc: ValidationError) -> str:
    """`<dotted.path or <root>>: <message>` per issue — what a model sees for bad tool input."""
    return _describe_invalid(exc)
