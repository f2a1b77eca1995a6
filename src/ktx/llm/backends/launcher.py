"""Launchers that set a child process's environment exactly.

The Claude Agent SDK and the Codex SDK both merge the parent environment into their child's, so
neither can remove a variable. A launcher is a tiny generated executable that fixes the
environment and then execs the real binary: `strip` removes listed names, `keep` removes all
but the listed names.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

_TEMPLATE = """#!{python} -S
# ktx launcher: fix the child environment, then exec the real binary.
import os, sys
strip, keep = {strip!r}, {keep!r}
for key in list(os.environ):
    if key in strip or (keep is not None and key not in keep):
        del os.environ[key]
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def env_launcher(real: str, *, strip: Sequence[str] = (), keep: Sequence[str] | None = None) -> Path:
    text = _TEMPLATE.format(
        python=sys.executable, strip=tuple(strip), keep=None if keep is None else tuple(keep), real=real
    )
    folder = Path(tempfile.gettempdir()) / f"ktx-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"launcher-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(stat.S_IRWXU)
        os.replace(tmp, path)
    return path


def checked_cli_override(path: str, env_name: str, product: str, fallback: str) -> str:
    """An overridden CLI path that exists and is executable, else a clear error naming the variable."""
    import os

    from ktx.llm.port import LlmError

    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise LlmError(
            f"{product} CLI not found: {env_name}={path} is not an executable file.",
            hint=f"Point {env_name} at the CLI binary, or unset it to use {fallback}.",
        )
    return path
