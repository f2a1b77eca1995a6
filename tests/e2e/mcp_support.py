"""Helpers for the MCP tests: a project built the way a user builds one (demo warehouse, `ktx ingest`, the bundled
overlays and wiki), and the official `mcp` client over stdio or HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.conftest import clean_env

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo"
SECRET_PASSWORD = "s3cret-pw-never-shown"


def build_served_project(base: Path, *, ingest: bool = True) -> Path:
    """A project over the demo DuckDB shop; ingested and given the demo overlays and wiki unless `ingest=False`."""
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    root = base / "proj"
    env = clean_env(home)
    subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(root)], env=env, check=True, capture_output=True)
    sys.path.insert(0, str(DEMO))
    import warehouse

    warehouse.build_duckdb(root / "shop.duckdb")
    text = (root / "ktx.yaml").read_text()
    # A second connection whose password must never reach any tool output, log or state file.
    (root / "ktx.yaml").write_text(
        text.replace("connections: {}", "")
        + "\nconnections:\n  warehouse:\n    driver: duckdb\n    path: shop.duckdb\n"
        + f"  pg:\n    driver: postgres\n    url: postgresql://postgres:{SECRET_PASSWORD}@127.0.0.1:1/none\n"
    )
    if ingest:
        done = subprocess.run(
            [sys.executable, "-m", "ktx", "ingest", "warehouse", "--json"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        shutil.copytree(DEMO / "project", root, dirs_exist_ok=True)
    return root


def ktx_env(home: Path, **extra: str) -> dict[str, str]:
    return clean_env(home, **extra)


def stdio_params(root: Path, home: Path) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable, args=["-m", "ktx", "--project-dir", str(root), "mcp", "stdio"], env=ktx_env(home)
    )


@asynccontextmanager
async def http_client(url: str, headers: dict[str, str] | None = None):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    # TCP_NODELAY: without it each request on a kept-alive connection waits ~40 ms for a delayed ACK.
    transport = httpx2.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=60, transport=transport) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def structured(result: Any) -> dict[str, Any]:
    """The structured result of a successful call, checked against its text copy."""
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert json.loads(result.content[0].text) == data
    return data


def error_text(result: Any) -> str:
    assert result.is_error, result
    return result.content[0].text


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
