"""Write constraints/dev.txt from a virtual environment's installed packages (used by `make lock`).

ktx itself (installed editable) and torch (installed first by the Makefile, CPU build) are left out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEADER = """\
# The test environment 'make test' installs: every package at the version CI last passed with.
# Regenerate with 'make lock' (a fresh, unconstrained install of the dev extras); 'make test-newest' runs the
# tests against whatever PyPI has today. Users' 'pip install ktx-context[...]' never reads this file.
"""


def main(python: str, target: str) -> None:
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
    ).stdout
    pins = sorted(
        (line for line in frozen.splitlines() if line and not line.startswith(("#", "-e", "torch=="))),
        key=str.lower,
    )
    Path(target).write_text(HEADER + "\n".join(pins) + "\n")
    print(f"{target}: {len(pins)} pins")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
