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

- per container, ``sockets_in`` makes its socket with two system calls
  (setns, socket) and ``configure`` sends its four requests at once with
  only the last asking for an ACK: one send, one answer (a refusal still
  answers, in order, before it).

``Channel`` sends many requests in one ``sendmsg`` and checks every ACK, as
``nl.Batch`` does, and also keeps what ``veth``'s echo said.

These encoders belong in the shared rtnetlink codec (vnet_tui.net.rtnl)
once it holds them; until then they are packed here, for the lab only.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Optional

from vnet_tui.net import rtnl
from vnet_tui.net.netns import netlink_socket

from . import kernel
from .nl import NetlinkError

RTM_SETLINK = 19
NLM_F_ECHO = 0x8
NLM_F_CREATE, NLM_F_EXCL = 0x400, 0x200
IFLA_NET_NS_FD = 28
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES = 31, 32
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_F_NODAD = 0x02
IFF_UP = 0x1
_REQ = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK
_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_NO_FLAGS = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
_UP = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)


def _attr(type_: int, payload: bytes) -> bytes:
    raw = _RTA.pack(4 + len(payload), type_) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _message(type_: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSGHDR.pack(16 + len(body), type_, flags, seq, 0) + body


def _name(name: str) -> bytes:
    return _attr(rtnl.IFLA_IFNAME, name.encode() + b"\0")


def _mac(mac: str) -> bytes:
    return _attr(rtnl.IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))


_ONE_QUEUE = _attr(IFLA_NUM_TX_QUEUES, _U32.pack(1)) + _attr(IFLA_NUM_RX_QUEUES, _U32.pack(1))
_VETH_KIND = _attr(rtnl.IFLA_INFO_KIND, b"veth\0")


def veth(seq: int, ifname: str, mac: str, master: int, peer_ifname: str, peer_mac: str,
         peer_netns_fd: int) -> bytes:
    """One RTM_NEWLINK: host end ``ifname`` on ``master`` and up, the peer already in its namespace.

    One queue each way on both ends (see the module's docstring), echoed.  The
    peer cannot be brought up in the same message (the kernel applies its
    flags before the pair is joined: ENOTCONN); it is set up from its namespace.
    """
    peer = (_NO_FLAGS + _name(peer_ifname) + _mac(peer_mac) + _ONE_QUEUE
            + _attr(IFLA_NET_NS_FD, _U32.pack(peer_netns_fd)))
    info = _VETH_KIND + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
    body = (_UP + _name(ifname) + _mac(mac) + _ONE_QUEUE
            + _attr(rtnl.IFLA_MASTER, _U32.pack(master)) + _attr(rtnl.IFLA_LINKINFO, info))
    return _message(rtnl.RTM_NEWLINK, _REQ | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, seq, body)


def set_up(seq: int, name: str, ack: bool = True) -> bytes:
    """Bring link ``name`` up (looked up by name).  ``ack=False``: the kernel answers only a refusal."""
    return _message(RTM_SETLINK, _REQ if ack else rtnl.NLM_F_REQUEST, seq, _UP + _name(name))


def new_addr(seq: int, index: int, cidr: str, ack: bool = True) -> bytes:
    """Add address ``cidr`` (``a.b.c.d/n`` or ``x::y/n``) to link ``index``; IPv6 without DAD (a lab has no duplicates).

    ``ack=False``: the kernel answers only a refusal.
    """
    ip, _, plen = cidr.partition("/")
    v6 = ":" in ip
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    raw = socket.inet_pton(fam, ip)
    flags = IFA_F_NODAD if v6 else 0
    body = (_IFADDRMSG.pack(fam, int(plen), flags, 0, index)
            + _attr(rtnl.IFA_LOCAL, raw) + _attr(rtnl.IFA_ADDRESS, raw) + _attr(rtnl.IFA_FLAGS, _U32.pack(flags)))
    return _message(rtnl.RTM_NEWADDR, (_REQ if ack else rtnl.NLM_F_REQUEST) | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def ack_error(reply: bytes) -> int:
    """The errno in the first message of ``reply`` when it is an NLMSG_ERROR (0: an ACK, or no error message)."""
    if len(reply) >= 20 and _NLMSGHDR.unpack_from(reply, 0)[1] == rtnl.NLMSG_ERROR:
        return -rtnl.error_code(reply, 16)
    return 0


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
    last = _U32.unpack_from(reqs[-1][0], 8)[0]
    what = {_U32.unpack_from(m, 8)[0]: d for m, d in reqs}
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


class Channel:
    """A socket in one namespace: requests in one ``sendmsg``, every ACK checked, echoed links kept."""

    _buf = bytearray(1 << 16)  # shared: the lab builds from one thread

    def __init__(self, netns_fd: Optional[int], rcvbuf: int = 1 << 22) -> None:
        self.sock = netlink_socket(netns_fd, rcvbuf=rcvbuf)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def run(self, reqs: list[tuple[bytes, str]]) -> dict[int, int]:
        """Send (message, description) pairs at once; raise NetlinkError on the first failure.

        Returns {seq: IFLA_LINK} for each echoed RTM_NEWLINK that carried one
        (``veth``: the peer's ifindex).
        """
        what = {_U32.unpack_from(m, 8)[0]: d for m, d in reqs}
        self.sock.sendall(b"".join(m for m, _ in reqs))
        links: dict[int, int] = {}
        failure: Optional[NetlinkError] = None
        buf = self._buf
        while what:
            n = self.sock.recv_into(buf)
            for mtype, _flags, seq, off, end in rtnl.messages(buf, n):
                if mtype == rtnl.NLMSG_ERROR:
                    desc = what.pop(seq, None)
                    if desc is not None:
                        code = rtnl.error_code(buf, off)
                        if code and failure is None:
                            failure = NetlinkError(-code, desc)
                elif mtype == rtnl.RTM_NEWLINK and seq in what:
                    link = rtnl.parse_link(buf, off, end).link
                    if link:
                        links[seq] = link
        if failure is not None:
            raise failure
        return links

    def link_index(self, name: str) -> int:
        """The ifindex of link ``name`` in this namespace."""
        return link_index(self.sock, name, self.next_seq())


def link_index(sock: "socket.socket", name: str, seq: int = 1 << 30) -> int:
    """The ifindex of link ``name`` in ``sock``'s namespace (one get request)."""
    body = _NO_FLAGS + _name(name) + _attr(rtnl.IFLA_EXT_MASK, _U32.pack(rtnl.RTEXT_FILTER_SKIP_STATS))
    sock.send(_message(rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST, seq, body))
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
