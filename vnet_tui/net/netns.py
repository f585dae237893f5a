"""Entering network namespaces from the current thread.

``setns(2)`` changes only the calling thread's namespace, so a socket can
be created inside any namespace in ~30 µs and used from anywhere after we
switch back.  This replaces pyroute2's ``IPRoute(netns=...)``, which forks
a helper per socket and, without ``flags=0``, creates missing namespaces.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TypeVar

from vnet_tui.core.errors import NotPermitted

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_lock = threading.RLock()
T = TypeVar("T")


class NetnsError(OSError):
    """A namespace could not be opened or entered."""


class NetnsNotPermitted(NotPermitted, PermissionError):
    """Entering a namespace was refused (EPERM: no CAP_SYS_ADMIN): exit 3, not "no such namespace".

    A NotPermitted for the CLI and a PermissionError for code that skips
    what it may not read (discovery skips such a container); deliberately
    not a NetnsError, which callers turn into "gone" / NotFound.
    """

    def __init__(self, message: str) -> None:
        NotPermitted.__init__(self, message, rule="privilege")
        self.errno = errno.EPERM
        self.strerror = message

    def __str__(self) -> str:  # the message, not OSError's "[Errno 1] …"
        return str(self.strerror)


NOT_VISIBLE = "not visible without CAP_SYS_ADMIN/CAP_NET_ADMIN"
"""What the operator reads where a namespace could not be entered."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise NetnsNotPermitted(f"setns: {os.strerror(err)}: entering a network namespace needs "
                                    "CAP_SYS_ADMIN (another namespace is " + NOT_VISIBLE + ")")
        raise NetnsError(err, f"setns: {os.strerror(err)}")


def is_current(fd: int) -> bool:
    """Is namespace ``fd`` the one this thread is in already (no setns needed, none allowed unprivileged)?"""
    try:
        st, here = os.fstat(fd), os.stat("/proc/thread-self/ns/net")
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def netns_path(name: Optional[str]) -> str:
    """The path that opens a named namespace (None: our own)."""
    if name is None:
        return "/proc/self/ns/net"
    if "/" in name or name in (".", ".."):
        raise NetnsError(errno.EINVAL, f"invalid namespace name {name!r}")
    return os.path.join(NETNS_RUN_DIR, name)


def open_netns(where: Optional[str]) -> int:
    """Open a namespace fd from a name (``/run/netns``) or an absolute path."""
    path = where if where and where.startswith("/") else netns_path(where)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(errno.ENOENT, f"no such network namespace: {where}") from None


def netns_inode(fd_or_path: "int | str") -> int:
    """The namespace's identity (st_ino of its nsfs file)."""
    return os.stat(fd_or_path).st_ino


@contextmanager
def entered(fd: int) -> Iterator[None]:
    """Run the block with the current thread inside namespace ``fd``."""
    with _lock:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)


def run_in(fd: int, fn: Callable[[], T]) -> T:
    """Call ``fn`` inside namespace ``fd`` and return its result."""
    with entered(fd):
        return fn()


def _make_socket(groups: int = 0, rcvbuf: int = 1 << 20) -> socket.socket:
    """A NETLINK_ROUTE socket in this thread's namespace."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
        s.bind((0, groups))
    except OSError:
        s.close()
        raise
    return s


def netlink_socket(fd: Optional[int], groups: int = 0, rcvbuf: int = 1 << 20) -> socket.socket:
    """A NETLINK_ROUTE socket that lives in namespace ``fd`` (None: ours)."""
    if fd is None or is_current(fd):
        return _make_socket(groups, rcvbuf)  # our own namespace: no setns (reading works for any user)
    return run_in(fd, lambda: _make_socket(groups, rcvbuf))


def netlink_sockets(fds: list[int]) -> list["socket.socket | OSError"]:
    """``netlink_socket(fd)`` of many namespaces in one pass: this thread goes from one namespace
    straight into the next and comes home once (5,000 containers: 15,000 system calls fewer than one
    ``netlink_socket`` each).  A namespace that cannot be entered, or whose socket fails, gets the
    error in its place."""
    out: list["socket.socket | OSError"] = []
    with _lock:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        inside = False  # in a namespace other than home
        try:
            here = os.fstat(home)
            for fd in fds:
                try:
                    st = os.fstat(fd)
                    if (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino):
                        if inside:
                            _setns(home)
                            inside = False
                    else:
                        _setns(fd)
                        inside = True
                    out.append(_make_socket())
                except OSError as e:
                    out.append(e)
        finally:
            try:
                if inside:
                    _setns(home)
            finally:
                os.close(home)
    return out
