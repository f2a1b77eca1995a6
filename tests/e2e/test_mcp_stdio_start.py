"""`ktx mcp stdio` answers a returning client's handshake before the MCP SDK has loaded (a recording of what the SDK
answered last time), then hands the session to the SDK: a real `ktx` subprocess driven over its pipes, and the
official MCP client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.mcp_support import build_served_project, ktx_env, stdio_params

CACHE = Path(".ktx/cache/mcp-stdio-handshake.json")


def _init(request_id: int, version: str = "2025-06-18") -> dict[str, Any]:
    client = {"name": "raw-pipe", "version": "1"}
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": client}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _session(root: Path, home: Path, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send each message (waiting for the answer to a request before the next), close stdin, and return every
    line the server wrote to stdout, parsed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktx", "--project-dir", str(root), "mcp", "stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ktx_env(home),
    )
    assert proc.stdin and proc.stdout
    lines = []
    for message in messages:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        if "id" in message:
            lines.append(json.loads(proc.stdout.readline()))
    proc.stdin.close()
    lines += [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return lines


def _handshake(version: str = "2025-06-18") -> list[dict[str, Any]]:
    call = {"name": "wiki_search", "arguments": {"query": "revenue", "limit": 3}}
    return [
        _init(1, version),
        INITIALIZED,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": call},
    ]


def test_a_second_start_answers_exactly_as_the_sdk_did_and_once(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path), tmp_path / "home"
    first = _session(root, home, _handshake())
    assert (root / CACHE).is_file()  # recorded for the next start
    second = _session(root, home, _handshake())
    # one answer per request, in order, nothing more on stdout (the SDK's own answer to the replayed initialize
    # is not sent again)
    assert [m["id"] for m in first] == [m["id"] for m in second] == [1, 2, 3, 4]
    assert second[0]["result"] == first[0]["result"]  # initialize: server info, capabilities, instructions
    assert second[1]["result"] == first[1]["result"]  # the tool list, schemas included
    assert second[2]["result"] == {}
    # the call after the early answers is the SDK's, on a session that knows the client
    assert second[3]["result"] == first[3]["result"] and not second[3]["result"].get("isError")
    assert json.loads(second[3]["result"]["content"][0]["text"])["results"]


def test_a_changed_configuration_is_never_answered_from_the_old_recording(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path), tmp_path / "home"
    listed = next(m for m in _session(root, home, _handshake()) if m["id"] == 2)["result"]["tools"]
    assert "memory_ingest" not in {t["name"] for t in listed}
    config = root / "ktx.yaml"
    config.write_text(config.read_text().replace("backend: none", "backend: anthropic", 1))
    listed = next(m for m in _session(root, home, _handshake()) if m["id"] == 2)["result"]["tools"]
    assert "memory_ingest" in {t["name"] for t in listed}  # the LLM tools a configured backend brings


def test_a_new_project_starts_from_the_users_recording(tmp_path: Path) -> None:
    """The handshake depends on ktx, the SDK and whether an LLM backend is configured — not on the project: a
    project served for the first time is answered from the recording another project of the user made (so no
    answer is left to record in it), unless its configuration changes the tool list."""
    home = tmp_path / "home"
    first_root = build_served_project(tmp_path / "one")
    first = _session(first_root, home, _handshake())
    shared = list((home / ".cache" / "ktx" / "mcp-stdio").glob("*.json"))
    assert len(shared) == 1 and json.loads(shared[0].read_text())["answers"]
    second_root = build_served_project(tmp_path / "two")
    config = second_root / "ktx.yaml"
    config.write_text(config.read_text() + "\n# another project, other settings\n")
    second = _session(second_root, home, _handshake())
    assert [m["result"] for m in second[:3]] == [m["result"] for m in first[:3]]
    assert not (second_root / CACHE).exists()  # everything it was asked was answered from the user's recording
    assert not second[3]["result"].get("isError")


def test_a_protocol_version_not_recorded_is_answered_by_the_sdk(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path), tmp_path / "home"
    _session(root, home, _handshake("2025-06-18"))
    other = _session(root, home, _handshake("2025-03-26"))
    assert [m["id"] for m in other] == [1, 2, 3, 4]
    assert other[0]["result"]["protocolVersion"] == "2025-03-26"
    recorded = json.loads((root / CACHE).read_text())["answers"]
    assert {"initialize|2025-06-18", "initialize|2025-03-26", "tools/list|2025-06-18"} <= set(recorded)


def test_a_client_that_leaves_after_the_handshake_ends_the_server(tmp_path: Path) -> None:
    root, home = build_served_project(tmp_path), tmp_path / "home"
    _session(root, home, _handshake())
    started = time.monotonic()
    lines = _session(root, home, [_init(7), INITIALIZED])
    assert [m["id"] for m in lines] == [7]
    assert time.monotonic() - started < 30


def test_the_official_client_on_a_recorded_start(tmp_path: Path) -> None:
    from mcp import Client

    root, home = build_served_project(tmp_path), tmp_path / "home"

    async def use() -> tuple[list[str], Any]:
        async with Client(stdio_params(root, home)) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool("wiki_search", {"query": "revenue", "limit": 3})
            return names, result

    first_names, _ = asyncio.run(use())
    # the client speaks the stateless protocol (2026-07-28): `server/discover`, each request naming its version
    recorded = json.loads((root / CACHE).read_text())["answers"]
    assert {"server/discover|2026-07-28", "tools/list|2026-07-28"} <= set(recorded)
    names, result = asyncio.run(use())  # answered from the recording, then by the SDK
    assert names == first_names and "sl_query" in names
    assert not result.is_error and result.structured_content["results"]
