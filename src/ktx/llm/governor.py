"""The rate-limit governor: provider signals → pauses, backoff and concurrency under pressure.

Every backend reports what it learns (429s, retry-after, `anthropic-ratelimit-*` headers,
SDK rate-limit events). Callers wait for readiness before each model call and hold a work slot
around each unit of work. Events go to subscribers (the ingest trace, the progress line).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from ktx.llm.port import CancelToken, LlmCancelled
from ktx.project.config import RateLimitConfig

SignalStatus = Literal["allowed", "warning", "rejected"]


@dataclass(frozen=True)
class RateLimitSignal:
    provider: str  # claude-subscription | anthropic-api | vertex | codex
    status: SignalStatus
    reset_at_ms: float | None = None
    retry_after_ms: float | None = None
    utilization: float | None = None
    rate_limit_type: str | None = None


@dataclass
class GovernorEvent:
    kind: str  # rate_limit_observed | concurrency_adjusted | wait_started | wait_tick | wait_finished
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[GovernorEvent], None]


def _now_ms() -> float:
    return time.time() * 1000


class RateLimitGovernor:
    def __init__(
        self,
        config: RateLimitConfig | None = None,
        *,
        max_concurrency: int = 1,
        tick_ms: float = 1000,
        clock: Callable[[], float] = _now_ms,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or RateLimitConfig()
        self.max_concurrency = max_concurrency
        self.tick_ms = tick_ms
        self._clock = clock
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._paused_until_ms = 0.0
        self._pause_info: dict[str, Any] = {}
        self._opaque_attempts: dict[str, int] = {}
        self._limit = max_concurrency
        self._active = 0
        self._listeners: list[Listener] = []

    # --- configuration views -------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def max_retry_attempts(self) -> int:
        """Attempts per call, including the first."""
        return self.config.retry.maxAttempts if self.enabled else 1

    @property
    def effective_concurrency(self) -> int:
        return self._limit

    @property
    def paused_until_ms(self) -> float:
        return self._paused_until_ms

    # --- events --------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._cond:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._cond:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, kind: str, **data: Any) -> None:
        for listener in list(self._listeners):
            with suppress(Exception):  # a broken listener must not break model calls
                listener(GovernorEvent(kind, data))

    # --- signals -------------------------------------------------------------------------

    def backoff_ms(self, attempt: int) -> float:
        """`min(maxDelay, baseDelay × 2^min(n, maxAttempts−1))`, × jitter in [0.75, 1.25)."""
        retry = self.config.retry
        delay = min(retry.maxDelayMs, retry.baseDelayMs * 2 ** min(attempt, retry.maxAttempts - 1))
        if retry.jitter:
            delay *= 0.75 + self._rng.random() * 0.5
        return delay

    def report(self, signal: RateLimitSignal) -> None:
        if not self.enabled:
            return
        self._emit(
            "rate_limit_observed",
            provider=signal.provider,
            status=signal.status,
            utilization=signal.utilization,
            type=signal.rate_limit_type,
        )
        with self._cond:
            if signal.status == "rejected":
                self._reject(signal)
            elif signal.status == "warning" or (
                signal.utilization is not None and signal.utilization >= self.config.throttleThreshold
            ):
                self._set_limit(self.config.minConcurrencyUnderPressure, "provider pressure")
            else:
                self._opaque_attempts.pop(signal.provider, None)
                self._set_limit(self.max_concurrency, "provider recovered")
            self._cond.notify_all()

    def _reject(self, signal: RateLimitSignal) -> None:
        now = self._clock()
        opaque = False
        if signal.reset_at_ms is not None:
            until = signal.reset_at_ms
        elif signal.retry_after_ms is not None:
            until = now + signal.retry_after_ms
        else:
            opaque = True
            attempts = self._opaque_attempts.get(signal.provider, 0)
            until = now + self.backoff_ms(attempts)
            self._opaque_attempts[signal.provider] = min(attempts + 1, self.config.retry.maxAttempts)
        if self.config.maxWaitMs is not None:
            until = min(until, now + self.config.maxWaitMs)
        self._set_limit(self.config.minConcurrencyUnderPressure, "provider pressure")
        if until > self._paused_until_ms:
            self._paused_until_ms = until
            self._pause_info = {
                "provider": signal.provider,
                "type": signal.rate_limit_type,
                "opaque": opaque,
                "waitMs": round(until - now),
            }
            self._emit("wait_started", **self._pause_info)

    def _set_limit(self, limit: int, reason: str) -> None:
        limit = max(1, min(limit, self.max_concurrency))
        if limit != self._limit:
            self._limit = limit
            self._emit("concurrency_adjusted", concurrency=limit, reason=reason)

    # --- waiting -------------------------------------------------------------------------

    def wait_for_ready(self, cancel: CancelToken | None = None) -> None:
        """Block while paused; emits ticks for subscribers and honours cancellation."""
        if not self.enabled:
            return
        waited = False
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            with self._cond:
                remaining = self._paused_until_ms - self._clock()
                if remaining <= 0:
                    break
                if not waited:
                    waited = True
                info = dict(self._pause_info)
                step = remaining if info.get("opaque") else min(remaining, self.tick_ms)
            self._emit("wait_tick", remainingMs=round(remaining), **info)
            self._sleep(step / 1000, cancel)
        if waited:
            self._emit("wait_finished", provider=self._pause_info.get("provider"))

    def _sleep(self, seconds: float, cancel: CancelToken | None) -> None:
        if cancel is not None:
            cancel.wait(seconds)
        else:
            with self._cond:
                self._cond.wait(timeout=seconds)

    @contextmanager
    def work_slot(self, cancel: CancelToken | None = None) -> Iterator[None]:
        """Hold one of the effective-concurrency slots for a unit of work."""
        if not self.enabled:
            yield
            return
        while True:
            self.wait_for_ready(cancel)
            with self._cond:
                if self._active < self._limit and self._paused_until_ms <= self._clock():
                    self._active += 1
                    break
                self._cond.wait(timeout=0.05)
            if cancel is not None and cancel.cancelled:
                raise LlmCancelled("cancelled")
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()


def _as_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except ValueError:
        return None


def retry_after_ms(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `retry-after`; values under 1000 are seconds (as providers send them)."""
    ms = _as_float(headers.get("retry-after-ms"))
    if ms is not None:
        return ms
    value = _as_float(headers.get("retry-after"))
    if value is None:
        return None
    return value * 1000 if value < 1000 else value


