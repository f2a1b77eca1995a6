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


# ---- help already rendered ----------------------------------------------------------------------------------------
# Help text is a pure function of ktx's code, the command line and the terminal: rendered once, it is kept under the
# user's cache directory and printed from there next time (a file read instead of building every command).
_TERMINAL_ENV = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM", "TTY_COMPATIBLE",
                 "TTY_INTERACTIVE", "PYTHONIOENCODING", "KTX_OUTPUT")  # fmt: skip


def cache_dir() -> Any:
    import os
    from pathlib import Path

    chosen = os.environ.get("KTX_HELP_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except (RuntimeError, KeyError):  # no home directory to keep it in
        return None
    return Path(base) / "ktx" / "help"


def cache_key(args: list[str]) -> str:
    """ktx's code (every module's path, size and time), the command line, and what decides how the terminal renders."""
    import hashlib
    import os
    import shutil
    from pathlib import Path

    import ktx

    digest = hashlib.blake2b(digest_size=16)
    package = Path(ktx.__file__).parent
    for folder, dirs, files in os.walk(package):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else 0
    terminal = [f"{k}={os.environ.get(k, '')}" for k in _TERMINAL_ENV]
    digest.update(repr((args, tty, width, terminal, sys.stdout.encoding)).encode())
    return digest.hexdigest()


class _Tee:
    """stdout for the one help render: written through, and kept."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self.kept: list[str] = []

    def write(self, text: Any) -> int:
        written = self._out.write(text)
        self.kept.append(text.decode(self._out.encoding or "utf-8") if isinstance(text, bytes) else str(text))
        return written

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, flush: the real stream's
        return getattr(self._out, name)


def print_cached(args: list[str]) -> bool:
    """Print the help this command line rendered before, if it is kept; True when it was."""
    try:
        folder = cache_dir()
        if folder is None:
            return False
        text = (folder / f"{cache_key(args)}.txt").read_text(encoding="utf-8")
    except Exception:  # a kept help that cannot be read is only rendered again
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def render_and_keep(args: list[str], render: Any) -> int:
    """Render help through `render(args)` with stdout kept, and keep it when it succeeded."""
    try:
        folder = cache_dir()
        key = cache_key(args) if folder is not None else ""
    except Exception:  # no way to key it (no stdout, no home): rendered, not kept
        folder = None
    if folder is None:
        return int(render(args))
    tee = _Tee(sys.stdout)
    sys.stdout = tee  # type: ignore[assignment]
    try:
        code = int(render(args))
    finally:
        sys.stdout = tee._out
    text = "".join(tee.kept)
    if code == 0 and text:
        import contextlib
        import os

        with contextlib.suppress(OSError):  # a cache that cannot be written is only a slower next help
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f"{key}.{os.getpid()}.tmp"
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, folder / f"{key}.txt")
    return code
