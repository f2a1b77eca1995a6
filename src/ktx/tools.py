"""The tool catalogue's vocabulary: a Tool is defined once (name, description, input model, handler) and served
to MCP clients and to LLM agent loops alike. Neither the MCP server nor the LLM runtime owns it."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ktx.errors import KtxError


class ToolError(KtxError):
    """A tool is defined wrongly (not a call failure: those are reported in-band by each face)."""


@dataclass
class ToolOutput:
    markdown: str
    structured: Any = None


@dataclass
class Tool:
    """A tool defined once: served to MCP clients and to LLM agent loops (Anthropic tool blocks, MCP servers)."""

    name: str
    description: str
    input_model: type[BaseModel]
    handler: Callable[[Any], Any]
    title: str | None = None
    output_model: type[BaseModel] | None = None
    # MCP hints: readOnlyHint, destructiveHint, idempotentHint, openWorldHint.
    annotations: dict[str, bool] = field(default_factory=dict)
    # Answered from the project's own files and indexes, never waiting on a warehouse or a model: the MCP server
    # runs such calls two at a time, so a burst of them does not contend for the interpreter with itself.
    local: bool = False

    def input_schema(self) -> dict[str, Any]:
        schema = draft07(self.input_model.model_json_schema())
        if schema.get("type") != "object":
            raise ToolError(f'ktx tool "{self.name}" must use an object input schema')
        return schema

    def output_schema(self) -> dict[str, Any] | None:
        return draft07(self.output_model.model_json_schema()) if self.output_model is not None else None

    def call(self, arguments: dict[str, Any]) -> ToolOutput:
        """Validate arguments, run the handler, normalise its output. Exceptions propagate."""
        parsed = self.input_model.model_validate(arguments)
        return normalize_tool_output(self.handler(parsed))


def normalize_tool_output(value: Any) -> ToolOutput:
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, dict) and isinstance(value.get("markdown"), str):
        return ToolOutput(value["markdown"], value.get("structured"))
    if isinstance(value, str):
        return ToolOutput(value)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return ToolOutput(f"```json\n{text}\n```", value)


def draft07(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic (2020-12 style) schema as JSON Schema draft-07: `$defs` become `definitions`."""
    text = json.dumps(schema).replace('"#/$defs/', '"#/definitions/')
    out = json.loads(text)
    if "$defs" in out:
        out["definitions"] = out.pop("$defs")
    return {"$schema": "http://json-schema.org/draft-07/schema#", **out}


ProgressFn = Callable[[float, str], None]
_PROGRESS: contextvars.ContextVar[ProgressFn | None] = contextvars.ContextVar("ktx_tool_progress", default=None)


def report_progress(fraction: float, message: str) -> None:
    """Tell the caller of the running tool how far it got (a no-op when nobody listens)."""
    sink = _PROGRESS.get()
    if sink is not None:
        sink(fraction, message)


def progress_sink(sink: ProgressFn | None) -> contextvars.Token[ProgressFn | None]:
    return _PROGRESS.set(sink)
