"""Apply a run's files to the project as one git commit, so that a crash at any moment loses nothing.

Before the first file is replaced, the current content of every path (or the fact that it did not exist) is
copied under `.ktx/cache/local-ingest/<runId>/backup/` (flushed to disk) and a journal is written. The files are
then replaced (each atomically, with one flush to disk for all) and committed together. If the process dies before
the commit, the next ingest rolls the paths back from the journal; if it died after the commit, the journal is
simply dropped. Either way the project holds the previous files or the new ones, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from ktx.errors import KtxError
from ktx.project.files import atomic_write, atomic_write_many, sync_files, sync_folders
from ktx.project.gitrepo import GitRepo

JOURNAL = "apply.json"


def _runs_dir(root: Path) -> Path:
    return root / ".ktx" / "cache" / "local-ingest"


def file_changes(root: Path, wanted: Mapping[str, str | None], owned: Iterable[Path] = ()) -> dict[str, str | None]:
    """What `apply_files` must do so the project holds `wanted` (None: absent): only paths whose text differs, plus a
    deletion for every file under an `owned` folder that `wanted` no longer lists. Unchanged files keep their blob."""
    out: dict[str, str | None] = {}
    for folder in owned:
        if folder.is_dir():
            for path in folder.rglob("*"):
                rel = str(path.relative_to(root))
                if path.is_file() and rel not in wanted:
                    out[rel] = None
    for rel, text in wanted.items():
        target = root / rel
        if text is None:
            if target.exists():
                out[rel] = None
        elif not target.is_file() or target.read_text(encoding="utf-8", errors="replace") != text:
            out[rel] = text
    return out


def apply_files(
    root: Path, git: GitRepo, run_id: str, files: Mapping[str, str | bytes | None], message: str
) -> str | None:
    """Write (or delete, for None) project-relative files and commit them; returns the commit or None."""
    if not files:
        return None
    for rel in files:
        _check_inside(root, rel)
    run_dir = _runs_dir(root) / run_id
    backup = run_dir / "backup"
    backup.mkdir(parents=True, exist_ok=True)
    entries, copies = [], []
    for i, rel in enumerate(sorted(files)):
        target = root / rel
        saved = None
        if target.is_file():
            saved = f"backup/{i:06d}"
            shutil.copyfile(target, run_dir / saved)
            copies.append(run_dir / saved)
        entries.append({"path": rel, "backup": saved})
    if copies:  # on disk before the journal that a rollback trusts names them
        sync_files(copies)
        sync_folders([backup])
    atomic_write(run_dir / JOURNAL, json.dumps({"runId": run_id, "state": "applying", "files": entries}))
    for rel, content in files.items():
        if content is None:
            target = root / rel
            target.unlink(missing_ok=True)
            _prune_empty(target.parent, root)
    atomic_write_many((root / rel, content) for rel, content in files.items() if content is not None)
    commit = git.commit(list(files), message)
    shutil.rmtree(run_dir, ignore_errors=True)
    return commit


def _check_inside(root: Path, rel: str) -> None:
    """Every path a run writes is project-relative and stays in the project (no `..`, no absolute path, no
    symlinked folder leading out): checked for all files before the first one is written."""
    normal = os.path.normpath(rel)
    if os.path.isabs(rel) or normal == ".." or normal.startswith(".." + os.sep) or normal != rel.rstrip("/"):
        raise KtxError(f"Refusing to write {rel!r}: not a plain path inside the project.")
    parent = (root / rel).parent
    while not parent.exists():
        parent = parent.parent
    real_root = os.path.realpath(root)
    real = os.path.realpath(parent)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise KtxError(f"Refusing to write {rel!r}: its folder leads outside the project ({real}).")


def _prune_empty(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and _is_empty(directory):
        directory.rmdir()
        directory = directory.parent


def _is_empty(directory: Path) -> bool:
    # scandir stops at the first entry; iterdir lists the whole folder, and a rollback of 100,000 shards in one
    # folder asked that once per file.
    with os.scandir(directory) as entries:
        return next(entries, None) is None


def recover_interrupted(root: Path, git: GitRepo) -> list[str]:
    """Roll back the files of runs that died between their first write and their commit; returns their ids."""
    base = _runs_dir(root)
    if not base.is_dir():
        return []
    recovered = []
    for journal in sorted(base.glob(f"*/{JOURNAL}")):
        run_dir = journal.parent
        try:
            data = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        run_id = str(data.get("runId", run_dir.name))
        head = git.run("log", "-1", "--format=%s", check=False).stdout
        if run_id in head:
            shutil.rmtree(run_dir, ignore_errors=True)  # the commit landed; only the clean-up was lost
            continue
        for entry in data.get("files", []):
            target = root / entry["path"]
            if entry.get("backup"):
                atomic_write(target, (run_dir / entry["backup"]).read_bytes())
            else:
                target.unlink(missing_ok=True)
                _prune_empty(target.parent, root)
        shutil.rmtree(run_dir, ignore_errors=True)
        recovered.append(run_id)
    return recovered
