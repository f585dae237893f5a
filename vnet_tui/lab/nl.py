"""The few rtnetlink change requests the lab sends, encoded by hand, sent in batches.

The lab builds thousands of links and addresses; pyroute2 costs ~0.1 ms
to encode each message, so the lab encodes its five kinds of request with
``struct`` (checked against pyroute2's decoder in tests/unit) and sends
many in one ``sendmsg`` (the kernel runs them one by one and queues an
ACK for each).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from typing import Iterable, Optional

from vnet_tui.net import rtnl
from vnet_tui.net.netns import netlink_socket

RTM_SETLINK = 19
RTM_DELLINK = 17
NLM_F_CREATE, NLM_F_EXCL = 0x400, 0x200
IFLA_NET_NS_PID, IFLA_NET_NS_FD = 19, 28
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_BR_MCAST_QUERIER, IFLA_BR_MCAST_HASH_MAX, IFLA_BR_MCAST_STARTUP_QUERY_CNT = 25, 27, 29
IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, IFLA_BR_MCAST_STARTUP_QUERY_INTVL = 34, 35
IFA_F_NODAD = 0x02
IFF_UP = 0x1
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_U32 = struct.Struct("=I")
_REQ = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK


def _ifname(name: str) -> bytes:
    return rtnl.attr_bytes(rtnl.IFLA_IFNAME, name.encode() + b"\0")


def _mac(mac: str) -> bytes:
    return rtnl.attr_bytes(rtnl.IFLA_ADDRESS, bytes(int(x, 16) for x in mac.split(":")))


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def new_bridge(seq: int, name: str, mac: str, mcast_groups: int = 4096) -> bytes:
    """Create bridge ``name``, up, with a fixed MAC (ports then never change it).

    Multicast snooping is sized for ``mcast_groups`` groups (past that the
    kernel turns snooping off) and its querier timings are short (1 s) so
    ``querier_on`` takes effect within seconds: see there.
    """
    u64 = struct.Struct("=Q")
    data = (rtnl.attr_bytes(IFLA_BR_MCAST_HASH_MAX, _U32.pack(mcast_groups))
            + rtnl.attr_bytes(IFLA_BR_MCAST_STARTUP_QUERY_CNT, _U32.pack(5))
            + rtnl.attr_bytes(IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, u64.pack(100))  # centiseconds
            + rtnl.attr_bytes(IFLA_BR_MCAST_STARTUP_QUERY_INTVL, u64.pack(100)))
    info = rtnl.attr_bytes(rtnl.IFLA_INFO_KIND, b"bridge\0") + rtnl.attr_bytes(IFLA_INFO_DATA, data)
    body = _ifinfo(up=True) + _ifname(name) + _mac(mac) + rtnl.attr_bytes(rtnl.IFLA_LINKINFO, info)
    return rtnl.message(rtnl.RTM_NEWLINK, _REQ | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def querier_on(seq: int, name: str) -> bytes:
    """Make bridge ``name`` the multicast querier.

    With a querier, snooping delivers group traffic (MLD reports, neighbour
    solicitations) only to the ports that joined the group; without one the
    bridge floods it, and each container's MLD reports reach every other
    container: N² deliveries for a lab of N.  A separate message, because the
    kernel applies the querier before the intervals within one message.
    """
    data = rtnl.attr_bytes(IFLA_BR_MCAST_QUERIER, b"\x01")
    info = rtnl.attr_bytes(rtnl.IFLA_INFO_KIND, b"bridge\0") + rtnl.attr_bytes(IFLA_INFO_DATA, data)
    return rtnl.message(rtnl.RTM_NEWLINK, _REQ, seq, _ifinfo(up=True) + _ifname(name)
                        + rtnl.attr_bytes(rtnl.IFLA_LINKINFO, info))


def new_veth(seq: int, ifname: str, mac: str, master: int, peer_ifname: str, peer_mac: str,
             peer_netns_fd: int) -> bytes:
    """One RTM_NEWLINK: host end ``ifname`` on ``master``, up; the peer already in its namespace.

    The peer cannot be brought up in the same message (the kernel applies its
    flags before the pair is joined: ENOTCONN); set it up from its namespace.
    """
    peer = (_ifinfo() + _ifname(peer_ifname) + _mac(peer_mac)
            + rtnl.attr_bytes(IFLA_NET_NS_FD, _U32.pack(peer_netns_fd)))
    data = rtnl.attr_bytes(VETH_INFO_PEER, peer)
    info = rtnl.attr_bytes(rtnl.IFLA_INFO_KIND, b"veth\0") + rtnl.attr_bytes(IFLA_INFO_DATA, data)
    body = (_ifinfo(up=True) + _ifname(ifname) + _mac(mac)
            + rtnl.attr_bytes(rtnl.IFLA_MASTER, _U32.pack(master))
            + rtnl.attr_bytes(rtnl.IFLA_LINKINFO, info))
    return rtnl.message(rtnl.RTM_NEWLINK, _REQ | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def set_link(seq: int, name: str, up: bool = True, mac: Optional[str] = None,
             master: Optional[int] = None) -> bytes:
    """Change link ``name`` (looked up by name): MAC, master, up."""
    body = _ifinfo(up=up) + _ifname(name)
    if mac:
        body += _mac(mac)
    if master is not None:
        body += rtnl.attr_bytes(rtnl.IFLA_MASTER, _U32.pack(master))
    return rtnl.message(RTM_SETLINK, _REQ, seq, body)


def del_link(seq: int, name: str) -> bytes:
    return rtnl.message(RTM_DELLINK, _REQ, seq, _ifinfo() + _ifname(name))


def get_link(seq: int, name: str) -> bytes:
    body = _ifinfo() + _ifname(name) + rtnl.attr_bytes(rtnl.IFLA_EXT_MASK, _U32.pack(0))
    return rtnl.message(rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST, seq, body)


def new_addr(seq: int, index: int, cidr: str) -> bytes:
    """Add address ``cidr`` to link ``index`` (IPv6 without DAD: a lab has no duplicates)."""
    iface = ipaddress.ip_interface(cidr)
    raw = iface.ip.packed
    fam = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    flags = IFA_F_NODAD if fam == socket.AF_INET6 else 0
    body = (_IFADDRMSG.pack(fam, iface.network.prefixlen, flags, 0, index)
            + rtnl.attr_bytes(rtnl.IFA_LOCAL, raw) + rtnl.attr_bytes(rtnl.IFA_ADDRESS, raw)
            + rtnl.attr_bytes(rtnl.IFA_FLAGS, _U32.pack(flags)))
    return rtnl.message(rtnl.RTM_NEWADDR, _REQ | NLM_F_CREATE | NLM_F_EXCL, seq, body)


class NetlinkError(OSError):
    """A change request failed; ``what`` says which."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.what = what


