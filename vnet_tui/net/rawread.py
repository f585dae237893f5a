"""One interface's state read with raw rtnetlink (no pyroute2): what ``read_end`` verifies with.

pyroute2 costs ~0.5 ms of Python per request; an interface's state takes
five or six requests (the link, its master's name, its addresses, IPv4
and IPv6 routes), read twice per change (both ends of a veth).  Here each
request is one ``send``/``recv`` on a socket kept per namespace
(``ChangeNs.raw``) with NETLINK_GET_STRICT_CHK, so the kernel filters
address and route dumps by interface; results are filtered here too (a
kernel without strict checking sends everything).

The messages are read into the same shapes pyroute2 gave ``read_end``:
addresses and route destinations/gateways as ``inet_ntop`` writes them,
the route's table from RTA_TABLE (else the header), its metric from
RTA_PRIORITY.  Anything unexpected raises ``RawReadError`` and the
caller reads through pyroute2 instead.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from typing import Any, Callable, Optional

from vnet_tui.net import rtnl
from vnet_tui.net.session import NetnsSocket

SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12

RTM_GETROUTE = 26
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 9, 15

_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_U32 = struct.Struct("=I")


class RawReadError(Exception):
    """The raw read could not be done; read through pyroute2 instead."""


@dataclass
class RawLink:
    index: int
    ifname: str
    kind: str
    mac: Optional[str]
    mtu: int
    flags: int
    master: Optional[int]
    alias: Optional[str]


@dataclass
class RawRoute:
    family: int
    dst_len: int
    table: int
    proto: int
    type: int
    dst: Optional[str]
    oif: Optional[int]
    gateway: Optional[str]
    priority: Optional[int]
    multipath: bool


def open_socket(fd: int) -> NetnsSocket:
    """A plain rtnetlink socket in namespace ``fd``, strict-checking if the kernel can."""
    try:
        s = NetnsSocket(fd)
    except OSError as e:
        raise RawReadError(f"no netlink socket: {e}") from e
    try:
        s.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        pass  # kernel < 4.20: dumps come unfiltered and are filtered here
    return s


def _ntop(fam: int, raw: bytes) -> str:
    return socket.inet_ntop(fam, raw)


def _request(s: NetnsSocket, msg_type: int, flags: int, body: bytes,
             parse: Callable[[bytes, int, int], Any]) -> list[Any]:
    """Send one request and gather its reply (one message, or a dump to NLMSG_DONE).

    An ENODEV/ENOENT answer is an empty list; any other error raises RawReadError.
    """
    seq = s._next_seq()
    try:
        s.sock.send(rtnl.message(msg_type, rtnl.NLM_F_REQUEST | flags, seq, body))
    except OSError as e:
        raise RawReadError(str(e)) from e
    dump = bool(flags & rtnl.NLM_F_DUMP)
    out: list[Any] = []
    buf = s._buf
    while True:
        try:
            n = s.sock.recv_into(buf)
        except OSError as e:
            raise RawReadError(str(e)) from e
        if n <= 0:
            raise RawReadError("netlink socket closed")
        for mtype, mflags, mseq, off, end in rtnl.messages(buf, n):
            if mseq != seq:
                continue
            if mflags & rtnl.NLM_F_DUMP_INTR:
                raise RawReadError("dump interrupted")
            if mtype == rtnl.NLMSG_DONE:
                return out
            if mtype == rtnl.NLMSG_ERROR:
                code = -rtnl.error_code(buf, off)
                if code in (errno.ENODEV, errno.ENOENT):
                    return []
                if code:
                    raise RawReadError(f"netlink error {code}: {errno.errorcode.get(code, '?')}")
                return out
            item = parse(buf, off, end)
            if item is not None:
                out.append(item)
            if not dump:
                return out


def _parse_link(buf: bytes, off: int, end: int) -> RawLink:
    _fam, _arptype, index, flags, _chg = _IFINFOMSG.unpack_from(buf, off)
    name, kind, mac, mtu, master, alias = "", None, None, 0, None, None
    for t, a, b in rtnl.attrs(buf, off + _IFINFOMSG.size, end):
        if t == rtnl.IFLA_IFNAME:
            name = rtnl._cstr(buf, a, b)
        elif t == rtnl.IFLA_ADDRESS:
            mac = bytes(buf[a:b]).hex(":") if b > a else None
        elif t == rtnl.IFLA_MTU:
            mtu = _U32.unpack_from(buf, a)[0]
        elif t == rtnl.IFLA_MASTER:
            master = _U32.unpack_from(buf, a)[0]
        elif t == rtnl.IFLA_IFALIAS:
            alias = rtnl._cstr(buf, a, b)
        elif t == rtnl.IFLA_LINKINFO:
            for t2, a2, b2 in rtnl.attrs(buf, a, b):
                if t2 == rtnl.IFLA_INFO_KIND:
                    kind = rtnl._cstr(buf, a2, b2)
    return RawLink(index, name, kind or "device", mac, mtu, flags, master or None, alias)


def get_link(s: NetnsSocket, ifname: Optional[str] = None, index: Optional[int] = None) -> Optional[RawLink]:
    """RTM_GETLINK of one link, by index or by name; None if there is none."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index or 0, 0, 0)
    if not index:
        if not ifname:
            return None
        body += rtnl.attr_bytes(rtnl.IFLA_IFNAME, ifname.encode() + b"\0")
    body += rtnl.attr_bytes(rtnl.IFLA_EXT_MASK, _U32.pack(rtnl.RTEXT_FILTER_SKIP_STATS))
    found = _request(s, rtnl.RTM_GETLINK, 0, body, _parse_link)
    if not found:
        return None
    link: RawLink = found[0]
    if (index and link.index != index) or (not index and link.ifname != ifname):
        raise RawReadError("the kernel answered about another link")
    return link


