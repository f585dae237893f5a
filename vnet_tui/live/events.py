"""Reading a namespace's link and address events, for the watcher.

Like ``net.session.NetnsSocket.read_events`` with one difference that
matters once events are applied to a cached dump: only ``AF_UNSPEC``
link messages are links.  A bridge sends ``AF_BRIDGE`` RTM_NEWLINK and
RTM_DELLINK about its *ports* (e.g. ``ip link set X nomaster`` makes an
AF_BRIDGE RTM_DELLINK for X, which still exists); they are skipped here.
One receive buffer serves every namespace (the watcher is one thread).
"""

from __future__ import annotations

import errno
import socket

from vnet_tui.net import rtnl
from vnet_tui.net.session import Resync

_BUF = bytearray(1 << 18)


def read_events(sock: socket.socket) -> list[tuple[int, object]]:
    """Drain pending events: (message type, LinkMsg | AddrMsg); Resync on ENOBUFS."""
    out: list[tuple[int, object]] = []
    buf = _BUF
    while True:
        try:
            n = sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                raise Resync() from None
            raise
        for mtype, _f, _s, off, end in rtnl.messages(buf, n):
            if mtype in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
                if buf[off] == socket.AF_UNSPEC:  # ifinfomsg.ifi_family
                    out.append((mtype, rtnl.parse_link(buf, off, end)))
            elif mtype in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
                a = rtnl.parse_addr(buf, off, end)
                if a is not None:
                    out.append((mtype, a))
