"""A function run in a forked child, its answer sent back pickled: work for the second core.

``show`` at 5,000 containers spends seconds of one core in reads that
need nothing from each other (half the namespaces; every port's policy)
while the other core of a 2-core server idles.  ``Forked(fn)`` runs
``fn()`` in a child; ``result()`` waits for it and returns its answer,
or ``FAILED`` if the child failed, died or could not be started (the
caller then does the work itself: the answer is the same, only slower).

Only for a process with one thread: forking one that has others can copy
a lock one of them holds.  With another thread running (the TUI, the
watcher) nothing is forked and ``result()`` is ``FAILED`` at once.  The
child leaves with ``os._exit``: no clean-up, buffer flush or ``atexit``
of the parent's runs twice.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Any, Callable, Optional

FAILED: Any = object()  # what result() returns when the child gave no answer


def can_fork() -> bool:
    """Whether a fork is safe and can help: one thread here, and more than one CPU."""
    return threading.active_count() == 1 and (os.cpu_count() or 1) > 1


class Forked:
    """``fn()`` running in a child process; use as a context manager (a child not waited for is killed)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.pid: Optional[int] = None
        self._reader: Optional[Any] = None
        if not can_fork():
            return
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: answer, then leave without running anything of the parent's
            code = 1
            try:
                os.close(r)
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(w, "wb") as f:
                    f.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self.pid = pid
        self._reader = os.fdopen(r, "rb")

    def result(self) -> Any:
        """The child's answer (waits for it); ``FAILED`` if there is none."""
        if self.pid is None or self._reader is None:
            return FAILED
        try:
            data = self._reader.read()
        finally:
            self._reader.close()  # (if reading failed: the child's write fails rather than waits)
            self._reader = None
            status = self._reap()
        if status != 0 or not data:
            return FAILED
        try:
            return pickle.loads(data)
        except Exception:
            return FAILED

    def _reap(self) -> int:
        pid, self.pid = self.pid, None
        if pid is None:
            return 1
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        """Stop a child whose answer is no longer wanted, and reap it."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def __enter__(self) -> "Forked":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
