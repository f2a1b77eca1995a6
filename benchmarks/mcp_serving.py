"""`ktx mcp` figures, measured with the official MCP client against the real daemon:

1. `wiki_search` over HTTP, 16 concurrent clients (2 load processes × 8 sessions, a lean client), 10,000-page
   wiki: calls/s and p50/p95 per call (budget ≥ 300 calls/s, p95 ≤ 50 ms), once with the benchmark's questions
   repeated (each asked once beforehand, so the timed run is answered from the server's result cache), once
   with distinct questions, and once mixed: every other call an `sl_query` on the demo DuckDB;
2. `sl_query` (compile + execute on the demo DuckDB) and `wiki_search` (questions not asked before) over HTTP, one
   client: p50/p95 per call (budget p50 ≤ 10 ms each); then item 1 again on a daemon started with `--json-responses`
   (one JSON body per request, no progress notifications);
3. `ktx mcp stdio` from process start to the answer of `tools/list`: median of 10 (budget ≤ 300 ms), answered
   from the handshake the SDK gave last time; a project's first start after another was served (the user's shared
   recording), median of 5; with nothing recorded at all (the first start of this ktx), median of 5; and the
   first start right after `ktx setup --target claude-desktop` recorded the handshake, median of 5.

Usage: python benchmarks/mcp_serving.py [seconds-per-load-run]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from tests.e2e.mcp_support import build_served_project, free_port, http_client, ktx_env, stdio_params  # noqa: E402

from search_corpus import QUERIES, build_corpus, write_pages  # noqa: E402

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
PROCESSES, SESSIONS = 2, 8


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


class LeanSession:
    """A minimal streamable-HTTP MCP client (initialize, then tools/call), so the load measures the server
    rather than the official client's per-call validation, which costs more CPU than the call on 2 cores."""

    def __init__(self, http: Any, url: str) -> None:
        self.http, self.url, self.next_id = http, url, 1
        self.headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    async def post(self, method: str, params: dict | None = None, *, notify: bool = False) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if not notify:
            body["id"] = self.next_id
            self.next_id += 1
        response = await self.http.post(self.url, content=json.dumps(body), headers=self.headers)
        response.raise_for_status()
        if notify:
            return None
        text = response.text
        payload = text if text.startswith("{") else next(ln[5:] for ln in text.splitlines() if ln.startswith("data:"))
        return json.loads(payload)


async def _load(url: str, tool: str, args_list: list[dict], sessions: int, duration: float) -> list[float]:
    import httpx2

    latencies: list[float] = []
    transport = httpx2.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    limits = httpx2.Limits(max_connections=sessions, max_keepalive_connections=sessions)

    async def one(http: Any, offset: int) -> None:
        session = LeanSession(http, url)
        first = await http.post(
            url,
            content=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "b", "version": "1"},
                    },
                }
            ),
            headers=session.headers,
        )
        session.headers["mcp-session-id"] = first.headers["mcp-session-id"]
        session.headers["mcp-protocol-version"] = "2025-06-18"
        await session.post("notifications/initialized", notify=True)
        deadline = time.perf_counter() + duration
        i = offset * (len(args_list) // max(1, sessions * 4))  # spread sessions over the list
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            call = args_list[i % len(args_list)]
            name, arguments = (call["tool"], call["arguments"]) if "tool" in call else (tool, call)  # a mixed load
            answer = await session.post("tools/call", {"name": name, "arguments": arguments})
            latencies.append((time.perf_counter() - started) * 1000)
            assert not answer["result"].get("isError"), answer
            i += 1

    async with httpx2.AsyncClient(timeout=60, transport=transport, limits=limits) as http:
        await asyncio.gather(*(one(http, k) for k in range(sessions)))
    return latencies


async def _ask_each(url: str, args_list: list[dict]) -> None:
    async with http_client(url) as client:
        for args in args_list:
            await client.call_tool("wiki_search", args)


def _worker(url: str, tool: str, args_list: list[dict], sessions: int, duration: float, out) -> None:
    out.put(asyncio.run(_load(url, tool, args_list, sessions, duration)))


def load_run(url: str, tool: str, args_list: list[dict], processes: int, sessions: int) -> tuple[float, list[float]]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_worker, args=(url, tool, args_list, sessions, DURATION, queue))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    samples: list[float] = []
    for _ in workers:
        samples += queue.get(timeout=DURATION + 120)  # a worker that crashed must not hang the benchmark
    for w in workers:
        w.join()
    # Each session warms up before its timed loop; throughput counts only the timed calls.
    return len(samples) / DURATION, samples if samples else [float("nan")]


