"""A large Notion workspace through `ktx ingest`: N pages shared with the integration (`crawl_mode: all_accessible`,
found through search), each with a handful of blocks and a link to another page, served by the loopback stand-in of
Notion's API (tests/fakes/notion_api.py) to the real `notion-client`.

Figures: the whole `ktx ingest` process — wall time, peak RSS (budget 1 GiB), API calls — then an unchanged rerun
(every page reused by `last_edited_time`, no block read) and a rerun after 1 % of the pages were edited.

    python benchmarks/notion_scale.py            # 1,000 pages (part of `make bench`)
    python benchmarks/notion_scale.py --pages 10000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.notion_api import NotionStandIn, NotionState, block, mention, text  # noqa: E402

TOKEN = "ntn_bench_token"
RUN = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def workspace(pages: int) -> NotionState:
    state = NotionState(token=TOKEN)
    for i in range(pages):
        page_id = f"{i + 1:032x}"
        other = f"{(i + 7) % pages + 1:032x}"
        state.add_page(
            page_id,
            f"Runbook {i}",
            [
                block("heading_1", text(f"Section {i}")),
                block("paragraph", text("See "), mention(other, f"Runbook {(i + 7) % pages}"), text(" first.")),
                block("bulleted_list_item", text("Check the orders table")),
                block("bulleted_list_item", text("Compare with last week", italic=True)),
                block("code", text(f"SELECT count(*) FROM orders WHERE batch = {i}"), language="sql"),
            ],
        )
    return state


def ingest(project: Path) -> tuple[int, float, float]:
    cmd = [sys.executable, "-c", RUN, sys.executable, "-m", "ktx", "ingest", "docs", "--json"]
    out = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env={**os.environ, "KTX_BENCH_TOKEN": TOKEN})
    rc, seconds, rss_kib = out.stdout.split()
    return int(rc), float(seconds), int(rss_kib) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args()
    from ktx.project.project import Project, init_project

    state = workspace(args.pages)
    stand_in = NotionStandIn(state)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "proj"
            init_project(project)
            Project(project).update_config(
                lambda d: d.__setitem__(
                    "connections",
                    {"docs": {"driver": "notion", "api_url": stand_in.url, "auth_token_ref": "env:KTX_BENCH_TOKEN",
                              "crawl_mode": "all_accessible", "max_pages_per_run": 10000}},
                ),
                "connections",
            )  # fmt: skip
            calls = len(state.requests)
            rc, first, rss = ingest(project)
            first_calls = len(state.requests) - calls
            written = len(list((project / "wiki" / "global").glob("notion-*.md")))
            calls = len(state.requests)
            rc2, again, _ = ingest(project)
            again_calls = len(state.requests) - calls
            for i in range(0, args.pages, 100):
                page = state.pages[f"{i + 1:032x}"]
                page["last_edited_time"] = "2026-12-01T00:00:00.000Z"
                page["_blocks"] = [block("paragraph", text(f"Rewritten {i}."))]
            rc3, edited, _ = ingest(project)
            ok = rc == rc2 == rc3 == 0 and written == args.pages
            print(
                f"notion {args.pages} pages: first ingest {first:.1f} s ({first_calls} API calls), peak RSS "
                f"{rss:.0f} MiB (budget 1024), {written} wiki pages; unchanged rerun {again:.1f} s "
                f"({again_calls} API calls, no blocks read); 1 % edited {edited:.1f} s"
                + ("" if ok else f" — FAILED (exit codes {rc}, {rc2}, {rc3}; {written} pages)")
            )
            return 0 if ok else 1
    finally:
        stand_in.close()


if __name__ == "__main__":
    sys.exit(main())
