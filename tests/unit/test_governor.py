"""The rate-limit governor's arithmetic and state, on a fake clock (no sleeping)."""

from __future__ import annotations

import random
import threading

import pytest

from ktx.llm.governor import (
    GovernorEvent,
    RateLimitGovernor,
    RateLimitSignal,
    format_wait,
    progress_line,
    retry_after_ms,
    utilization_from_headers,
)
from ktx.llm.port import CancelToken, LlmCancelled
from ktx.project.config import RateLimitConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def governor(clock=None, **config) -> RateLimitGovernor:
    cfg = RateLimitConfig.model_validate(config)
    return RateLimitGovernor(cfg, max_concurrency=4, clock=clock or Clock(), rng=random.Random(1))


def test_opaque_backoff_doubles_without_jitter_and_caps():
    g = governor(retry={"jitter": False, "baseDelayMs": 1000, "maxDelayMs": 5000, "maxAttempts": 6})
    assert [g.backoff_ms(n) for n in range(5)] == [1000, 2000, 4000, 5000, 5000]


def test_jitter_stays_within_three_quarters_and_five_quarters():
    g = governor()
    for n in range(6):
        base = min(60000, 1000 * 2**n)
        assert 0.75 * base <= g.backoff_ms(n) < 1.25 * base


def test_rejection_pauses_until_reset_or_retry_after_and_respects_max_wait():
    clock = Clock()
    g = governor(clock)
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=3000))
    assert g.paused_until_ms == clock.now + 3000
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=1000))  # earlier end: ignored
    assert g.paused_until_ms == clock.now + 3000
    g.report(RateLimitSignal("anthropic-api", "rejected", reset_at_ms=clock.now + 9000))
    assert g.paused_until_ms == clock.now + 9000
    capped = governor(clock, maxWaitMs=500)
    capped.report(RateLimitSignal("vertex", "rejected", retry_after_ms=60000))
    assert capped.paused_until_ms == clock.now + 500


def test_opaque_attempts_grow_per_provider_and_reset_when_allowed():
    clock = Clock()
    g = governor(clock, retry={"jitter": False})
    waits = []
    for _ in range(3):
        g.report(RateLimitSignal("codex", "rejected"))
        waits.append(g.paused_until_ms - clock.now)
        clock.now = g.paused_until_ms
    assert waits == [1000, 2000, 4000]
    g.report(RateLimitSignal("codex", "allowed", utilization=0.1))
    g.report(RateLimitSignal("codex", "rejected"))
    assert g.paused_until_ms - clock.now == 1000


def test_pressure_reduces_concurrency_and_recovery_restores_it():
    g = governor(minConcurrencyUnderPressure=1)
    events: list[GovernorEvent] = []
    g.subscribe(events.append)
    g.report(RateLimitSignal("anthropic-api", "allowed", utilization=0.85))
    assert g.effective_concurrency == 1
    g.report(RateLimitSignal("anthropic-api", "allowed", utilization=0.2))
    assert g.effective_concurrency == 4
    g.report(RateLimitSignal("anthropic-api", "warning"))
    assert g.effective_concurrency == 1
    reasons = [e.data["reason"] for e in events if e.kind == "concurrency_adjusted"]
    assert reasons == ["provider pressure", "provider recovered", "provider pressure"]


def test_disabled_governor_ignores_signals_and_allows_one_attempt():
    g = governor(enabled=False)
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=60000))
    assert g.paused_until_ms == 0 and g.max_retry_attempts() == 1
    g.wait_for_ready()  # returns at once


def test_work_slots_respect_the_effective_limit():
    g = RateLimitGovernor(RateLimitConfig(), max_concurrency=2)
    active, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with g.work_slot():
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            threading.Event().wait(0.05)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_waiting_is_cancellable():
    g = RateLimitGovernor(RateLimitConfig())
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=30000))
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(LlmCancelled):
        g.wait_for_ready(token)


def test_header_parsing():
    assert retry_after_ms({"retry-after": "2"}) == 2000
    assert retry_after_ms({"retry-after": "1500"}) == 1500
    assert retry_after_ms({"retry-after-ms": "250", "retry-after": "9"}) == 250
    assert retry_after_ms({}) is None
    headers = {
        "anthropic-ratelimit-requests-limit": "100",
        "anthropic-ratelimit-requests-remaining": "90",
        "anthropic-ratelimit-input-tokens-limit": "1000",
        "anthropic-ratelimit-input-tokens-remaining": "150",
    }
    assert utilization_from_headers(headers) == (0.85, "itpm")
    assert utilization_from_headers({}) == (None, None)


def test_progress_line():
    event = GovernorEvent("wait_tick", {"provider": "anthropic-api", "type": "http_429", "remainingMs": 95000})
    assert progress_line(event) == "Rate-limited (anthropic-api http_429); resuming in 1m35s; Ctrl+C to stop"
    assert format_wait(4000) == "4s"
    assert progress_line(GovernorEvent("rate_limit_observed", {})) is None


def test_cli_shows_long_waits_once_when_not_a_terminal():
    import io

    from ktx.cli.progress import show_rate_limit_waits

    clock = Clock()
    g = governor(clock)
    out = io.StringIO()
    unsubscribe = show_rate_limit_waits(g, out)
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=500))  # short: not shown
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=42000, rate_limit_type="http_429"))
    assert out.getvalue() == "Rate-limited (anthropic-api http_429); resuming in 42s; Ctrl+C to stop\n"
    unsubscribe()
    g.report(RateLimitSignal("anthropic-api", "rejected", retry_after_ms=99000))
    assert out.getvalue().count("\n") == 1
