"""The rtnetlink change requests the lab sends, in the lab's words, sent in batches.

The lab builds thousands of links and addresses; pyroute2 costs ~0.1 ms
to encode each message, so the lab encodes its requests with the codec
(``vnet_tui.net.rtnl``: the same veth-with-peer request the change layer
sends) and sends many in one ``sendmsg`` (``Batch``: the kernel runs
them one by one and queues an ACK for each).  Links here are named, not
numbered: a lab knows its names before the kernel numbers them.
"""

from __future__ import annotations

from typing import Optional

from vnet_tui.net.netns import netlink_socket
from vnet_tui.net.rtnl import addrs, batch, linkchange
from vnet_tui.net.rtnl.batch import RequestFailed as NetlinkError
from vnet_tui.net.rtnl.linkchange import new_bridge, querier_on
from vnet_tui.net.rtnl.numbers import IFA_F_NODAD

__all__ = ["Batch", "IFA_F_NODAD", "NetlinkError", "del_link", "new_addr", "new_bridge", "new_veth", "querier_on",
           "set_link"]


def new_veth(seq: int, ifname: str, mac: str, master: int, peer_ifname: str, peer_mac: str,
             peer_netns_fd: int) -> bytes:
    """One RTM_NEWLINK: host end ``ifname`` on ``master``, up; the peer already in its namespace.

    The peer cannot be brought up in the same message (the kernel applies its
    flags before the pair is joined: ENOTCONN); set it up from its namespace.
    """
    return linkchange.new_veth(seq, ifname, mac, peer_ifname, peer_mac, peer_netns_fd, master=master, up=True)


def set_link(seq: int, name: str, up: Optional[bool] = True, mac: Optional[str] = None,
             master: Optional[int] = None) -> bytes:
    """Change link ``name`` (looked up by name): MAC, master, up (False: down; None: as it is)."""
    state = None if up is None else "up" if up else "down"
    return linkchange.set_link(seq, 0, ifname=name, address=mac, master=master, state=state)


def del_link(seq: int, name: str) -> bytes:
    return linkchange.del_link(seq, ifname=name)


def new_addr(seq: int, index: int, cidr: str) -> bytes:
    """Add address ``cidr`` to link ``index`` (IPv6 without DAD: a lab has no duplicates)."""
    return addrs.new_addr(seq, index, cidr, nodad=True)


class Batch(batch.Batch):
    """A socket in one namespace (None: ours) that sends requests in batches and checks every ACK."""

    def __init__(self, netns_fd: Optional[int]) -> None:
        super().__init__(netlink_socket(netns_fd, rcvbuf=1 << 22))
