"""Transient progress lines on stderr: rate-limit waits during LLM-backed commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from ktx.llm.governor import GovernorEvent, RateLimitGovernor, progress_line

MIN_VISIBLE_WAIT_MS = 2000  # shorter pauses are not worth a line


def show_rate_limit_waits(governor: RateLimitGovernor, stream: TextIO | None = None) -> Callable[[], None]:
    """Print `Rate-limited (…); resuming in …; Ctrl+C to stop` while a long pause lasts.

    On a terminal the line rewrites itself in place and is cleared when work resumes; elsewhere
    one line is printed when the pause starts. Returns the unsubscribe function.
    """
    out = stream or sys.stderr
    interactive = out.isatty()
    state = {"shown": False}

    def on_event(event: GovernorEvent) -> None:
        if event.kind == "wait_finished":
            if state["shown"] and interactive:
                out.write("\r\033[K")
                out.flush()
            state["shown"] = False
            return
        remaining = event.data.get("remainingMs", event.data.get("waitMs", 0))
        line = progress_line(event)
        if line is None or remaining < MIN_VISIBLE_WAIT_MS:
            return
        if interactive:
            out.write("\r\033[K" + line)
            out.flush()
            state["shown"] = True
        elif event.kind == "wait_started":
            out.write(line + "\n")
            out.flush()
            state["shown"] = True

    return governor.subscribe(on_event)
