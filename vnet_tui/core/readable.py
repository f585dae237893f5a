"""Wait until one file descriptor is readable — with poll(2), never select(2).

``select()`` takes descriptors below FD_SETSIZE (1024) only: Python raises
``ValueError`` past it, and C code (libmnl, libnftables) that calls it
aborts the whole process.  A server of 1,000 containers gives the TUI
more than 1,024 open descriptors (one netlink socket per namespace), so
every wait in vnet-tui goes through here or through ``selectors`` (epoll).
"""

from __future__ import annotations

import select
from typing import Any


def readable(f: Any, timeout: float) -> bool:
    """Is ``f`` (an fd or anything with ``fileno()``) readable within ``timeout`` seconds?"""
    fd = f if isinstance(f, int) else f.fileno()
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return bool(p.poll(max(0.0, timeout) * 1000.0))
