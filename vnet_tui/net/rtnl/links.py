"""Links: the ifinfomsg layout, what a RTM_NEWLINK says (``LinkMsg``), and the read requests.

``parse_link`` decodes only what the model needs: name, kind, MAC, MTU,
flags, operstate, master, peer link + its netnsid, alias.  It runs for
every link of every dumped namespace and every link event, so it finds
the few attributes it reads by the message's layout (``layout.wanted``: a
link message carries ~50 attributes, laid out alike in links of one
kind).  tests/live/test_rtnl_codec.py checks it against pyroute2.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Optional

from .attr import I32, U32, attrs, cstr, mac_text, str_attr, u32_attr
from .layout import wanted
from .message import message
from .stats import STATS64_8
from .numbers import (ARPHRD_LOOPBACK, IFF_UP, IFLA_ADDRESS, IFLA_EXT_MASK, IFLA_IFALIAS, IFLA_IFNAME,
                      IFLA_INFO_KIND, IFLA_INFO_SLAVE_KIND, IFLA_LINK, IFLA_LINK_NETNSID, IFLA_LINKINFO,
                      IFLA_MASTER, IFLA_MTU, IFLA_OPERSTATE, IFLA_STATS64, NLM_F_DUMP, NLM_F_REQUEST, OPERSTATES,
                      RTEXT_FILTER_SKIP_STATS, RTM_GETLINK)

# struct ifinfomsg: family, (pad), type (ARPHRD_*), index, flags, change
IFINFOMSG = struct.Struct("=BxHiII")


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """An ifinfomsg for AF_UNSPEC: link ``index`` (0: named by IFLA_IFNAME, or a new one)."""
    return IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def ifinfo_state(index: int = 0, state: Optional[str] = None) -> bytes:
    """An ifinfomsg that sets the link ``up`` or ``down`` (None: leaves its state alone)."""
    if state is None:
        return ifinfo(index)
    if state not in ("up", "down"):
        raise ValueError(f"state {state!r}: up or down")
    return ifinfo(index, IFF_UP if state == "up" else 0, IFF_UP)


@dataclass
class LinkMsg:
    """What a RTM_NEWLINK/RTM_DELLINK says about one link."""

    ifindex: int
    ifname: str = ""
    kind: str = "device"  # IFLA_INFO_KIND; "loopback" for the loopback, "device" for a link without a kind
    mac: Optional[str] = None  # an Ethernet MAC (6 bytes); None for another link-layer address
    mtu: int = 0
    flags: int = 0
    operstate: str = "unknown"
    master: Optional[int] = None
    link: Optional[int] = None
    link_netnsid: Optional[int] = None
    alias: Optional[str] = None
    slave_kind: Optional[str] = None
    arptype: int = 0
    hwaddr: Optional[str] = None  # IFLA_ADDRESS of any length (pyroute2's ``address``)
    # the first eight counters of IFLA_STATS64 (rtnl_link_stats64: rx/tx packets, bytes, errors,
    # dropped), when the dump asked for them (``dump_counted_links_request``); not the link's identity
    stats64: tuple[int, ...] = field(default=(), compare=False, repr=False)



_WANTED_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_OPERSTATE,
                                IFLA_LINKINFO, IFLA_IFALIAS, IFLA_LINK_NETNSID, IFLA_STATS64))


def parse_link(buf: bytes, off: int, end: int) -> LinkMsg:
    """The link in the RTM_NEWLINK/RTM_DELLINK body ``buf[off:end]``."""
    _fam, arptype, index, flags, _chg = IFINFOMSG.unpack_from(buf, off)
    m = LinkMsg(ifindex=index, flags=flags, arptype=arptype)
    # the wanted attributes where a message of this layout has them (layout.py), else by a walk
    for t, v, b in wanted(buf, off + IFINFOMSG.size, end, _WANTED_LINK_ATTRS):
        if t == IFLA_IFNAME:
            m.ifname = cstr(buf, v, b)
        elif t == IFLA_ADDRESS:
            if b > v:
                m.hwaddr = text = mac_text(buf, v, b)
                if b - v == 6:
                    m.mac = text
        elif t == IFLA_MTU:
            m.mtu = U32.unpack_from(buf, v)[0]
        elif t == IFLA_OPERSTATE:
            st = buf[v]
            m.operstate = OPERSTATES[st] if st < len(OPERSTATES) else "unknown"
        elif t == IFLA_MASTER:
            m.master = U32.unpack_from(buf, v)[0]
        elif t == IFLA_LINK:
            m.link = U32.unpack_from(buf, v)[0]
        elif t == IFLA_LINK_NETNSID:
            m.link_netnsid = I32.unpack_from(buf, v)[0]
        elif t == IFLA_IFALIAS:
            m.alias = cstr(buf, v, b) or None
        elif t == IFLA_STATS64:
            if b - v >= STATS64_8.size:
                m.stats64 = STATS64_8.unpack_from(buf, v)
        else:  # IFLA_LINKINFO
            for t2, a2, b2 in attrs(buf, v, b):
                if t2 == IFLA_INFO_KIND:
                    m.kind = cstr(buf, a2, b2)
                elif t2 == IFLA_INFO_SLAVE_KIND:
                    m.slave_kind = cstr(buf, a2, b2)
    if m.kind == "device" and m.arptype == ARPHRD_LOOPBACK:
        m.kind = "loopback"
    return m


def dump_links_request(seq: int) -> bytes:
    """RTM_GETLINK dump of every link, without counters."""
    # IFLA_EXT_MASK without RTEXT_FILTER_VF keeps VF info out of the dump; counters come
    # from RTM_GETSTATS, so the kernel need not fill IFLA_STATS/IFLA_STATS64 either
    body = ifinfo() + u32_attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def dump_counted_links_request(seq: int) -> bytes:
    """RTM_GETLINK dump of every link with its counters (IFLA_STATS64): one dump where links and
    RTM_GETSTATS took two (``show`` at 5,000 containers: 5,000 requests fewer)."""
    return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, ifinfo())


def get_link_request(seq: int, index: int = 0, ifname: Optional[str] = None) -> bytes:
    """RTM_GETLINK of one link, by ``index`` (else by ``ifname``), without counters."""
    body = ifinfo(index)
    if not index and ifname is not None:
        body += str_attr(IFLA_IFNAME, ifname)
    body += u32_attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    return message(RTM_GETLINK, NLM_F_REQUEST, seq, body)

