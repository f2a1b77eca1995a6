"""Bounded calls: the answer or the error of the work, a deadline that cancels and stops waiting, and worker threads
that are reused, never piled up, and that a stuck call does not hold back the next one."""

from __future__ import annotations

import threading
import time

import pytest

from ktx import bounded
from ktx.bounded import DeadlinePassed, run_bounded


def _bounded_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ktx-bounded"]


def test_the_answer_and_the_error_come_back() -> None:
    assert run_bounded(lambda: 42, deadline_s=5) == 42
    with pytest.raises(ZeroDivisionError):
        run_bounded(lambda: 1 / 0, deadline_s=5)


def test_past_the_deadline_the_call_is_cancelled() -> None:
    stop = threading.Event()
    with pytest.raises(DeadlinePassed):
        run_bounded(lambda: stop.wait(30), deadline_s=0.2, cancel=stop.set)
    assert stop.is_set()


def test_a_call_that_cannot_be_cancelled_does_not_hold_back_the_next() -> None:
    release = threading.Event()
    with pytest.raises(DeadlinePassed):
        run_bounded(lambda: release.wait(30), deadline_s=0.2)
    try:
        assert run_bounded(lambda: "next", deadline_s=5) == "next"  # another thread: the stuck one is still busy
    finally:
        release.set()


def test_threads_are_reused_and_never_pile_up() -> None:
    before = set(_bounded_threads())
    for _ in range(200):
        run_bounded(lambda: None, deadline_s=5)
    assert len(set(_bounded_threads()) - before) <= 1  # one call after another: one thread, reused
    answers: list[int] = []

    def many(i: int) -> None:
        answers.append(run_bounded(lambda: i, deadline_s=5))

    callers = [threading.Thread(target=many, args=(i,)) for i in range(20)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert sorted(answers) == list(range(20))
    deadline = time.monotonic() + 5
    while len(set(_bounded_threads()) - before) > bounded.MAX_IDLE and time.monotonic() < deadline:
        time.sleep(0.01)  # a thread past the idle limit ends as soon as its call returns
    assert len(set(_bounded_threads()) - before) <= bounded.MAX_IDLE


def test_idle_threads_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "IDLE_SECONDS", 0.1)
    # As many calls at once as threads may be idle: every idle thread takes one, and waits with the new timeout.
    together = threading.Barrier(bounded.MAX_IDLE, timeout=10)
    used: list[threading.Thread] = []

    def task() -> None:
        used.append(threading.current_thread())
        together.wait()

    callers = [
        threading.Thread(target=run_bounded, args=(task,), kwargs={"deadline_s": 10}) for _ in range(bounded.MAX_IDLE)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    deadline = time.monotonic() + 10
    while (bounded._IDLE or any(t.is_alive() for t in used)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bounded._IDLE == [] and len(set(used)) == bounded.MAX_IDLE and not any(t.is_alive() for t in used)
