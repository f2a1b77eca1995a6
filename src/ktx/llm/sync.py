"""Run SDK coroutines from ktx's synchronous runtime, whether or not a loop is already running."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """`anyio.run` in this thread, or in a helper thread when this thread already runs a loop
    (for example inside the MCP server)."""
    import anyio

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, main).result()


def run_with_deadline(call: Any, seconds: float, message: str) -> Any:
    """Run a probe in a daemon thread; past `seconds`, give up waiting with LlmError(message).

    A probe talks to a CLI or a server that may never answer (not logged in, no network); the thread is
    left to finish on its own, since neither SDK offers a reliable way to abort from outside.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="ktx-probe")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        from ktx.llm.port import LlmError

        raise LlmError(message)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
