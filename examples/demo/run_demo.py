"""`make demo`: build the bundled example into a fresh project and show what ktx sees.

For now the demo initialises a project in a temporary directory and prints `ktx status`;
later steps add the demo warehouse, ingest and semantic queries.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def ktx(*args: str, cwd: Path) -> int:
    print(f"\n$ ktx {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "ktx", *args], cwd=cwd).returncode


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ktx-demo-"))
    project = workdir / "demo"
    if ktx("admin", "init", str(project), cwd=workdir) != 0:
        return 1
    # `status` exits 1 only when blocked; a fresh demo project without an LLM is "partial".
    if ktx("status", "--output", "plain", cwd=project) != 0:
        return 1
    print(f"\nDemo project left at {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
