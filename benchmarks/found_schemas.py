"""Relationship discovery on schemas no one here wrote, every declared key stripped, no LLM.

- `relfx`: twelve fixtures with rows from the reference implementation's benchmark
  (`../shared/data/relfx/<id>/data.sqlite` + `expected-links.yaml`), run through discovery exactly as ingest runs it
  and scored on accepted links and primary keys; a polymorphic column's targets count as found when reported for
  review as polymorphic (they must never be silently one accepted link).
- `spider`: the 25 stripped Spider databases, scored by the data's own `check.py` (it runs `ktx ingest` per
  database; links and keys pooled; its pass mark is F1 ≥ 0.95 for both).

Skips with a message where `../shared/data` is absent.

Usage: python benchmarks/found_schemas.py [relfx|spider] [-v]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from tests.fixtures.relationships.evaluate import Score, discover_fixture  # noqa: E402


def relfx(verbose: bool) -> None:
    import yaml

    folder = DATA / "relfx"
    if not folder.is_dir():
        print(f"relfx: skipped (no {folder})")
        return
    total = Score("overall")
    print(f"{'relfx fixture':52} {'links P':>8} {'R':>6} {'F1':>6} {'pk F1':>6}")
    for case in sorted(p for p in folder.iterdir() if (p / "data.sqlite").is_file()):
        expected = yaml.safe_load((case / "expected-links.yaml").read_text()) or {}
        result = discover_fixture(case / "data.sqlite", "sqlite")
        found = {(e.from_table, e.from_columns, e.to_table, e.to_columns) for e in result.accepted}
        found |= {
            (e.from_table, e.from_columns, e.to_table, e.to_columns)
            for e in result.review
            if e.match == "polymorphic_partial"
        }
        want = {
            (link["fromTable"], tuple(link["fromColumns"]), link["toTable"], tuple(link["toColumns"]))
            for link in expected.get("expectedLinks") or []
        }
        pks = {(t, pk.columns) for t, pk in result.primary_keys.items()}
        want_pks = {(pk["table"], tuple(pk["columns"])) for pk in expected.get("expectedPks") or []}
        score = Score(case.name)
        score.link_tp, score.link_fp, score.link_fn = len(found & want), len(found - want), len(want - found)
        # Tables the fixture names no key for are not scored on keys.
        scored = {t for t, _ in want_pks}
        pks = {(t, c) for t, c in pks if t in scored}
        score.pk_tp, score.pk_fp, score.pk_fn = len(pks & want_pks), len(pks - want_pks), len(want_pks - pks)
        for name in ("link_tp", "link_fp", "link_fn", "pk_tp", "pk_fp", "pk_fn"):
            setattr(total, name, getattr(total, name) + getattr(score, name))
        _row(score)
        if verbose:
            for link in sorted(found - want):
                print(f"    wrong link: {link}")
            for link in sorted(want - found):
                print(f"    missing link: {link}")
            for pk in sorted(pks ^ want_pks):
                print(f"    {'wrong' if pk in pks else 'missing'} pk: {pk}")
    _row(total)


def _row(s: Score) -> None:
    lp, lr, lf = Score.f1(s.link_tp, s.link_fp, s.link_fn)
    _, _, pf = Score.f1(s.pk_tp, s.pk_fp, s.pk_fn)
    print(f"{s.fixture:52} {lp:8.2f} {lr:6.2f} {lf:6.2f} {pf:6.2f}")


def spider(verbose: bool) -> None:
    check = DATA / "spider" / "check.py"
    if not check.is_file():
        print(f"spider: skipped (no {check})")
        return
    ktx = str(Path(sys.executable).with_name("ktx"))
    with tempfile.TemporaryDirectory(prefix="ktx-spider-") as work:
        done = subprocess.run([sys.executable, str(check), ktx, work], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    for line in lines if verbose else [line for line in lines if not line.startswith("  ")]:
        print(line)
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:])


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv[1:]
    if not args or "relfx" in args:
        relfx(verbose)
    if not args or "spider" in args:
        spider(verbose)


if __name__ == "__main__":
    main()
