"""One change at a time per server: an exclusive ``flock`` on the state directory's ``server.lock``.

Held from validation (repeated under it) through the journal's
completion line, by the CLI, the TUI, undo and the revert timer alike.
The lock is re-entrant within a process (undo → apply, recovery → apply);
a second process waits up to ``$VNET_TUI_LOCK_WAIT`` seconds (default 10)
and is then refused with who holds it (``NotPermitted``, rule
``server-busy``: nothing was changed).  The kernel drops the lock when its
holder dies, so a killed operator never blocks the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from vnet_tui.core.errors import ChangeFailed, NotPermitted

from . import journal

WAIT = float(os.environ.get("VNET_TUI_LOCK_WAIT", "10"))
RECORD = 256  # bytes the holder's record takes at least (spaces after its JSON)

_mutex = threading.RLock()
_depth = 0
_fd: Optional[int] = None


def holder() -> str:
    """Who holds the lock, as recorded in it (best effort)."""
    try:
        info = json.loads((journal.state_path() / "server.lock").read_text() or "{}")
    except (OSError, ValueError):
        return "another vnet-tui process"
    if not isinstance(info, dict):
        return "another vnet-tui process"
    return f"{info.get('user', '?')} (pid {info.get('pid', '?')}, {info.get('what', 'a change')}, since {info.get('since', '?')})"


@contextmanager
def server_lock(what: str = "a change", wait: Optional[float] = None) -> Iterator[None]:
    """Hold the server's change lock; re-entrant in this process."""
    global _depth, _fd
    with _mutex:
        if _depth == 0:
            _fd = _acquire(what, WAIT if wait is None else wait)
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if _depth == 0 and _fd is not None:
                os.close(_fd)  # releases the flock
                _fd = None


def held() -> bool:
    return _depth > 0


def _acquire(what: str, wait: float) -> int:
    try:
        fd = os.open(journal.state_dir() / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise ChangeFailed(
            f"cannot open the server lock in {journal.state_path()}: {e.strerror or e}; nothing was changed",
            rule="journal",
        ) from None
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                who = holder()
                os.close(fd)
                raise NotPermitted(
                    f"another operator is changing this server: {who}. Nothing was changed; "
                    "try again when it is done",
                    rule="server-busy",
                ) from None
            time.sleep(0.05)
    info = {"pid": os.getpid(), "user": journal.who(), "what": what, "since": time.strftime("%H:%M:%S")}
    _record(fd, json.dumps(info).encode())
    return fd


def _record(fd: int, data: bytes) -> None:
    """Write who holds the lock over the last holder's words, padded with spaces (JSON allows them):
    no truncation, whose freeing of blocks cost ~1 ms of every change on ext4."""
    try:
        os.pwrite(fd, data.ljust(max(RECORD, os.fstat(fd).st_size)), 0)
    except OSError:  # a full disk: the lock holds all the same, but the last holder's words must go
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
