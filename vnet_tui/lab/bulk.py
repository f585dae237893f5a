"""The requests ``lab up`` sends per container, made to cost the kernel as little as it can.

Measured on the 2-core machine, a lab's time goes to the kernel, most of it
waiting for the rtnl lock that every link and address change takes (and
that every other namespace on the machine takes too).  So each request here
holds it as briefly as possible and none is sent that can be avoided:

- ``veth``: the pair is made with one TX and one RX queue each
  (``IFLA_NUM_TX_QUEUES``/``IFLA_NUM_RX_QUEUES``).  Without them the kernel
  makes a queue per CPU and then cuts each end down to one, and each cut
  waits for an expedited RCU grace period with the rtnl lock held: two per
  pair, milliseconds each on a busy machine, every other rtnl user waiting.
  ``veth`` also asks for an echo (``NLM_F_ECHO``): the kernel sends back the
  host end as made, whose ``IFLA_LINK`` is the container end's ifindex, so
  the container's addresses need no lookup of their own.
- ``new_addr``: addresses packed from the text with ``inet_pton``
  (``ipaddress`` costs ~0.1 ms each, 10,000 of them at 5,000 containers).

- ``no_link_local``: the container end makes no IPv6 link-local address
  (``addrgenmode none``, set before it goes up).  With one it sends a
  neighbour solicitation (DAD) and router solicitations for ever (backing
  off to one an hour), which the bridges flood to every port of the lab:
  each of N containers receives N of them.  Its static IPv6 address is
  added without DAD; that is all it needs (measured at 5,000: up in
  23–26 s without link-locals, 31 s with them).
- per container, ``sockets_in`` makes its socket with two system calls
  (setns, socket) and ``configure`` sends its five requests at once with
  only the last asking for an ACK: one send, one answer (a refusal still
  answers, in order, before it).

``Channel`` sends many requests in one ``sendmsg`` and checks every ACK, as
``nl.Batch`` does, and also keeps what ``veth``'s echo said.

The messages are packed by the shared rtnetlink codec (vnet_tui.net.rtnl:
``new_veth(queues=1, echo=True)``, ``set_link``/``new_addr`` with
``ack=False``); this module chooses them and sends them.
"""

from __future__ import annotations

import os
import socket
from typing import Optional

from vnet_tui.net import rtnl
from vnet_tui.net.netns import netlink_socket
from vnet_tui.net.rtnl.addrs import new_addr as _new_addr
from vnet_tui.net.rtnl.attr import attr
from vnet_tui.net.rtnl.batch import Batch
from vnet_tui.net.rtnl.linkchange import new_veth, set_link
from vnet_tui.net.rtnl.links import get_link_request, ifinfo
from vnet_tui.net.rtnl.message import message, seq_of
from vnet_tui.net.rtnl.numbers import NLM_F_ACK, NLM_F_REQUEST, RTM_NEWLINK

from . import kernel
from .nl import NetlinkError


def veth(seq: int, ifname: str, mac: str, master: int, peer_ifname: str, peer_mac: str,
         peer_netns_fd: int) -> bytes:
    """One RTM_NEWLINK: host end ``ifname`` on ``master`` and up, the peer already in its namespace.

    One queue each way on both ends (see the module's docstring), echoed.  The
    peer cannot be brought up in the same message (the kernel applies its
    flags before the pair is joined: ENOTCONN); it is set up from its namespace.
    """
    return new_veth(seq, ifname, mac, peer_ifname, peer_mac, peer_netns_fd, master=master, up=True, queues=1,
                    echo=True)


def set_up(seq: int, name: str, ack: bool = True) -> bytes:
    """Bring link ``name`` up (looked up by name).  ``ack=False``: the kernel answers only a refusal."""
    return set_link(seq, 0, ifname=name, state="up", ack=ack)


IFLA_AF_SPEC, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE = 26, 8, 1  # linux/if_link.h


