"""Where the MCP server runs tool calls: a tool answered from the project's files (`Tool.local`) runs in a pool of
LOCAL_THREADS, so a burst of searches does not contend with itself; any other tool (a warehouse query, a model
call) runs beside them and never makes a local call wait. Served in-process to the official client."""

from __future__ import annotations

import threading
from typing import Any

import anyio
from mcp import Client
from pydantic import BaseModel, ConfigDict

from ktx.mcp.server import LOCAL_THREADS, build_server
from ktx.tools import Tool


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Probe:
    """Handlers that block until released, counting how many of each kind run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = {"local": 0, "remote": 0}
        self.most = {"local": 0, "remote": 0}

    def blocking(self, kind: str) -> Any:
        def handler(_args: NoArgs) -> dict[str, Any]:
            with self.lock:
                self.running[kind] += 1
                self.most[kind] = max(self.most[kind], self.running[kind])
            try:
                assert self.release.wait(20), "never released"
            finally:
                with self.lock:
                    self.running[kind] -= 1
            return {"kind": kind}

        return handler

    def server(self) -> Any:
        tools = [
            Tool("warehouse_wait", "A call waiting on a warehouse.", NoArgs, self.blocking("remote")),
            Tool("local_hold", "A local call that holds its thread.", NoArgs, self.blocking("local"), local=True),
            Tool("local_peek", "A quick local call.", NoArgs, lambda _a: {"ok": True}, local=True),
        ]
        return build_server(tools)


async def _until(check: Any, seconds: float = 10) -> None:
    with anyio.fail_after(seconds):
        while not check():
            await anyio.sleep(0.01)


def test_calls_waiting_on_a_warehouse_do_not_hold_up_a_local_call() -> None:
    probe = Probe()

    async def main() -> None:
        async with Client(probe.server()) as client, anyio.create_task_group() as tg:
            for _ in range(LOCAL_THREADS + 2):
                tg.start_soon(client.call_tool, "warehouse_wait", {})
            await _until(lambda: probe.running["remote"] == LOCAL_THREADS + 2)
            with anyio.fail_after(10):
                answer = await client.call_tool("local_peek", {})
            assert answer.structured_content == {"ok": True}
            probe.release.set()

    anyio.run(main)


def test_local_calls_run_at_most_local_threads_at_once() -> None:
    probe = Probe()
    done: list[str] = []

    async def call(client: Client, name: str) -> None:
        answer = await client.call_tool(name, {})
        done.append(answer.structured_content["kind"])

    async def main() -> None:
        async with Client(probe.server()) as client, anyio.create_task_group() as tg:
            for _ in range(LOCAL_THREADS + 2):
                tg.start_soon(call, client, "local_hold")
            tg.start_soon(call, client, "warehouse_wait")
            try:
                await _until(lambda: probe.running["local"] == LOCAL_THREADS and probe.running["remote"] == 1)
            except TimeoutError:
                raise AssertionError(probe.running) from None
            await anyio.sleep(0.3)  # the calls beyond the pool stay queued
            assert probe.running["local"] == LOCAL_THREADS
            probe.release.set()
        assert sorted(done) == ["local"] * (LOCAL_THREADS + 2) + ["remote"]
        assert probe.most["local"] == LOCAL_THREADS

    anyio.run(main)
