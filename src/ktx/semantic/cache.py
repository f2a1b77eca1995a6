"""A compiled-model cache, so a one-shot `ktx sl query` does not re-read and re-validate every YAML file.

Loading a connection's layer means parsing each YAML file, validating it into models and parsing every
join condition; for a 100-source layer that is most of a command's own run time. The result (the loaded
layer and the engine built from it) is pickled under `.ktx/cache/semantic/`, keyed by a fingerprint of
every file of the layer (path, size, modification time) plus the ktx and sqlglot versions. Any change to
a file, any added or removed file, or an upgrade misses the cache and rebuilds it. The cache is local
(`.ktx/cache/` is git-ignored) and disposable: an unreadable entry is ignored and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import threading
import time
from pathlib import Path

from ktx.project.location import KTX_DIR
from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.loader import LoadedLayer, load_directory
from ktx.semantic.stamp import FORMAT, RACY_NS, fingerprint
from ktx.watch import DirectoryWatch


def cache_path(root: Path, connection_id: str, dialect: str) -> Path:
    safe = hashlib.sha256(connection_id.encode("utf-8")).hexdigest()[:16]
    return root / KTX_DIR / "cache" / "semantic" / f"{safe}.{dialect}.pickle"


# The engine and layer a process last loaded per folder and dialect, with their fingerprint: a long-running server
# compiles against the same objects until a file changes, instead of unpickling the cache file on every query.
_LOADED: dict[tuple[str, str], tuple[str, SemanticEngine, LoadedLayer]] = {}


def forget_loaded() -> None:
    """Drop what this process keeps (the next load starts where a new process would: the cache file)."""
    _LOADED.clear()
    with _WATCHED_LOCK:
        for watch, _, _ in _WATCHED.values():
            watch.close()
        _WATCHED.clear()


# A layer's last fingerprint, with a watch on its folders set up before it was taken: while the watch reports
# nothing, no file of the layer was created, written, moved or deleted, and the fingerprint holds without statting
# every file again (most of what a repeated query cost a server besides running it).
# At most MAX_WATCHED layers are watched (each watch holds an inotify instance, of which a user has 128 by default):
# the layer watched longest ago is let go first.
_WATCHED: dict[tuple[str, str], tuple[DirectoryWatch, str, int]] = {}
_WATCHED_LOCK = threading.Lock()
MAX_WATCHED = 16


def layer_fingerprint(folder: Path, dialect: str) -> tuple[str, int]:
    """`fingerprint(folder, dialect)`, reused while a directory watch sees no change (Linux; elsewhere, and for a
    layer with a file written in the last seconds, it is taken every time)."""
    key = (str(folder), dialect)
    with _WATCHED_LOCK:  # one thread drains the watch's events and, if any, takes the new fingerprint
        known = _WATCHED.pop(key, None)
        if known is not None and not known[0].changed():
            _WATCHED[key] = known
            return known[1], known[2]
        if known is not None:
            known[0].close()
        folders = [str(folder)]
        if folder.is_dir():
            folders += [str(path) for path in sorted(folder.rglob("*")) if path.is_dir()]
        watch = DirectoryWatch(*folders)  # before the fingerprint: no change slips between
        stamp, newest = fingerprint(folder, dialect)
        if watch.active and time.time_ns() - newest > RACY_NS:
            while len(_WATCHED) >= MAX_WATCHED:
                _WATCHED.pop(next(iter(_WATCHED)))[0].close()
            _WATCHED[key] = (watch, stamp, newest)
        else:
            watch.close()
        return stamp, newest


def load_engine(root: Path, folder: Path, connection_id: str, dialect: str) -> tuple[SemanticEngine, LoadedLayer]:
    """The engine and layer for `folder`: this process's own while every file is unchanged, else from the cache
    file, else loaded. Callers share them: they read, never change them (see `build_engine`)."""
    stamp, newest = layer_fingerprint(folder, dialect)
    loaded = _LOADED.get((str(folder), dialect))
    if loaded is not None and loaded[0] == stamp:
        return loaded[1], loaded[2]
    path = cache_path(root, connection_id, dialect)
    cached = _read(path, stamp)
    if cached is not None:
        engine, layer = cached
    else:
        layer = load_directory(folder)
        engine = SemanticEngine(layer.sources, dialect)
    # A file written within the last seconds could change again without its size or timestamp changing
    # (coarse file-system clocks), so such a layer is not kept yet.
    if time.time_ns() - newest > RACY_NS:
        if cached is None and (root / KTX_DIR).is_dir():
            _write(path, stamp, engine, layer)
        _LOADED[(str(folder), dialect)] = (stamp, engine, layer)
    return engine, layer


def _read(path: Path, stamp: str) -> tuple[SemanticEngine, LoadedLayer] | None:
    # The fingerprint is checked before anything is unpickled: a cache file that did not come from this
    # machine's own run over these very files (say, one committed to a cloned repo) is never loaded, since
    # its fingerprint would have to match nanosecond timestamps of files it could not know.
    try:
        with path.open("rb") as handle:
            if handle.readline() != _header(stamp):
                return None
            engine, layer = pickle.load(handle)
    except Exception:  # missing, truncated or from an incompatible build: rebuild
        return None
    if not isinstance(engine, SemanticEngine) or not isinstance(layer, LoadedLayer):
        return None
    return engine, layer


def _header(stamp: str) -> bytes:
    return f"ktx-semantic-cache {FORMAT} {stamp}\n".encode()


def _write(path: Path, stamp: str, engine: SemanticEngine, layer: LoadedLayer) -> None:
    from ktx.project.files import atomic_write

    # A read-only project still compiles; it just cannot keep the cache.
    with contextlib.suppress(OSError):
        atomic_write(path, _header(stamp) + pickle.dumps((engine, layer), protocol=pickle.HIGHEST_PROTOCOL))
