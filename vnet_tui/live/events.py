"""Reading a namespace's link and address events, for the watcher.

The decoding is ``net.session.drain_events`` (bridge port messages are
not links); one receive buffer serves every namespace, since the watcher
is one thread.
"""

from __future__ import annotations

import errno
import socket

from vnet_tui.net.allns import drain_by_nsid
from vnet_tui.net.session import drain_events

_BUF = bytearray(1 << 18)


def read_events(sock: socket.socket) -> list[tuple[int, object]]:
    """Drain pending events: (message type, LinkMsg | AddrMsg); Resync on ENOBUFS."""
    return drain_events(sock, _BUF)


def read_events_by_nsid(sock: socket.socket) -> dict:
    """Drain the shared socket (net/allns.py): {nsid or None: events}; Resync on ENOBUFS."""
    return drain_by_nsid(sock, _BUF)


def discard_events(sock: socket.socket, limit: int = 4096) -> int:
    """Throw away what is queued (after ENOBUFS: a re-dump replaces it); the messages' count read."""
    n = 0
    for _ in range(limit):
        try:
            sock.recv_into(_BUF, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                break
            continue
        n += 1
    return n
