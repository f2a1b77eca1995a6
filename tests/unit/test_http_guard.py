"""The shared HTTP guard: Host allow-list, exact Origin match, bearer token on protected paths."""

from __future__ import annotations

import pytest

from ktx.httpguard import HOST_REFUSED, ORIGIN_REFUSED, TOKEN_REFUSED, HttpGuard, normalize_host, normalize_origin


def scope(path: str = "/mcp", **headers: str) -> dict:
    return {"type": "http", "path": path, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}


def test_host_normalisation():
    assert normalize_host(" LOCALHOST:7878 ") == "localhost"
    assert normalize_host("[::1]:7878") == "::1"
    assert normalize_host("::1") == "::1"


def test_origins_must_be_full_origin_urls():
    assert normalize_origin("https://App.example.com/") == "https://app.example.com"
    for bad in ("example.com", "https://x.com/path", "https://x.com/?q=1", "https://x.com/#h"):
        with pytest.raises(ValueError, match="Allowed origin must be a full origin URL"):
            normalize_origin(bad)


def test_refusals():
    guard = HttpGuard(None, token="t0k", allowed_hosts=["ktx.internal"], allowed_origins=["https://app.example.com"])
    assert guard.refusal(scope(host="127.0.0.1:7878", authorization="Bearer t0k")) is None
    assert guard.refusal(scope(host="ktx.internal:7878", authorization="Bearer t0k")) is None
    assert guard.refusal(scope(host="evil.example.com", authorization="Bearer t0k")) == (403, HOST_REFUSED)
    assert guard.refusal(scope()) == (403, HOST_REFUSED)
    assert guard.refusal(scope(host="localhost", origin="https://evil.example.com")) == (403, ORIGIN_REFUSED)
    good_origin = scope(host="localhost", origin="https://app.example.com", authorization="Bearer t0k")
    assert guard.refusal(good_origin) is None
    assert guard.refusal(scope(host="localhost")) == (401, TOKEN_REFUSED)
    assert guard.refusal(scope(host="localhost", authorization="Bearer nope")) == (401, TOKEN_REFUSED)
    assert guard.refusal(scope("/health", host="localhost")) is None  # only protected paths need the token


@pytest.mark.parametrize("host", ["[::1]evil.com:7878", "[::1", "[::1]:port", "localhost:evil", "[evil.com]"])
def test_hosts_that_only_start_like_loopback_are_refused(host):
    assert HttpGuard(None).refusal(scope(host=host)) == (403, HOST_REFUSED)


def test_a_non_ascii_authorization_header_is_a_401_not_a_server_error():
    guard = HttpGuard(None, token="t0k")
    raw = {
        "type": "http",
        "path": "/mcp",
        "headers": [(b"host", b"localhost"), (b"authorization", "Bearer ä".encode())],
    }
    assert guard.refusal(raw) == (401, TOKEN_REFUSED)


def test_duplicate_authorization_or_host_headers_are_refused():
    guard = HttpGuard(None, token="t0k")
    twice = [(b"host", b"localhost"), (b"authorization", b"Bearer nope"), (b"authorization", b"Bearer t0k")]
    assert guard.refusal({"type": "http", "path": "/mcp", "headers": twice}) == (
        400,
        "More than one Authorization header.",
    )
    hosts = [(b"host", b"evil.example.com"), (b"host", b"localhost")]
    assert guard.refusal({"type": "http", "path": "/health", "headers": hosts}) == (400, "More than one Host header.")


def test_a_non_loopback_bind_needs_a_strong_token():
    from ktx.errors import KtxError
    from ktx.mcp.http import HttpSettings

    for weak in (" " * 40, "abc", "a" * 64, "ab" * 32):
        with pytest.raises(KtxError, match="too weak"):
            HttpSettings("0.0.0.0", 7878, weak).validate()
    HttpSettings("0.0.0.0", 7878, "Zq3xP9vK2mL8nR4tW7yB1cD6fG5hJ0sA").validate()
    HttpSettings("127.0.0.1", 7878, "abc").validate()  # loopback: any token the user chooses
