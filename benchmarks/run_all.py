"""`make bench`: run every benchmark script in this folder and print its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("*.py")):
        # found_schemas.py and real_schemas.py run inside relationships.py.
        skipped = ("run_all.py", "__init__.py", "search_corpus.py", "found_schemas.py", "real_schemas.py")
        if script.name in skipped or script.name.startswith("_"):
            continue
        print(f"== {script.stem}", flush=True)
        failed += subprocess.run([sys.executable, str(script)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
