"""The LLM runtime port: the vocabulary every backend and every caller shares."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from ktx.errors import KtxError

StopReason = Literal["natural", "budget", "error"]


class LlmError(KtxError):
    """A model call failed for good (after retries), or the backend is misconfigured."""


class LlmCancelled(Exception):
    """The caller cancelled a call or loop; never converted into a stop reason."""


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def to_json(self) -> dict[str, int]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "cacheReadTokens": self.cache_read_tokens,
            "cacheWriteTokens": self.cache_write_tokens,
            "totalTokens": self.total_tokens,
        }


@dataclass
class LoopMetrics:
    total_ms: float = 0.0
    usage: Usage = field(default_factory=Usage)
    step_count: int = 0
    step_boundaries_ms: list[float] = field(default_factory=list)
    step_usage: list[Usage] = field(default_factory=list)


@dataclass
class LoopResult:
    stop_reason: StopReason
    error: str | None = None
    metrics: LoopMetrics = field(default_factory=LoopMetrics)
    final_text: str = ""


@dataclass
class CallRecord:
    """What accounting and traces see of every model call: never prompt text."""

    kind: Literal["text", "object", "loop"]
    role: str
    model: str
    duration_ms: float
    usage: Usage
    steps: int = 1
    stop_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class CancelToken:
    """A cooperative cancel flag shared between a caller and a running call."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise LlmCancelled("cancelled")

    def wait(self, seconds: float) -> None:
        """Sleep that wakes up (and raises) on cancellation."""
        if self._event.wait(max(0.0, seconds)):
            raise LlmCancelled("cancelled")