_HEADER_PAIRS = (
    ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining", "rpm"),
    ("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "tpm"),
    ("anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining", "itpm"),
    ("anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining", "otpm"),
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "rpm"),
    ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "tpm"),
)


def utilization_from_headers(headers: Mapping[str, str]) -> tuple[float | None, str | None]:
    """The highest `1 − remaining/limit` among the rate-limit header pairs, with its type."""
    best: tuple[float | None, str | None] = (None, None)
    for limit_key, remaining_key, kind in _HEADER_PAIRS:
        limit, remaining = _as_float(headers.get(limit_key)), _as_float(headers.get(remaining_key))
        if limit and remaining is not None:
            used = round(1 - remaining / limit, 4)
            if best[0] is None or used > best[0]:
                best = (used, kind)
    return best


def format_wait(ms: float) -> str:
    seconds = max(0, round(ms / 1000))
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"


def progress_line(event: GovernorEvent) -> str | None:
    """The visible line for a long wait: `Rate-limited (<provider>[ <type>]); resuming in …`."""
    if event.kind not in ("wait_started", "wait_tick"):
        return None
    remaining = event.data.get("remainingMs", event.data.get("waitMs", 0))
    kind = f" {event.data['type']}" if event.data.get("type") else ""
    return f"Rate-limited ({event.data.get('provider')}{kind}); resuming in {format_wait(remaining)}; Ctrl+C to stop"
