"""Give the C heap's free pages back to the system.

A long scan builds and drops large texts (the profile stage's JSON: ~450 MB for 100,000 tables) between objects it
keeps; glibc's allocator keeps such freed space resident when it is not at the top of its heap, so the next phase
(relationship discovery, with the warehouse still open) would start ~0.5 GiB higher. `malloc_trim(0)` returns every
free page; where it does not exist (not glibc), nothing is done.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache
from typing import Any


@cache
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # another C library (musl) or none loadable
        return None


def give_back_free_heap() -> bool:
    """True when the heap was trimmed."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