class Batch:
    """A socket in one namespace that sends requests in batches and checks every ACK."""

    def __init__(self, netns_fd: Optional[int]) -> None:
        self.sock = netlink_socket(netns_fd, rcvbuf=1 << 22)
        self._seq = 0
        self._buf = bytearray(1 << 16)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def run(self, requests: Iterable[tuple[bytes, str]], chunk: int = 128) -> None:
        """Send (message, description) pairs ``chunk`` at a time; raise NetlinkError on the first failure."""
        pending: list[tuple[bytes, str]] = []
        for req in requests:
            pending.append(req)
            if len(pending) >= chunk:
                self._flush(pending)
                pending = []
        if pending:
            self._flush(pending)

    def _flush(self, reqs: list[tuple[bytes, str]]) -> None:
        what = {}
        for msg, desc in reqs:
            what[struct.unpack_from("=I", msg, 8)[0]] = desc
        self.sock.sendall(b"".join(m for m, _ in reqs))
        failure: Optional[NetlinkError] = None
        while what:
            n = self.sock.recv_into(self._buf)
            for mtype, _flags, seq, off, _end in rtnl.messages(self._buf, n):
                if mtype == rtnl.NLMSG_ERROR and seq in what:
                    desc = what.pop(seq)
                    code = rtnl.error_code(self._buf, off)
                    if code and failure is None:
                        failure = NetlinkError(-code, desc)
        if failure is not None:
            raise failure

    def link_index(self, name: str) -> int:
        """The ifindex of link ``name`` in this namespace."""
        seq = self.next_seq()
        self.sock.send(get_link(seq, name))
        while True:
            n = self.sock.recv_into(self._buf)
            for mtype, _f, mseq, off, end in rtnl.messages(self._buf, n):
                if mseq != seq:
                    continue
                if mtype == rtnl.NLMSG_ERROR:
                    code = rtnl.error_code(self._buf, off)
                    raise NetlinkError(-code if code else 2, f"find {name}")
                if mtype == rtnl.RTM_NEWLINK:
                    return rtnl.parse_link(self._buf, off, end).ifindex
