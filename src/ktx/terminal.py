"""The terminal: whether colour is on, and the rich console every face (CLI, setup) draws with."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false")


def color_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return sys.stdout.isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb" and not _truthy(env.get("CI"))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, no_color=not color_enabled())
