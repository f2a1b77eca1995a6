"""The directory watch that lets a warm search skip its file sweep."""

from __future__ import annotations

import os
import sys

import pytest

from ktx.watch import DirectoryWatch


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify is Linux-only; elsewhere changed() is always True"
)
def test_reports_every_kind_of_change_once(tmp_path):
    watch = DirectoryWatch(str(tmp_path))
    assert watch.active and watch.changed() is False
    page = tmp_path / "a.md"
    page.write_text("one")
    assert watch.changed() is True and watch.changed() is False
    with open(page, "a") as handle:  # an in-place append, no rename
        handle.write("two")
    assert watch.changed() is True
    os.utime(page)
    assert watch.changed() is True
    page.rename(tmp_path / "b.md")
    assert watch.changed() is True
    (tmp_path / "b.md").unlink()
    assert watch.changed() is True and watch.changed() is False
    watch.close()
    assert watch.changed() is True  # without a watch, callers always sweep


def test_missing_directory_means_always_sweep(tmp_path):
    watch = DirectoryWatch(str(tmp_path / "nope"))
    assert not watch.active and watch.changed() is True
