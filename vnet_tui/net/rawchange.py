"""The changes an adapter's add, edit and delete make, as raw rtnetlink requests.

pyroute2's synchronous ``IPRoute`` runs an asyncio loop per call and
costs ~0.2 ms of Python per request (and ~1 ms to open per namespace);
adding one adapter makes about ten requests in two namespaces.  These
encoders write the same messages ``ip`` writes — RTM_NEWLINK (create a
veth with its peer in another namespace; set name, MAC, MTU, master,
alias, up/down), RTM_DELLINK, RTM_NEWADDR/RTM_DELADDR (IPv4 with
IFA_LOCAL = IFA_ADDRESS, as ``ip`` and pyroute2 do) — and ``call``
sends one and waits for its acknowledgement.  A refusal raises
pyroute2's ``NetlinkError`` with the kernel's errno, so the change
layer's errors read the same whichever path made the request.
tests/live/test_rawchange.py checks each against ``ip -j``.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Callable, Optional

from pyroute2.netlink.exceptions import NetlinkError

from . import rtnl
from .session import NetnsSocket

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2

_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_U32 = struct.Struct("=I")

# link_set keywords this module encodes; anything else goes through pyroute2
LINK_SET_KEYS = frozenset({"ifname", "address", "mtu", "master", "ifalias", "state"})


def _attr(t: int, payload: bytes) -> bytes:
    return rtnl.attr_bytes(t, payload)


def _name(s: str) -> bytes:
    return s.encode() + b"\0"


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _link_attrs(ifname: Optional[str] = None, address: Optional[str] = None, mtu: Optional[int] = None) -> bytes:
    out = b""
    if ifname is not None:
        out += _attr(IFLA_IFNAME, _name(ifname))
    if address:
        out += _attr(IFLA_ADDRESS, _mac(address))
    if mtu is not None:
        out += _attr(IFLA_MTU, _U32.pack(mtu))
    return out


def veth_add(seq: int, ifname: str, mac: str, mtu: int, peer_name: str, peer_fd: int, peer_mac: str,
             peer_mtu: int) -> bytes:
    """``ip link add IFNAME address MAC mtu MTU type veth peer name P address PMAC mtu PMTU netns FD``."""
    peer = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _link_attrs(peer_name, peer_mac, peer_mtu)
            + _attr(IFLA_NET_NS_FD, _U32.pack(peer_fd)))
    info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _link_attrs(ifname, mac, mtu) + _attr(IFLA_LINKINFO, info)
    return rtnl.message(RTM_NEWLINK, rtnl.NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def link_set(seq: int, index: int, *, ifname: Optional[str] = None, address: Optional[str] = None,
             mtu: Optional[int] = None, master: Optional[int] = None, ifalias: Optional[str] = None,
             state: Optional[str] = None) -> bytes:
    """``ip link set dev INDEX …``: master 0 is nomaster; ifalias "" clears the alias; state up|down."""
    flags = change = 0
    if state is not None:
        if state not in ("up", "down"):
            raise ValueError(f"state {state!r}: up or down")
        change = rtnl.IFF_UP
        flags = rtnl.IFF_UP if state == "up" else 0
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change) + _link_attrs(ifname, address, mtu)
    if master is not None:
        body += _attr(IFLA_MASTER, _U32.pack(master))
    if ifalias is not None:
        # an empty payload removes the alias (dev_set_alias with length 0), as `ip link set alias ""`
        body += _attr(IFLA_IFALIAS, ifalias.encode())
    return rtnl.message(RTM_NEWLINK, rtnl.NLM_F_REQUEST | NLM_F_ACK, seq, body)


def link_del(seq: int, index: int) -> bytes:
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    return rtnl.message(RTM_DELLINK, rtnl.NLM_F_REQUEST | NLM_F_ACK, seq, body)


def addr(seq: int, add: bool, index: int, cidr: str) -> bytes:
    """``ip addr add|del ADDR/PLEN dev INDEX``."""
    a, _, plen = cidr.partition("/")
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    raw = socket.inet_pton(fam, a)
    prefix = int(plen) if plen else (128 if fam == socket.AF_INET6 else 32)
    body = _IFADDRMSG.pack(fam, prefix, 0, 0, index)
    if fam == socket.AF_INET:
        body += _attr(IFA_LOCAL, raw)
    body += _attr(IFA_ADDRESS, raw)
    if add:
        return rtnl.message(RTM_NEWADDR, rtnl.NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)
    return rtnl.message(RTM_DELADDR, rtnl.NLM_F_REQUEST | NLM_F_ACK, seq, body)


def call(s: NetnsSocket, build: Callable[[int], bytes]) -> None:
    """Send the request ``build(seq)`` makes on ``s`` and wait for its acknowledgement.

    Raises NetlinkError(errno) if the kernel refused it.
    """
    seq = s._next_seq()
    s.sock.send(build(seq))
    buf = s._buf
    while True:
        n = s.sock.recv_into(buf)
        if n <= 0:
            raise NetlinkError(0, "netlink socket closed")
        for mtype, _flags, mseq, off, _end in rtnl.messages(buf, n):
            if mseq != seq or mtype != rtnl.NLMSG_ERROR:
                continue
            code = -rtnl.error_code(buf, off)
            if code:
                raise NetlinkError(code, os.strerror(code))
            return
