"""Relationship discovery and keys on four public sample databases with every declared constraint stripped, no
LLM: Chinook (SQLite), Northwind and Sakila (PostgreSQL), classicmodels (MariaDB/MySQL).

The data and the scorer are `../shared/data/realdb/` (dumps, declared keys, `check.py`, `questions.py`; see its
README): this script loads the dumps into throw-away databases on the local servers (127.0.0.1:5432 as postgres,
127.0.0.1:3306 as root), runs `check.py` — which strips the keys, runs `ktx ingest`, scores links and primary keys
against the declared ones and asks questions through `ktx sl query --execute` — and drops the databases.
Skips with a message when the data, psql or mysql is absent.

Usage: python benchmarks/real_schemas.py [--keep]
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realdb"
PREFIX = "ktxbench"
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1"]
MY = ["mysql", "-h", "127.0.0.1", "-u", "root"]


def _run(argv: list[str], stdin: bytes | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:1])} failed: {done.stderr.decode(errors='replace')[-400:]}")


def load(work: Path) -> None:
    for name in ("northwind", "sakila"):
        db = f"{PREFIX}_{name}"
        _run([*PG, "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"])
        _run([*PG, "-d", db], gzip.decompress((DATA / f"{name}.sql.gz").read_bytes()))
    dump = gzip.decompress((DATA / "classicmodels.sql.gz").read_bytes())
    _run([*MY, "-e", f"DROP DATABASE IF EXISTS {PREFIX}_cm_orig"])
    _run(MY, dump.replace(b"`helderlee`", f"`{PREFIX}_cm_orig`".encode()))
    (work / "chinook-orig.sqlite").write_bytes(gzip.decompress((DATA / "chinook.sqlite.gz").read_bytes()))


def drop() -> None:
    for name in ("northwind", "sakila"):
        subprocess.run([*PG, "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {PREFIX}_{name}"], capture_output=True)
    for name in ("cm_orig", "classicmodels"):
        subprocess.run([*MY, "-e", f"DROP DATABASE IF EXISTS {PREFIX}_{name}"], capture_output=True)


def main() -> int:
    missing = [tool for tool in ("psql", "mysql") if shutil.which(tool) is None]
    if not (DATA / "check.py").is_file() or missing:
        print(f"real schemas: skipped ({'no ' + str(DATA) if not (DATA / 'check.py').is_file() else missing})")
        return 0
    ktx = str(Path(sys.executable).with_name("ktx"))
    work = Path(tempfile.mkdtemp(prefix="ktx-realdb-"))
    try:
        drop()
        load(work)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([sys.executable, str(DATA / "check.py"), ktx, str(work), PREFIX], env=env)
        return done.returncode
    finally:
        if "--keep" not in sys.argv:
            drop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
