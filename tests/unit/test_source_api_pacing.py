"""The paced call of the API sources: Retry-After in both forms, retries up to the configured attempts, a pause
longer than five minutes refused with a message rather than waited."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from ktx.errors import KtxError
from ktx.llm.governor import RateLimitGovernor
from ktx.project.config.sections import RateLimitConfig, RetryConfig
from ktx.sources.api import Retryable, paced, retry_after_ms


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_ms("2") == 2000
    assert 9000 < (retry_after_ms(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10000
    assert retry_after_ms("soon") is None and retry_after_ms(None) is None


def _governor(attempts: int) -> RateLimitGovernor:
    config = RateLimitConfig(retry=RetryConfig(maxAttempts=attempts, baseDelayMs=10, maxDelayMs=20, jitter=False))
    return RateLimitGovernor(config, tick_ms=10)


def test_a_429_is_waited_out_then_retried() -> None:
    calls: list[float] = []

    def call() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise Retryable(429, 300, "rate limited (429)")
        return "ok"

    assert paced(call, governor=_governor(3), provider="test", what="GET /x") == "ok"
    assert calls[1] - calls[0] >= 0.28


def test_attempts_run_out_with_a_message() -> None:
    def call() -> str:
        raise Retryable(503, None, "server error 503")

    with pytest.raises(KtxError) as raised:
        paced(call, governor=_governor(2), provider="test", what="GET /x")
    assert "server error 503 (gave up after 2 attempts)" in raised.value.message


def test_a_pause_of_hours_is_refused_not_waited() -> None:
    def call() -> str:
        raise Retryable(429, 3_600_000, "rate limited (429)")

    started = time.monotonic()
    with pytest.raises(KtxError) as raised:
        paced(call, governor=_governor(5), provider="test", what="GET /x")
    assert "asks to wait 3600 s" in raised.value.message and time.monotonic() - started < 1
