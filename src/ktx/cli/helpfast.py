"""Help without the modules help never uses.

Typer's help formatter imports `rich.markdown` (and through it markdown-it) and `rich.traceback` at import time,
~70 ms of a ~200 ms `ktx --help`, although ktx renders help in rich markup mode (never Markdown) with pretty
exceptions off (never a rich Traceback). For a help invocation only, those two modules are stood in for by
placeholders whose names load the real module the first time they are actually used, so nothing changes if they are.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def _real(module: str) -> types.ModuleType:
    stub = sys.modules.get(module)
    if getattr(stub, "__ktx_deferred__", False):
        del sys.modules[module]
    real = importlib.import_module(module)
    parent, _, child = module.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, real)
    return real


def _placeholder(module: str, name: str) -> type:
    class Deferred:
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return getattr(_real(module), name)(*args, **kwargs)

    Deferred.__name__ = Deferred.__qualname__ = name
    return Deferred


def defer_unused_help_modules() -> None:
    for module, names in DEFERRED.items():
        if module in sys.modules:
            continue
        stub = types.ModuleType(module)
        stub.__ktx_deferred__ = True  # type: ignore[attr-defined]
        for name in names:
            setattr(stub, name, _placeholder(module, name))
        stub.__getattr__ = _forward(module)  # type: ignore[method-assign]
        sys.modules[module] = stub


def _forward(module: str) -> Any:
    def attribute(name: str) -> Any:
        if name.startswith("__"):  # the import system's own probes (`__path__`, `__spec__`): not a use
            raise AttributeError(name)
        return getattr(_real(module), name)

    return attribute


def is_help(args: list[str]) -> bool:
    options = args[: args.index("--")] if "--" in args else args
    return any(a in ("--help", "-h") for a in options)
