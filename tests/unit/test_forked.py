"""core/forked.py: a function run in a forked child, its answer sent back; FAILED whenever there is none."""

from __future__ import annotations

import os
import threading
import time

from vnet_tui.core.forked import FAILED, Forked, can_fork


def _no_child_left(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_childs_answer_comes_back_and_the_child_is_reaped():
    assert can_fork()
    parent = os.getpid()
    with Forked(lambda: {"pid": os.getpid(), "big": list(range(200_000))}) as child:
        pid = child.pid
        got = child.result()
    assert got["pid"] == pid and got["pid"] != parent  # computed in another process
    assert got["big"] == list(range(200_000))  # more than a pipe holds: read while the child writes
    assert pid is not None and _no_child_left(pid)


def test_a_child_that_raises_or_dies_answers_failed():
    def boom() -> None:
        raise RuntimeError("no")

    with Forked(boom) as child:
        assert child.result() is FAILED
    with Forked(lambda: os._exit(3)) as child:
        assert child.result() is FAILED


def test_with_another_thread_running_nothing_is_forked():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not can_fork()
        with Forked(lambda: 1) as child:
            assert child.pid is None and child.result() is FAILED
    finally:
        stop.set()
        t.join()


def test_a_child_no_longer_wanted_is_killed_and_reaped():
    t0 = time.monotonic()
    with Forked(lambda: time.sleep(60)) as child:
        pid = child.pid
    assert time.monotonic() - t0 < 30  # not waited for to the end
    assert pid is not None and _no_child_left(pid)
