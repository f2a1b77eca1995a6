"""The daemon's event-loop thread tells sniffio it runs asyncio (anyio asks at every checkpoint); no other thread is
told so — a tool's worker thread must still be seen as outside any event loop."""

from __future__ import annotations

import threading

import pytest

from ktx.mcp.http import _declare_asyncio

sniffio = pytest.importorskip("sniffio")


def test_only_the_declaring_thread_is_said_to_run_asyncio() -> None:
    seen: dict[str, object] = {}

    def loop_thread() -> None:
        _declare_asyncio()
        seen["loop"] = sniffio.current_async_library()

    def worker_thread() -> None:
        try:
            seen["worker"] = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            seen["worker"] = None

    for target in (loop_thread, worker_thread):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    assert seen == {"loop": "asyncio", "worker": None}
