"""CLI cold start, whole process: `ktx --version` (goal ≤ 30 ms), `--help` (≤ 150 ms; printed from the help kept
by an earlier render, and — for comparison — rendered every time), and a project command that loads and validates
ktx.yaml (`ktx status --validate`, ≤ 250 ms: the answer kept for the same bytes, and — for comparison — validated
anew every time, as after an edit).

Prints the median and p95 of N runs. Usage: python benchmarks/startup.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KTX = str(Path(sys.executable).with_name("ktx"))


def measure(
    args: list[str], runs: int, cwd: str | None = None, env: dict[str, str] | None = None, forget: Path | None = None
) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        if forget is not None:
            forget.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run([KTX, *args], capture_output=True, check=True, cwd=cwd, env={**os.environ, **(env or {})})
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    project = Path(tempfile.mkdtemp(prefix="ktx-bench-")) / "p"
    subprocess.run([KTX, "admin", "init", str(project)], capture_output=True, check=True)
    cases = (
        ("ktx --version", ["--version"], 30, None, None),
        ("ktx --help", ["--help"], 150, None, None),
        ("ktx --help (rendered)", ["--help"], 0, {"KTX_HELP_CACHE": "off"}, None),
        ("ktx status --validate", ["status", "--validate"], 250, None, None),
        ("ktx status --validate (edited)", ["status", "--validate"], 0, None, project / ".ktx/cache/config-check.json"),
    )
    for label, args, budget, env, forget in cases:
        median, p95 = measure(args, runs, cwd=str(project), env=env, forget=forget)
        note = f"  (goal ≤ {budget} ms)" if budget else ""
        print(f"{label:<30} median {median:6.1f} ms   p95 {p95:6.1f} ms{note}")


if __name__ == "__main__":
    main()
