"""The project's own git repository: ownership rules, identity via env vars, path-scoped commits."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from ktx.errors import KtxError

Ownership = Literal["unowned", "ktx-managed", "foreign"]

# Variables that would point git at another repository, or make it wait for a human.
_STRIPPED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "EDITOR",
    "VISUAL",
    "PAGER",
)


class GitError(KtxError):
    """A git command failed."""


def classify_ownership(directory: Path) -> Ownership:
    """Look only at the directory itself, never its parents: a nested project gets its own repo."""
    git_path = directory / ".git"
    if not git_path.exists() or directory.is_file():
        return "unowned"
    if git_path.is_dir() and (directory / "ktx.yaml").is_file():
        return "ktx-managed"
    return "foreign"


def parse_author(author: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+)>\s*", author)
    if not match:
        raise GitError(f"storage.git.author must look like 'Name <email>': {author!r}")
    return match.group(1), match.group(2)


def git_available() -> bool:
    return shutil.which("git") is not None


class GitRepo:
    """Runs git inside one project root with ktx's identity, never touching user git config."""

    def __init__(self, root: Path, author: str) -> None:
        self.root = root
        self.author_name, self.author_email = parse_author(author)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
        env.update(
            GIT_AUTHOR_NAME=self.author_name,
            GIT_AUTHOR_EMAIL=self.author_email,
            GIT_COMMITTER_NAME=self.author_name,
            GIT_COMMITTER_EMAIL=self.author_email,
            GIT_TERMINAL_PROMPT="0",
        )
        return env

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, index: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        if not git_available():
            raise GitError("git is not installed; ktx keeps project history in git. Install git and retry.")
        # Automated commits must not stop for signing prompts or user hooks.
        cmd = ["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args]
        env = self._env() | ({"GIT_INDEX_FILE": str(index)} if index is not None else {})
        proc = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True, input=stdin)
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise GitError(f"git {args[0]} failed in {self.root}: {detail[-1] if detail else proc.returncode}")
        return proc

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise index updates between concurrent ktx processes."""
        lock_dir = self.root / ".ktx"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / "git.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self.recover_index_lock()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def index_lock_state(self) -> Literal["none", "live", "stale"]:
        """`.git/index.lock`: absent, held by a running git, or left behind by a git that was killed."""
        lock = self.root / ".git" / "index.lock"
        if not lock.exists():
            return "none"
        return "live" if _held_open(lock) else "stale"

    def recover_index_lock(self, wait_s: float = 5.0) -> None:
        """A git killed mid-write (kill -9, a crash) leaves `.git/index.lock`, and every later write then fails
        ("Another git process seems to be running"). A lock no live process holds is removed; a live one is
        waited for a few seconds, then named."""
        deadline = time.monotonic() + wait_s
        while True:
            state = self.index_lock_state()
            if state == "none":
                return
            if state == "stale":
                (self.root / ".git" / "index.lock").unlink(missing_ok=True)
                return
            if time.monotonic() >= deadline:
                raise GitError(
                    f"Another git process is writing to {self.root} ({self.root / '.git' / 'index.lock'} is held); "
                    "wait for it to finish and retry."
                )
            time.sleep(0.1)

    def init(self) -> None:
        self.run("init", "--quiet", "--initial-branch=main")
        self.configure()

    def configure(self) -> None:
        # Background gc would outlive short CLI runs and race the next command's index lock.
        self.run("config", "gc.autoDetach", "false")
        self.run("config", "maintenance.autoDetach", "false")

    def head(self) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return proc.stdout.strip() or None if proc.returncode == 0 else None

    def ensure_head(self) -> None:
        if self.head() is None:
            with self.lock():
                if self.head() is None:
                    self.run("commit", "--quiet", "--allow-empty", "-m", "Initialize ktx project repository")

    def commit(self, paths: Sequence[Path | str], message: str) -> str | None:
        """Commit exactly `paths` (additions, edits, deletions) — whatever else is staged stays staged and out of
        the commit. Returns the hash, or None if unchanged.

        Built with git's plumbing on a private index: the paths reach git on stdin as exact names, so a scan that
        writes 100,000 shards neither overflows the command line nor pays for matching 100,000 pathspecs against
        100,000 files (seconds per 20,000 with `git add -- <paths>`)."""
        rel = [
            Path(p).relative_to(self.root).as_posix() if Path(p).is_absolute() else Path(p).as_posix() for p in paths
        ]
        if not rel:
            return None
        with self.lock():
            tracked = set(self.run("ls-files", "-z").stdout.split("\0"))
            files, named = self._files_of(rel, tracked)
            # Only a path git does not track yet can be ignored (check-ignore is slow over tracked ones). One named
            # outright is an error, as `git add` makes it; one inside a named folder is left out, as `git add` does.
            new = "".join(f"{f}\0" for f in files if f not in tracked)
            found = self.run("check-ignore", "-z", "--stdin", stdin=new, check=False).stdout if new else ""
            ignored = {p for p in found.split("\0") if p}
            if ignored & named:
                raise GitError(
                    f"{sorted(ignored & named)[0]} is ignored by the project's .gitignore; ktx does not commit "
                    "ignored files."
                )
            files = [f for f in files if f not in ignored]
            if not files:
                return None
            listed = "\0".join(files) + "\0"
            head = self.head()
            with tempfile.TemporaryDirectory(dir=self.root / ".git", prefix="ktx-index-") as tmp:
                index = Path(tmp) / "index"
                if head is not None:
                    self.run("read-tree", head, index=index)
                self.run("update-index", "--add", "--remove", "-z", "--stdin", stdin=listed, index=index)
                tree = self.run("write-tree", index=index).stdout.strip()
            if head is not None and tree == self.run("rev-parse", f"{head}^{{tree}}").stdout.strip():
                return None
            parents = ["-p", head] if head is not None else []
            commit = self.run("commit-tree", tree, *parents, "-F", "-", stdin=message).stdout.strip()
            self.run("update-ref", "-m", f"commit: {message.splitlines()[0] if message else ''}", "HEAD", commit,
                     *([head] if head is not None else []))  # fmt: skip
            # The real index follows for these paths, so `git status` shows them clean.
            self.run("update-index", "--add", "--remove", "-z", "--stdin", stdin=listed)
            return commit

    def _files_of(self, rel: list[str], tracked: set[str]) -> tuple[list[str], set[str]]:
        """The files `rel` names — a folder stands for every file under it, present or tracked (deleted) — and
        the set of those named outright."""
        files: list[str] = []
        named: set[str] = set()
        for r in rel:
            path, prefix = self.root / r, "" if r in (".", "") else r.rstrip("/") + "/"
            if path.is_dir() or (not path.exists() and r not in tracked and any(t.startswith(prefix) for t in tracked)):
                found = {t for t in tracked if t.startswith(prefix)}
                for dirpath, dirnames, filenames in os.walk(path):
                    dirnames[:] = [d for d in dirnames if d != ".git"]
                    found.update(Path(dirpath, n).relative_to(self.root).as_posix() for n in filenames)
                files += sorted(found)
            else:
                files.append(r)
                named.add(r)
        return list(dict.fromkeys(files)), named

    def commit_all(self, message: str) -> str | None:
        with self.lock():
            self.run("add", "--all")
            if self.run("diff", "--cached", "--quiet", check=False).returncode == 0:
                return None
            self.run("commit", "--quiet", "--no-verify", "-m", message)
            return self.head()


def _held_open(path: Path) -> bool:
    """Whether any process has `path` open. Linux: every /proc/<pid>/fd; elsewhere a lock younger than a minute
    counts as held (git holds index.lock for milliseconds to seconds)."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        try:
            return time.time() - path.stat().st_mtime < 60
        except OSError:
            return False
    target = os.path.realpath(path)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return True
                except OSError:
                    continue
        except OSError:
            continue
    return False