async def stdio_start(root: Path, home: Path) -> float:
    from mcp import Client

    started = time.perf_counter()
    async with Client(stdio_params(root, home)) as client:
        await client.list_tools()
        return (time.perf_counter() - started) * 1000


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="ktx-bench-mcp-"))
    root, home = build_served_project(base), base / "home"
    pages = build_corpus(extra=max(0, 10_000 - len(build_corpus())))
    write_pages(root / "wiki" / "global", pages)
    ktx = [sys.executable, "-m", "ktx", "--project-dir", str(root)]
    subprocess.run([*ktx, "admin", "reindex"], check=True, capture_output=True)
    port = free_port()
    subprocess.run([*ktx, "mcp", "start", "--port", str(port)], check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        queries = [{"query": q, "limit": 10} for q, _ in QUERIES]
        # Distinct questions (each a benchmark query plus a word of another): every call is a cache miss.
        distinct = [{"query": f"{q} {other.split()[0]}", "limit": 10} for q, _ in QUERIES for other, _ in QUERIES]
        sl = [
            {
                "connectionId": "warehouse",
                "measures": ["orders.revenue"],
                "dimensions": [{"field": "orders.ordered_at", "granularity": "month"}],
            },
            {"connectionId": "warehouse", "measures": [{"expr": "count(orders.id)", "name": "n"}]},
        ]
        # Every other call a semantic query (compiled once, executed on DuckDB each time), the rest distinct searches.
        mixed = [
            call
            for i, question in enumerate(distinct)
            for call in ({"tool": "wiki_search", "arguments": question}, {"tool": "sl_query", "arguments": sl[i % 2]})
        ]
        loads = (("repeated questions", queries), ("distinct questions", distinct), ("wiki_search + sl_query", mixed))
        for label, workload in loads:
            if workload is queries:
                # Each question asked once first: the timed run measures answers from the server's result cache,
                # not the first 66 searches queued behind 16 clients.
                asyncio.run(_ask_each(url, queries))
            rate, samples = load_run(url, "wiki_search", workload, PROCESSES, SESSIONS)
            print(
                f"wiki_search over HTTP, {PROCESSES * SESSIONS} clients, {len(pages)} pages, {label}: "
                f"{rate:.0f} calls/s, p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms "
                "(budget ≥ 300 calls/s, p95 ≤ 50 ms)"
            )
        _, sl_samples = load_run(url, "sl_query", sl, 1, 1)
        print(
            f"sl_query over HTTP, one client (compile + execute, demo DuckDB): p50 {statistics.median(sl_samples):.1f} "
            f"ms, p95 {percentile(sl_samples, 0.95):.1f} ms ({len(sl_samples)} calls; budget p50 ≤ 10 ms)"
        )
        # Questions none of the runs above asked (their words in another order): each one is searched.
        unasked = [{"query": f"{other.split()[0]} {q}", "limit": 10} for q, _ in QUERIES for other, _ in QUERIES]
        _, one_samples = load_run(url, "wiki_search", unasked, 1, 1)
        print(
            f"wiki_search over HTTP, one client, distinct questions: p50 {statistics.median(one_samples):.1f} ms, "
            f"p95 {percentile(one_samples, 0.95):.1f} ms ({len(one_samples)} calls; budget p50 ≤ 10 ms)"
        )
        # The same load on a daemon answering with JSON bodies (no event stream, no progress notifications).
        subprocess.run([*ktx, "mcp", "stop"], capture_output=True)
        subprocess.run([*ktx, "mcp", "start", "--port", str(port), "--json-responses"], check=True, capture_output=True)
        asyncio.run(_ask_each(url, queries))
        for label, workload in loads:
            rate, samples = load_run(url, "wiki_search", workload, PROCESSES, SESSIONS)
            print(
                f"wiki_search over HTTP with --json-responses, {PROCESSES * SESSIONS} clients, {label}: "
                f"{rate:.0f} calls/s, p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms "
                "(budget ≥ 300 calls/s, p95 ≤ 50 ms)"
            )
    finally:
        subprocess.run([*ktx, "mcp", "stop"], capture_output=True)
    recording = root / ".ktx" / "cache" / "mcp-stdio-handshake.json"
    shared = home / ".cache" / "ktx" / "mcp-stdio"
    unrecorded, new_project = [], []
    for _ in range(5):
        recording.unlink(missing_ok=True)
        shutil.rmtree(shared, ignore_errors=True)
        unrecorded.append(asyncio.run(stdio_start(root, home)))
    for _ in range(5):
        recording.unlink(missing_ok=True)  # a project never served, on a machine that served another
        new_project.append(asyncio.run(stdio_start(root, home)))
    after_setup = []
    for _ in range(5):  # the first start of Claude Desktop right after `ktx setup` wrote its entry
        recording.unlink(missing_ok=True)
        shutil.rmtree(shared, ignore_errors=True)
        setup = [*ktx, "setup", "--agents", "--no-input", "--target", "claude-desktop"]
        subprocess.run(setup, check=True, capture_output=True, env=ktx_env(home))
        after_setup.append(asyncio.run(stdio_start(root, home)))
    starts = [asyncio.run(stdio_start(root, home)) for _ in range(10)]
    print(
        f"ktx mcp stdio, process start → tools/list answered: median {statistics.median(starts):.0f} ms "
        f"(budget 300 ms); a project's first start, after another project was served with this ktx: "
        f"{statistics.median(new_project):.0f} ms; the very first start of this ktx (nothing recorded): "
        f"{statistics.median(unrecorded):.0f} ms; the first start after `ktx setup --target claude-desktop` "
        f"(which records the handshake): {statistics.median(after_setup):.0f} ms"
    )


if __name__ == "__main__":
    main()
