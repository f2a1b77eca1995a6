"""Calls to a SaaS context source's HTTP API (Metabase, Notion, Looker), paced by the ingest rate-limit governor.

A 429 pauses every call of the run for the time the service asks (`Retry-After`, seconds or an HTTP date; a
backoff when it names none), then the call is retried, up to `ingest.rateLimit.retry.maxAttempts` attempts; a 5xx
or a dropped connection is retried the same way. A rejected credential is one line naming the setting to fix.
Messages never carry the credential: it travels only in a request header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from ktx.errors import KtxError

T = TypeVar("T")
# A service asking for a longer pause than this (a daily quota) ends the run with a message instead of a long wait.
MAX_RETRY_AFTER_MS = 300_000


class ApiAuthError(KtxError):
    """The service refused the credential (401/403): nothing was fetched."""


@dataclass
class Retryable(Exception):
    """Raised inside a paced call: wait (`retry_after_ms`, or a backoff when None) and call again."""

    status: int | None
    retry_after_ms: float | None
    detail: str


def retry_after_ms(value: str | None) -> float | None:
    """`Retry-After` in milliseconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text) * 1000)
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(text).timestamp() - time.time()) * 1000)
    except (TypeError, ValueError):
        return None


def governor_for(config: Any) -> Any:
    """A governor from `ingest.rateLimit` (shared by every call of one source run)."""
    from ktx.llm.governor import RateLimitGovernor

    return RateLimitGovernor(config.ingest.rateLimit)


def paced(call: Callable[[], T], *, governor: Any, provider: str, what: str) -> T:
    """`call()`, waiting and retrying on `Retryable` as the governor decides; the last failure is a KtxError."""
    from ktx.llm.governor import RateLimitSignal

    attempts = governor.max_retry_attempts()
    for attempt in range(attempts):
        governor.wait_for_ready()
        try:
            return call()
        except Retryable as exc:
            if exc.retry_after_ms is not None and exc.retry_after_ms > MAX_RETRY_AFTER_MS:
                raise KtxError(
                    f"{what}: {exc.detail}; the service asks to wait {exc.retry_after_ms / 1000:.0f} s",
                    hint="Run the ingest again later.",
                ) from None
            if attempt + 1 >= attempts:
                raise KtxError(
                    f"{what}: {exc.detail} (gave up after {attempts} attempts)",
                    hint="Try again later, or raise ingest.rateLimit.retry.maxAttempts.",
                ) from None
            if exc.status == 429:
                governor.report(RateLimitSignal(provider, "rejected", retry_after_ms=exc.retry_after_ms))
            else:  # a server error: back off without treating it as a rate limit signal with a known reset
                governor.report(RateLimitSignal(provider, "rejected", retry_after_ms=governor.backoff_ms(attempt)))
    raise AssertionError("unreachable")


class JsonApi:
    """GET/POST JSON against one base URL with httpx, each call paced (see the module)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        governor: Any,
        provider: str,
        label: str,
        auth_hint: str,
        timeout_s: float = 30.0,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s, follow_redirects=False)
        self.governor = governor
        self.provider = provider
        self.label = label
        self.auth_hint = auth_hint
        self.calls = 0

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> JsonApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def request(
        self, method: str, path: str, *, params: Any = None, body: Any = None, not_found: Any = KtxError
    ) -> Any:
        """The decoded JSON; `not_found` (when not KtxError) is returned for a 404 instead of failing."""
        import httpx

        what = f"{self.label} {method} {path}"

        def once() -> Any:
            self.calls += 1
            try:
                response = self.client.request(method, path, params=params, json=body)
            except httpx.TimeoutException:
                raise Retryable(None, None, "timed out") from None
            except httpx.TransportError as exc:
                raise Retryable(None, None, f"connection failed ({type(exc).__name__})") from None
            if response.status_code == 429:
                raise Retryable(429, retry_after_ms(response.headers.get("retry-after")), "rate limited (429)")
            if response.status_code >= 500:
                raise Retryable(response.status_code, None, f"server error {response.status_code}")
            return response

        response = paced(once, governor=self.governor, provider=self.provider, what=what)
        if response.status_code in (401, 403):
            # One line with the fix: `connection test` and the ingest report show only the message.
            raise ApiAuthError(
                f"{self.label} refused the credential ({response.status_code} on {path}): {self.auth_hint}"
            )
        if response.status_code == 404 and not_found is not KtxError:
            return not_found
        if response.status_code >= 400:
            raise KtxError(f"{what} failed: {response.status_code} {_short_body(response.text)}")
        try:
            return response.json()
        except (json.JSONDecodeError, ValueError):
            raise KtxError(f"{what} did not answer JSON: {_short_body(response.text)}") from None


def _short_body(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:200] + ("…" if len(flat) > 200 else "")
