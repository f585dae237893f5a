"""One event socket for a namespace and every namespace it has an nsid for.

A NETLINK_ROUTE socket with ``NETLINK_LISTEN_ALL_NSID`` (Linux 4.6) set
receives the events of its own namespace and of every peer namespace
that has an id in it, each datagram tagged with that id in an
``SOL_NETLINK``/``NETLINK_LISTEN_ALL_NSID`` control message (none: its
own namespace).  The namespaces a host's veth peers live in are exactly
those (the kernel gives a namespace its nsid in the host when a link
first points into it), so one socket in the host replaces one socket per
container: at 5,000 containers, 5,000 sockets made by entering each
namespace twice, and 5,000 descriptors in the watcher's selector.

Setting the option takes CAP_NET_BROADCAST; without it ``listen_all``
raises and the caller keeps a socket per namespace.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Optional

from .netns import netlink_socket
from .session import Resync, decode_events

SOL_NETLINK = 270
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; not in Python's socket module
NETLINK_LISTEN_ALL_NSID = 8
RCVBUF = 16 << 20  # every namespace's events share one queue: a burst across thousands must fit
_CMSG = socket.CMSG_SPACE(4) * 2

Events = list[tuple[int, object]]


def listen_all(fd: Optional[int], groups: int) -> socket.socket:
    """A socket in namespace ``fd`` (None: ours) joined to ``groups`` there and in every namespace it numbers."""
    sock = netlink_socket(fd, groups, rcvbuf=1 << 20)
    try:
        try:  # past the rmem_max sysctl (root): a shared queue must be deep
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            pass
        sock.setsockopt(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def drain_by_nsid(sock: socket.socket, buf: bytearray) -> dict[Optional[int], Events]:
    """Pending events by the nsid of the namespace they happened in (None: the socket's own).

    Raises Resync when the kernel dropped events (ENOBUFS): any namespace
    may have lost some.
    """
    out: dict[Optional[int], Events] = {}
    view = memoryview(buf)
    while True:
        try:
            n, anc, _flags, _addr = sock.recvmsg_into([view], _CMSG, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                raise Resync() from None
            raise
        nsid: Optional[int] = None
        for level, kind, data in anc:
            if level == SOL_NETLINK and kind == NETLINK_LISTEN_ALL_NSID and len(data) >= 4:
                nsid = int.from_bytes(data[:4], sys.byteorder, signed=True)
        decode_events(buf, n, out.setdefault(nsid, []))
