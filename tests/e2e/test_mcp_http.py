"""The HTTP daemon as a user runs it: `ktx mcp start` (a detached process), the official MCP client over
streamable HTTP, the guard's refusals, and the daemon's state, logs, stale-state handling and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest

from tests.e2e.mcp_support import SECRET_PASSWORD, build_served_project, free_port, http_client, ktx_env, structured

TOKEN = "tok-" + "7" * 40


def ktx(root: Path, home: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = ktx_env(home, **({"KTX_MCP_TOKEN": token} if token else {}))
    return subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("mcp-http")
    root, home = build_served_project(base), base / "home"
    port = free_port()
    started = ktx(
        root, home, "mcp", "start", "--port", str(port), "--allowed-origin", "https://app.example.com", token=TOKEN
    )
    assert started.returncode == 0, started.stderr
    assert f"ktx MCP daemon started: http://127.0.0.1:{port}/mcp" in started.stdout
    yield root, home, port
    ktx(root, home, "mcp", "stop")


def test_the_official_client_lists_and_calls_tools_over_http(daemon) -> None:
    root, _, port = daemon

    async def main() -> None:
        async with http_client(f"http://127.0.0.1:{port}/mcp", {"Authorization": f"Bearer {TOKEN}"}) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            assert "sl_query" in tools and "sql_execution" in tools
            result = structured(
                await client.call_tool(
                    "sl_query", {"connectionId": "warehouse", "measures": [{"expr": "count(orders.id)", "name": "n"}]}
                )
            )
            assert result["rows"] == [[300]]
            failed = await client.call_tool("sql_execution", {"connectionId": "pg", "sql": "select 1"})
            assert failed.is_error and SECRET_PASSWORD not in failed.content[0].text

    anyio.run(main)
    for path in (root / ".ktx" / "logs" / "mcp.log", root / ".ktx" / "mcp.json"):
        assert SECRET_PASSWORD not in path.read_text()


def test_a_call_without_a_progress_token_is_answered_with_json_and_one_with_it_streams_progress(daemon) -> None:
    """The default mode chooses per request: a call that asked for no progress gets one JSON body, a call with a
    progress token gets an event stream with its progress before the result — also both at once on one session."""
    _, _, port = daemon
    url = f"http://127.0.0.1:{port}/mcp"
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKEN}",
    }
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    with httpx.Client(timeout=30) as http:
        started = http.post(url, json=init, headers=headers)
        assert started.headers["content-type"].startswith("text/event-stream")  # the session's own mode
        headers |= {"mcp-session-id": started.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        arguments = {"connectionId": "warehouse", "measures": [{"expr": "count(orders.id)", "name": "n"}]}
        plain = http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "sl_query", "arguments": arguments},
            },
            headers=headers,
        )
        assert plain.headers["content-type"].startswith("application/json")
        assert plain.json()["result"]["structuredContent"]["rows"] == [[300]]
        params = {"name": "sl_query", "arguments": arguments, "_meta": {"progressToken": "p1"}}
        streamed = http.post(
            url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}, headers=headers
        )
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        assert [e["params"]["message"] for e in events if e.get("method") == "notifications/progress"] == [
            "Compiling query", "Generating SQL", "Executing", "Fetched 1 rows"
        ]  # fmt: skip
        assert events[-1]["id"] == 3 and events[-1]["result"]["structuredContent"]["rows"] == [[300]]

    async def main() -> None:
        progress: list[str | None] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        async with http_client(url, {"Authorization": f"Bearer {TOKEN}"}) as client:
            answers: dict[str, dict] = {}

            async def call(name: str, **extra: object) -> None:
                answers[name] = structured(await client.call_tool("sl_query", arguments, **extra))

            async with anyio.create_task_group() as group:
                for i in range(4):
                    group.start_soon(call, f"plain{i}")
                group.start_soon(partial(call, "with progress", progress_callback=on_progress))
        assert {name: answer["rows"] for name, answer in answers.items()} == {
            **{f"plain{i}": [[300]] for i in range(4)},
            "with progress": [[300]],
        }
        assert progress == ["Compiling query", "Generating SQL", "Executing", "Fetched 1 rows"]

    anyio.run(main)


def test_refusals_are_plain_text_with_the_right_status(daemon) -> None:
    _, _, port = daemon
    base = f"http://127.0.0.1:{port}"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=10, trust_env=False) as http:
        health = http.get(f"{base}/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        missing = http.post(f"{base}/mcp", json=init, headers=accept)
        assert (missing.status_code, missing.text) == (401, "Missing or invalid ktx MCP bearer token.")
        assert missing.headers["content-type"].startswith("text/plain")
        wrong = http.post(f"{base}/mcp", json=init, headers={**accept, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        host = http.get(f"{base}/health", headers={"Host": "attacker.example"})
        assert (host.status_code, host.text) == (403, "Host header is not allowed for ktx MCP.")
        origin = http.post(
            f"{base}/mcp",
            json=init,
            headers={**accept, "Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"},
        )
        assert (origin.status_code, origin.text) == (403, "Origin header is not allowed for ktx MCP.")
        allowed = http.get(f"{base}/health", headers={"Origin": "https://app.example.com"})
        assert allowed.status_code == 200
        unknown = http.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={**accept, "Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": "no-such-session"},
        )
        assert unknown.status_code == 404
        assert http.get(f"{base}/elsewhere").status_code == 404
        latin = http.post(
            f"{base}/mcp", json=init, headers={**accept, "Authorization": "Bearer \xe4\xe9".encode("latin-1")}
        )
        assert latin.status_code == 401  # was a 500 with a traceback in mcp.log
        tricky = http.get(f"{base}/health", headers={"Host": f"[::1]evil.example:{port}"})
        assert tricky.status_code == 403
    root, _, _ = daemon
    assert "Traceback" not in (root / ".ktx" / "logs" / "mcp.log").read_text()


def test_the_token_is_never_written_down(daemon) -> None:
    root, home, port = daemon
    state = json.loads((root / ".ktx" / "mcp.json").read_text())
    assert state["tokenAuth"] is True and state["port"] == port
    assert TOKEN not in (root / ".ktx" / "mcp.json").read_text()
    assert TOKEN not in (root / ".ktx" / "logs" / "mcp.log").read_text()
    cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().decode()
    assert TOKEN not in cmdline and "serve-internal" in cmdline
    status = ktx(root, home, "mcp", "status", "--json")
    assert TOKEN not in status.stdout
    assert json.loads(status.stdout)["state"] == "running"
    plain = ktx(root, home, "mcp", "status")
    assert "Token auth: enabled" in plain.stdout and f"URL: http://127.0.0.1:{port}/mcp" in plain.stdout


def test_start_again_is_idempotent_and_a_different_config_is_refused(daemon) -> None:
    root, home, port = daemon
    again = ktx(root, home, "mcp", "start", "--port", str(port), token=TOKEN)
    assert again.returncode == 0 and "already running" in again.stdout
    other = ktx(root, home, "mcp", "start", "--port", str(port))
    assert other.returncode == 1
    assert "different configuration" in other.stderr and "ktx mcp stop" in other.stderr


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path, ingest=False), tmp_path / "home"
    refused = ktx(root, home, "mcp", "start", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 1
    assert "Binding ktx MCP to 0.0.0.0 requires --token or KTX_MCP_TOKEN" in refused.stderr
    assert not (root / ".ktx" / "mcp.json").exists()


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path, ingest=False), tmp_path / "home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = ktx(root, home, "mcp", "start", "--port", str(port))
    assert result.returncode == 1
    assert f"Port {port} is already in use. Choose another port with --port <n>." in result.stderr


def test_lifecycle_stale_state_logs_and_stop(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path, ingest=False), tmp_path / "home"
    assert "No MCP daemon state" in ktx(root, home, "mcp", "status").stdout
    assert ktx(root, home, "mcp", "logs").returncode == 1
    port = free_port()
    assert ktx(root, home, "mcp", "start", "--port", str(port)).returncode == 0
    pid = json.loads((root / ".ktx" / "mcp.json").read_text())["pid"]
    logs = ktx(root, home, "mcp", "logs")
    assert logs.returncode == 0 and f"listening at http://127.0.0.1:{port}/mcp" in logs.stdout
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stale = json.loads(ktx(root, home, "mcp", "status", "--json").stdout)
    assert stale["state"] == "stale" and f"process {pid} is not running" in stale["detail"]
    # A dead daemon's state is simply replaced by the next start.
    assert ktx(root, home, "mcp", "start", "--port", str(port)).returncode == 0
    assert json.loads(ktx(root, home, "mcp", "status", "--json").stdout)["state"] == "running"
    stopped = ktx(root, home, "mcp", "stop")
    assert stopped.stdout.strip() == "ktx MCP daemon stopped."
    assert not (root / ".ktx" / "mcp.json").exists()
    assert ktx(root, home, "mcp", "stop").stdout.strip() == "ktx MCP daemon is not running."
    (root / ".ktx" / "mcp.json").write_text("{not json")
    assert json.loads(ktx(root, home, "mcp", "status", "--json").stdout)["state"] == "stale"


def test_a_copied_project_does_not_adopt_the_original_daemon(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path, ingest=False), tmp_path / "home"
    port = free_port()
    assert ktx(root, home, "mcp", "start", "--port", str(port)).returncode == 0
    copy = tmp_path / "copy"
    try:
        subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
        status = json.loads(ktx(copy, home, "mcp", "status", "--json").stdout)
        assert status["state"] == "stale" and "another project" in status["detail"]
        agents = ktx(copy, home, "setup", "--agents", "--no-input", "--target", "claude-code")
        assert agents.returncode == 0, agents.stderr
        written = json.loads((copy / ".mcp.json").read_text())["mcpServers"]["ktx"]["url"]
        assert written == "http://localhost:7878/mcp"  # not the original project's daemon
        stopped = ktx(copy, home, "mcp", "stop")
        assert "not this project's daemon" in stopped.stdout
        assert json.loads(ktx(root, home, "mcp", "status", "--json").stdout)["state"] == "running"
    finally:
        assert ktx(root, home, "mcp", "stop").stdout.strip() == "ktx MCP daemon stopped."


def test_stop_never_signals_a_process_that_is_not_the_daemon(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path, ingest=False), tmp_path / "home"
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        state = {"schemaVersion": 1, "pid": bystander.pid, "host": "127.0.0.1", "port": free_port()}
        (root / ".ktx" / "mcp.json").write_text(json.dumps({**state, "projectDir": str(root)}))
        stopped = ktx(root, home, "mcp", "stop")
        assert stopped.returncode == 0 and "not this project's daemon" in stopped.stdout
        assert bystander.poll() is None  # still running
        assert not (root / ".ktx" / "mcp.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_json_responses_trade_progress_for_speed(tmp_path: Path) -> None:
    """`--json-responses`: every request is answered with one JSON body (no event stream) — the official client
    works the same, a call's progress notifications are not sent; a running daemon started without it is a
    different configuration."""
    root, home = build_served_project(tmp_path), tmp_path / "home"
    port = free_port()
    assert ktx(root, home, "mcp", "start", "--port", str(port), "--json-responses").returncode == 0
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
        answer = httpx.post(url, json=init, headers=headers, timeout=30)
        assert answer.headers["content-type"].startswith("application/json") and answer.json()["result"]

        async def main() -> None:
            progress: list[str | None] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(message)

            async with http_client(url) as client:
                result = structured(
                    await client.call_tool(
                        "sl_query",
                        {"connectionId": "warehouse", "measures": [{"expr": "count(orders.id)", "name": "n"}]},
                        progress_callback=on_progress,
                    )
                )
                assert result["rows"] == [[300]] and progress == []

        anyio.run(main)
        state = json.loads((root / ".ktx" / "mcp.json").read_text())
        assert state["jsonResponses"] is True
        other = ktx(root, home, "mcp", "start", "--port", str(port))
        assert other.returncode == 1 and "different configuration" in other.stderr
    finally:
        ktx(root, home, "mcp", "stop")