def no_link_local(seq: int, index: int, ack: bool = True) -> bytes:
    """``ip link set INDEX addrgenmode none``: no IPv6 link-local when it goes up (module docstring).

    ``ack=False``: the kernel answers only a refusal.
    """
    mode = attr(IFLA_INET6_ADDR_GEN_MODE, bytes([IN6_ADDR_GEN_MODE_NONE]))
    body = ifinfo(index) + attr(IFLA_AF_SPEC, attr(socket.AF_INET6, mode))
    return message(RTM_NEWLINK, NLM_F_REQUEST | (NLM_F_ACK if ack else 0), seq, body)


def new_addr(seq: int, index: int, cidr: str, ack: bool = True) -> bytes:
    """Add address ``cidr`` to link ``index``; IPv6 without DAD (a lab has no duplicates).

    ``ack=False``: the kernel answers only a refusal.
    """
    return _new_addr(seq, index, cidr, nodad=True, ack=ack)


def sockets_in(netns_fds: "list[int]") -> "list[socket.socket]":
    """A netlink socket in each namespace: this thread enters each in turn, then comes back once.

    Two system calls a namespace (setns, socket) where ``netlink_socket`` makes
    ten; the kernel binds each socket on its first send.
    """
    made: list[socket.socket] = []
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for fd in netns_fds:
            kernel.setns(fd, kernel.CLONE_NEWNET)
            made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                      socket.NETLINK_ROUTE))
    except BaseException:
        for s in made:
            s.close()
        raise
    finally:
        kernel.setns(home, kernel.CLONE_NEWNET)
        os.close(home)
    return made


def configure(sock: "socket.socket", reqs: "list[tuple[bytes, str]]") -> None:
    """Send requests of which only the last asks for an ACK; raise NetlinkError on the first refusal.

    A request without ``NLM_F_ACK`` is answered only when refused, and the kernel
    runs them in order: the last one's answer means every one was read.
    """
    last = seq_of(reqs[-1][0])
    what = {seq_of(m): d for m, d in reqs}
    sock.sendall(b"".join(m for m, _ in reqs))
    failure: Optional[NetlinkError] = None
    buf = Channel._buf
    while True:
        n = sock.recv_into(buf)
        for mtype, _flags, seq, off, _end in rtnl.messages(buf, n):
            if mtype != rtnl.NLMSG_ERROR or seq not in what:
                continue
            code = rtnl.error_code(buf, off)
            if code and failure is None:
                failure = NetlinkError(-code, what[seq])
            if seq == last:
                if failure is not None:
                    raise failure
                return


class Channel(Batch):
    """A socket in one namespace: requests in one ``sendmsg``, every ACK checked, echoed links kept
    (the codec's ``Batch``, with a receive buffer deep enough for a few hundred echoes)."""

    _buf = bytearray(1 << 16)  # shared: the lab builds from one thread

    def __init__(self, netns_fd: Optional[int], rcvbuf: int = 1 << 22) -> None:
        super().__init__(netlink_socket(netns_fd, rcvbuf=rcvbuf))

    @property
    def seq(self) -> int:
        """The last sequence number given out (``next_seq`` gives the one after)."""
        return self._seq


def link_index(sock: "socket.socket", name: str, seq: int = 1 << 30) -> int:
    """The ifindex of link ``name`` in ``sock``'s namespace (one get request)."""
    sock.send(get_link_request(seq, ifname=name))
    buf = Channel._buf
    while True:
        n = sock.recv_into(buf)
        for mtype, _f, mseq, off, end in rtnl.messages(buf, n):
            if mseq != seq:
                continue
            if mtype == rtnl.NLMSG_ERROR:
                code = rtnl.error_code(buf, off)
                raise NetlinkError(-code if code else 2, f"find {name}")
            if mtype == rtnl.RTM_NEWLINK:
                return rtnl.parse_link(buf, off, end).ifindex
