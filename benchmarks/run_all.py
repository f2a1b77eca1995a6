"""`make bench`: run every benchmark script in this folder and print its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


# Long runs (tens of minutes), only with `--long`: `make bench` stays under ten minutes.
LONG = ("catalog_100k.py",)


def main() -> int:
    failed = 0
    long_runs = "--long" in sys.argv[1:]
    for script in sorted(HERE.glob("*.py")):
        # found_schemas.py and real_schemas.py run inside relationships.py.
        skipped = ("run_all.py", "__init__.py", "search_corpus.py", "found_schemas.py", "real_schemas.py")
        if script.name in skipped or script.name.startswith("_") or (script.name in LONG and not long_runs):
            continue
        print(f"== {script.stem}", flush=True)
        failed += subprocess.run([sys.executable, str(script)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
