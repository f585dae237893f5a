"""Reading link and address events into the watcher's Structure.

The decoding is ``net.session.drain_events`` (bridge port messages are
not links); one receive buffer serves every namespace, since the watcher
is one thread.  ``deliver`` reads one ready socket: a namespace's own,
or the host's shared one (net/allns.py), whose events are told apart by
the nsid each datagram carries.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from vnet_tui.net.allns import drain_by_nsid
from vnet_tui.net.session import Resync, drain_events

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


SHARED = -1  # the selector's key of the shared socket (a namespace's own socket has its inode as key)


def deliver(s: Any, key: int) -> tuple[bool, int]:
    """Read the socket registered under ``key`` into Structure ``s``: (events applied, overflows seen).

    An overflow (ENOBUFS) means events were lost: what is still queued came
    before the loss, and the re-dump it asks for (empty events) replaces it;
    on the shared socket any of its namespaces may have lost some.  A socket
    that fails otherwise asks for a rescan.
    """
    sock = s.shared if key == SHARED else s.sockets.get(key)
    if sock is None:
        return False, 0
    try:
        batches = read_events_by_nsid(sock) if key == SHARED else {None: read_events(sock)}
    except Resync:
        discard_events(sock)
        for inode in (s.sharing() if key == SHARED else [key]):
            s.on_events(inode, [])
        return True, 1
    except OSError:
        if key != SHARED:
            s.on_events(key, [])
        s.rescan_ns = True
        return True, 0
    applied = False
    for nsid, events in batches.items():
        inode = s.inode_of(nsid) if key == SHARED else key
        if inode is not None and events:
            s.on_events(inode, events)
            applied = True
    return applied, 0
