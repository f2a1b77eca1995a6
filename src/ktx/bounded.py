"""Bounded work: run a call that may block (a warehouse statement, a CLI probe) with a deadline and Ctrl+C."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any


class DeadlinePassed(Exception):
    """The deadline passed; `cancel` was called and the caller stopped waiting."""


def run_bounded(work: Callable[[], Any], *, deadline_s: float, cancel: Callable[[], None] | None = None) -> Any:
    """Run `work` in a worker thread; past `deadline_s` (DeadlinePassed), or on Ctrl+C, call `cancel` and stop
    waiting. Work that cannot be cancelled (an SDK that offers no abort) is left to finish in its daemon thread.

    The work runs off the main thread so that the main thread stays responsive to SIGINT (a blocking C call
    would otherwise hold it until the statement or request ended).
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    end = time.monotonic() + deadline_s
    try:
        _hand_over(target)
        while not done.wait(min(0.05, max(end - time.monotonic(), 0.001))):
            if time.monotonic() >= end:
                _cancel_and_settle(cancel, done)
                raise DeadlinePassed
    except (KeyboardInterrupt, SystemExit):
        # Whenever the interrupt lands, a statement still running is cancelled before we unwind: closing
        # the connection under a running statement would otherwise wait for it to finish.
        if not done.is_set():
            _cancel_and_settle(cancel, done)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _cancel_and_settle(cancel: Callable[[], None] | None, done: threading.Event) -> None:
    """Ask the work to stop and give it a moment to unwind; without a way to cancel, just stop waiting."""
    if cancel is None:
        return
    with suppress(Exception):
        cancel()
    done.wait(5.0)


# Daemon threads kept between bounded calls: starting a thread per warehouse statement cost as much as fetching a
# small DuckDB result. A thread whose work overran its deadline is simply not back yet (another one is started);
# threads beyond MAX_IDLE, or idle for IDLE_SECONDS, end.
MAX_IDLE = 8
IDLE_SECONDS = 30.0
_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()


class _Worker:
    def __init__(self) -> None:
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="ktx-bounded", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                task = self.tasks.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _IDLE_LOCK:
                    if self in _IDLE:
                        _IDLE.remove(self)
                        return
                continue  # handed a task just as the wait ended: it is in the queue
            task()
            del task  # what the work returned is the caller's, not this idle thread's
            with _IDLE_LOCK:
                if len(_IDLE) >= MAX_IDLE:
                    return
                _IDLE.append(self)


def _hand_over(task: Callable[[], None]) -> None:
    """Run `task` on an idle worker thread, or on a new one."""
    with _IDLE_LOCK:
        worker = _IDLE.pop() if _IDLE else None
    (worker or _Worker()).tasks.put(task)
