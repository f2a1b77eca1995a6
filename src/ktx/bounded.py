"""Bounded work: run a call that may block (a warehouse statement, a CLI probe) with a deadline and Ctrl+C."""

from __future__ import annotations

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

    worker = threading.Thread(target=target, name="ktx-bounded", daemon=True)
    end = time.monotonic() + deadline_s
    try:
        worker.start()
        while not done.wait(min(0.05, max(end - time.monotonic(), 0.001))):
            if time.monotonic() >= end:
                _cancel_and_settle(cancel, done)
                raise DeadlinePassed
    except (KeyboardInterrupt, SystemExit):
        # Whenever the interrupt lands, a statement still running is cancelled before we unwind: closing
        # the connection under a running statement would otherwise wait for it to finish.
        if worker.is_alive():
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
