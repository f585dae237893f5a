"""A narrow rtnetlink codec for the messages vnet-tui reads on hot paths.

Only what the model needs is decoded: links (name, kind, MAC, MTU, state,
master, peer link + netnsid, alias), addresses, ``RTM_GETSTATS`` 64-bit
counters and ``RTM_GETNSID``.  The decoders are checked against
pyroute2's own decoding in ``tests/live/test_rtnl_codec.py``; pyroute2
stays the tool for building change requests (ops/).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Iterator, Optional

# message types
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWNSID, RTM_GETNSID = 88, 90
RTM_NEWSTATS, RTM_GETSTATS = 92, 94
# flags
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
# multicast groups (bitmask form for bind)
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
# link attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS = 10, 16, 18, 20
IFLA_STATS64 = 23
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_SLAVE_KIND = 4
IFLA_STATS_LINK_64 = 1
# address attributes
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x40, 0x08
NETNSA_NSID, NETNSA_FD = 1, 3
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_STATSMSG = struct.Struct("=BxxxII")
_RTA = struct.Struct("=HH")
_STATS64_8 = struct.Struct("=8Q")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")


def _align(n: int) -> int:
    return (n + 3) & ~3


def attrs(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield (type, value offset, value end) of each rtattr in buf[start:end]."""
    off = start
    while off + 4 <= end:
        length, atype = _RTA.unpack_from(buf, off)
        if length < 4:
            return
        yield atype & 0x3FFF, off + 4, off + length
        off += _align(length)


def attr_bytes(type_: int, payload: bytes) -> bytes:
    """Encode one rtattr."""
    raw = _RTA.pack(4 + len(payload), type_) + payload
    return raw + b"\0" * (_align(len(raw)) - len(raw))


def message(type_: int, flags: int, seq: int, body: bytes) -> bytes:
    """Encode one netlink message."""
    return _NLMSGHDR.pack(16 + len(body), type_, flags, seq, 0) + body


def dump_links_request(seq: int) -> bytes:
    # IFLA_EXT_MASK without RTEXT_FILTER_VF keeps VF info out of the dump; counters come
    # from RTM_GETSTATS, so the kernel need not fill IFLA_STATS/IFLA_STATS64 either
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr_bytes(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def dump_addrs_request(seq: int) -> bytes:
    body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def dump_stats_request(seq: int) -> bytes:
    body = _STATSMSG.pack(socket.AF_UNSPEC, 0, 1 << (IFLA_STATS_LINK_64 - 1))
    return message(RTM_GETSTATS, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def get_nsid_request(seq: int, fd: int) -> bytes:
    body = b"\0\0\0\0" + attr_bytes(NETNSA_FD, _U32.pack(fd))  # rtgenmsg, aligned
    return message(RTM_GETNSID, NLM_F_REQUEST, seq, body)


@dataclass
class LinkMsg:
    """What a RTM_NEWLINK/RTM_DELLINK says about one link."""

    ifindex: int
    ifname: str = ""
    kind: str = "device"
    mac: Optional[str] = None
    mtu: int = 0
    flags: int = 0
    operstate: str = "unknown"
    master: Optional[int] = None
    link: Optional[int] = None
    link_netnsid: Optional[int] = None
    alias: Optional[str] = None
    slave_kind: Optional[str] = None
    arptype: int = 0


@dataclass
class AddrMsg:
    """One address on one interface."""

    ifindex: int
    family: int
    prefixlen: int
    address: str
    flags: int = 0

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass
class StatsMsg:
    """The first eight 64-bit counters of one link."""

    ifindex: int
    values: tuple[int, ...] = field(default_factory=tuple)  # kernel order, see STATS_ORDER


# order of the first eight u64 of struct rtnl_link_stats64
STATS_ORDER = (
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
)


def _cstr(buf: bytes, a: int, b: int) -> str:
    raw = bytes(buf[a:b])
    nul = raw.find(0)
    return (raw if nul < 0 else raw[:nul]).decode("utf-8", "surrogateescape")


def _mac(buf: bytes, a: int, b: int) -> str:
    return bytes(buf[a:b]).hex(":")


_WANTED_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_OPERSTATE,
                                IFLA_LINKINFO, IFLA_IFALIAS, IFLA_LINK_NETNSID))


