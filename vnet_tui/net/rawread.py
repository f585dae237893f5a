"""One interface's state read with raw rtnetlink (no pyroute2): what ``read_end`` verifies with.

pyroute2 costs ~0.5 ms of Python per request; an interface's state takes
five or six requests (the link, its master's name, its addresses, IPv4
and IPv6 routes), read twice per change (both ends of a veth).  Here each
request is one ``send``/``recv`` on a socket kept per namespace
(``ChangeNs.raw``) with NETLINK_GET_STRICT_CHK, so the kernel filters
address and route dumps by interface; results are filtered here too (a
kernel without strict checking sends everything).

The link's reply also carries four of its sysctls (``rtnl.devconf``), so
the end's namespace need not be entered to read them from /proc/sys.
The messages (encoded and decoded by the codec, ``net/rtnl``) are read
into the same shapes pyroute2 gave ``read_end``: addresses and route
destinations/gateways as ``inet_ntop`` writes them, the route's table
from RTA_TABLE (else the header), its metric from RTA_PRIORITY.
Anything unexpected raises ``RawReadError`` and the caller reads
through pyroute2 instead.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import rtnl
from .rtnl.addrs import parse_address_text
from .rtnl.devconf import LinkConf, link_conf
from .rtnl.exchange import replies
from .rtnl.links import IFINFOMSG, get_link_request
from .rtnl.routes import RouteMsg, dump_routes_request, parse_route
from .session import NetnsSocket


class RawReadError(Exception):
    """The raw read could not be done; read through pyroute2 instead."""


@dataclass
class RawLink:
    """A link as an end's state reads it: pyroute2's ``kind`` (None → "device") and ``address``."""

    index: int
    ifname: str
    kind: str
    mac: Optional[str]  # IFLA_ADDRESS of any length
    mtu: int
    flags: int
    master: Optional[int]
    alias: Optional[str]
    conf: LinkConf  # its proxy_arp, proxy_ndp, disable_ipv6 and addr_gen_mode sysctls

    @classmethod
    def of(cls, m: rtnl.LinkMsg, conf: LinkConf) -> "RawLink":
        kind = m.kind if m.kind != "loopback" else ""  # the loopback has no IFLA_INFO_KIND
        return cls(m.ifindex, m.ifname, kind or "device", m.hwaddr, m.mtu, m.flags, m.master or None, m.alias,
                   conf)


def _link_and_conf(buf: bytes, off: int, end: int) -> tuple[rtnl.LinkMsg, LinkConf]:
    return rtnl.parse_link(buf, off, end), link_conf(buf, off + IFINFOMSG.size, end)


def open_socket(fd: int) -> NetnsSocket:
    """A plain rtnetlink socket in namespace ``fd``, strict-checking if the kernel can."""
    try:
        s = NetnsSocket(fd)
    except OSError as e:
        raise RawReadError(f"no netlink socket: {e}") from e
    try:
        s.sock.setsockopt(rtnl.SOL_NETLINK, rtnl.NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        pass  # kernel < 4.20: dumps come unfiltered and are filtered here
    return s


def _request(s: NetnsSocket, build: Callable[[int], bytes],
             parse: Callable[[bytes, int, int], Any]) -> list[Any]:
    """Send the request ``build(seq)`` makes and gather its reply (one message, or a dump to NLMSG_DONE).

    An ENODEV/ENOENT answer is an empty list; any other error raises RawReadError.
    """
    seq = s._next_seq()
    msg = build(seq)
    dump = bool(rtnl.NLMSGHDR.unpack_from(msg, 0)[2] & rtnl.NLM_F_DUMP)
    out: list[Any] = []
    buf = s._buf
    try:
        s.sock.send(msg)
        for mtype, mflags, off, end in replies(s.sock, buf, seq):
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
    except OSError as e:
        raise RawReadError(str(e)) from e
    return out  # not reached: replies() reads until the answer or raises


def get_link(s: NetnsSocket, ifname: Optional[str] = None, index: Optional[int] = None) -> Optional[RawLink]:
    """RTM_GETLINK of one link, by index or by name; None if there is none."""
    if not index and not ifname:
        return None
    found = _request(s, lambda seq: get_link_request(seq, index or 0, ifname), _link_and_conf)
    if not found:
        return None
    link = RawLink.of(*found[0])
    if (index and link.index != index) or (not index and link.ifname != ifname):
        raise RawReadError("the kernel answered about another link")
    return link


def addrs(s: NetnsSocket, index: int) -> list[tuple[int, int, str]]:
    """(family, prefixlen, address) of each address on interface ``index``."""
    got = _request(s, lambda seq: rtnl.dump_addrs_request(seq, index), parse_address_text)
    return [(fam, plen, text) for i, fam, plen, text in got if i == index]


def routes(s: NetnsSocket, family: int, index: int) -> list[RouteMsg]:
    """The ``family`` routes (all tables) whose output interface is ``index``."""
    got = _request(s, lambda seq: dump_routes_request(seq, family, index), parse_route)
    return [r for r in got if r.family == family and r.oif == index]
