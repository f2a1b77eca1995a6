"""The per-run loopback MCP server: token and Host checks, only the run's tools, clean shutdown."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from pydantic import BaseModel

from ktx.llm.backends.runtime_mcp import RuntimeMcpServer
from ktx.tools import Tool


class Args(BaseModel):
    table: str


TOOLS = [Tool("lookup_table", "Describe a table", Args, lambda a: f"{a.table}: ok")]
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


def post(url: str, payload: dict, headers: dict[str, str]) -> tuple[int, str]:
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={**base, **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_token_and_host_are_enforced_and_only_run_tools_are_listed():
    with RuntimeMcpServer(TOOLS) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/mcp")
        auth = {"Authorization": f"Bearer {server.token}"}
        assert post(server.url, INIT, {})[0] == 401
        assert post(server.url, INIT, {"Authorization": "Bearer wrong"})[0] == 401
        status, _ = post(server.url, INIT, {**auth, "Host": "evil.example"})
        assert status in (403, 421)
        status, body = post(server.url, INIT, auth)
        assert status == 200 and json.loads(body)["result"]["serverInfo"]["name"] == "ktx-runtime"
        status, body = post(server.url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, auth)
        assert [t["name"] for t in json.loads(body)["result"]["tools"]] == ["lookup_table"]
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_every_run_gets_a_fresh_token():
    with RuntimeMcpServer(TOOLS) as first, RuntimeMcpServer(TOOLS) as second:
        assert first.token != second.token and len(first.token) == 64 and first.url != second.url
