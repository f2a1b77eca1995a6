"""Know cheaply whether a directory's files changed since we last looked (Linux inotify via ctypes).

A search checks this before sweeping a scope: no events means no file was created, written,
moved, deleted or had its metadata changed, so the index is current without statting every file.
Anywhere inotify is unavailable, `changed()` always answers True and callers sweep as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
# modify, attrib, close_write, moved_from, moved_to, create, delete, delete_self, move_self
_MASK = 0x002 | 0x004 | 0x008 | 0x040 | 0x080 | 0x100 | 0x200 | 0x400 | 0x800

_libc = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class DirectoryWatch:
    """Watches `path` and any `more` directories (not their subdirectories) on one inotify instance; inactive
    unless every one of them could be watched."""

    def __init__(self, path: str, *more: str) -> None:
        self.fd = -1
        paths = [path, *more]
        if _libc is None or not all(os.path.isdir(p) for p in paths):
            return
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return
        for each in paths:
            if _libc.inotify_add_watch(fd, os.fsencode(each), _MASK) < 0:
                os.close(fd)
                return
        self.fd = fd

    @property
    def active(self) -> bool:
        return self.fd >= 0

    def changed(self) -> bool:
        """True if anything happened since the last call (always True without a watch)."""
        if self.fd < 0:
            return True
        seen = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            except OSError:
                self.close()
                return True
            if not data:
                return seen
            seen = True

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()