def _parse_addr(buf: bytes, off: int, end: int) -> tuple[int, int, int, str]:
    fam, plen, _flags, _scope, index = _IFADDRMSG.unpack_from(buf, off)
    local = address = None
    for t, a, b in rtnl.attrs(buf, off + _IFADDRMSG.size, end):
        if t == rtnl.IFA_LOCAL:
            local = bytes(buf[a:b])
        elif t == rtnl.IFA_ADDRESS:
            address = bytes(buf[a:b])
    raw = address or local  # IFA_ADDRESS first, as pyroute2's "address" (read_end's text)
    return index, fam, plen, (_ntop(fam, raw) if raw is not None else "None")


def addrs(s: NetnsSocket, index: int) -> list[tuple[int, int, str]]:
    """(family, prefixlen, address) of each address on interface ``index``."""
    body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, index)
    got = _request(s, rtnl.RTM_GETADDR, rtnl.NLM_F_DUMP, body, _parse_addr)
    return [(fam, plen, text) for i, fam, plen, text in got if i == index]


def _parse_route(buf: bytes, off: int, end: int) -> RawRoute:
    fam, dst_len, _src_len, _tos, table, proto, _scope, rtype, _flags = _RTMSG.unpack_from(buf, off)
    r = RawRoute(fam, dst_len, table, proto, rtype, None, None, None, None, False)
    for t, a, b in rtnl.attrs(buf, off + _RTMSG.size, end):
        if t == RTA_DST:
            r.dst = _ntop(fam, bytes(buf[a:b]))
        elif t == RTA_OIF:
            r.oif = _U32.unpack_from(buf, a)[0]
        elif t == RTA_GATEWAY:
            r.gateway = _ntop(fam, bytes(buf[a:b]))
        elif t == RTA_PRIORITY:
            r.priority = _U32.unpack_from(buf, a)[0]
        elif t == RTA_TABLE:
            r.table = _U32.unpack_from(buf, a)[0]
        elif t == RTA_MULTIPATH:
            r.multipath = True
    return r


def routes(s: NetnsSocket, family: int, index: int) -> list[RawRoute]:
    """The ``family`` routes (all tables) whose output interface is ``index``."""
    body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0) + rtnl.attr_bytes(RTA_OIF, _U32.pack(index))
    got = _request(s, RTM_GETROUTE, rtnl.NLM_F_DUMP, body, _parse_route)
    return [r for r in got if r.family == family and r.oif == index]
