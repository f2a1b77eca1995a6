"""Run SDK coroutines from ktx's synchronous runtime, whether or not a loop is already running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