def parse_link(buf: bytes, off: int, end: int) -> LinkMsg:
    _fam, arptype, index, flags, _chg = _IFINFOMSG.unpack_from(buf, off)
    m = LinkMsg(ifindex=index, flags=flags, arptype=arptype)
    # the attribute walk of ``attrs`` inlined: a link message carries ~50
    # attributes and this runs for every link of every re-dumped namespace
    rta = _RTA.unpack_from
    wanted = _WANTED_LINK_ATTRS
    a = off + _IFINFOMSG.size
    while a + 4 <= end:
        length, t = rta(buf, a)
        if length < 4:
            break
        t &= 0x3FFF
        if t in wanted:
            v, b = a + 4, a + length
            if t == IFLA_IFNAME:
                m.ifname = _cstr(buf, v, b)
            elif t == IFLA_ADDRESS:
                m.mac = _mac(buf, v, b) if b - v == 6 else None
            elif t == IFLA_MTU:
                m.mtu = _U32.unpack_from(buf, v)[0]
            elif t == IFLA_OPERSTATE:
                st = buf[v]
                m.operstate = OPERSTATES[st] if st < len(OPERSTATES) else "unknown"
            elif t == IFLA_MASTER:
                m.master = _U32.unpack_from(buf, v)[0]
            elif t == IFLA_LINK:
                m.link = _U32.unpack_from(buf, v)[0]
            elif t == IFLA_LINK_NETNSID:
                m.link_netnsid = _I32.unpack_from(buf, v)[0]
            elif t == IFLA_IFALIAS:
                m.alias = _cstr(buf, v, b) or None
            else:  # IFLA_LINKINFO
                for t2, a2, b2 in attrs(buf, v, b):
                    if t2 == IFLA_INFO_KIND:
                        m.kind = _cstr(buf, a2, b2)
                    elif t2 == IFLA_INFO_SLAVE_KIND:
                        m.slave_kind = _cstr(buf, a2, b2)
        a += (length + 3) & ~3
    if m.kind == "device" and m.arptype == 772:
        m.kind = "loopback"
    return m


def _ip_text(fam: int, raw: bytes) -> str:
    """The address as ``ipaddress`` writes it (inet_ntop is ~10× faster and agrees but
    for IPv6 with an embedded IPv4 tail, which ipaddress writes in hex)."""
    if fam in (socket.AF_INET, socket.AF_INET6) and len(raw) == (4 if fam == socket.AF_INET else 16):
        text = socket.inet_ntop(fam, raw)
        if fam == socket.AF_INET or "." not in text:
            return text
    return str(ipaddress.ip_address(raw))


def parse_addr(buf: bytes, off: int, end: int) -> Optional[AddrMsg]:
    fam, plen, flags, _scope, index = _IFADDRMSG.unpack_from(buf, off)
    local = address = None
    rta = _RTA.unpack_from
    a = off + _IFADDRMSG.size
    while a + 4 <= end:
        length, t = rta(buf, a)
        if length < 4:
            break
        t &= 0x3FFF
        if t == IFA_LOCAL:
            local = bytes(buf[a + 4:a + length])
        elif t == IFA_ADDRESS:
            address = bytes(buf[a + 4:a + length])
        elif t == IFA_FLAGS:
            flags = _U32.unpack_from(buf, a + 4)[0]
        a += (length + 3) & ~3
    raw = local or address
    if raw is None:
        return None
    return AddrMsg(index, fam, plen, _ip_text(fam, raw), flags)


def parse_stats(buf: bytes, off: int, end: int) -> Optional[StatsMsg]:
    _fam, index, _mask = _STATSMSG.unpack_from(buf, off)
    for t, a, b in attrs(buf, off + _STATSMSG.size, end):
        if t == IFLA_STATS_LINK_64 and b - a >= 64:
            return StatsMsg(index, _STATS64_8.unpack_from(buf, a))
    return None


def parse_nsid(buf: bytes, off: int, end: int) -> Optional[int]:
    for t, a, _b in attrs(buf, off + 4, end):
        if t == NETNSA_NSID:
            v = _I32.unpack_from(buf, a)[0]
            return None if v < 0 else v
    return None


def messages(buf: bytes, n: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (type, flags, seq, body offset, end) for each message in buf[:n]."""
    off = 0
    while off + 16 <= n:
        length, mtype, flags, seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < 16:
            return
        yield mtype, flags, seq, off + 16, off + length
        off += _align(length)


def error_code(buf: bytes, off: int) -> int:
    """The (negative) errno of an NLMSG_ERROR body; 0 is an ACK."""
    return _I32.unpack_from(buf, off)[0]
