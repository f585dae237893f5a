"""Routes: the rtmsg layout, a route dump filtered by output interface, and what a route says."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Optional

from .attr import U32, attrs, u32_attr
from .message import message
from .numbers import (NLM_F_DUMP, NLM_F_REQUEST, RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_PRIORITY,
                      RTA_TABLE, RTM_GETROUTE)

# struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTMSG = struct.Struct("=BBBBBBBBI")


@dataclass
class RouteMsg:
    """One route, as an end's verified state reads it (addresses as ``inet_ntop`` writes them)."""

    family: int
    dst_len: int
    table: int  # RTA_TABLE, else the header's
    proto: int
    type: int
    dst: Optional[str]
    oif: Optional[int]
    gateway: Optional[str]
    priority: Optional[int]  # RTA_PRIORITY: the metric
    multipath: bool


def dump_routes_request(seq: int, family: int, oif: int) -> bytes:
    """RTM_GETROUTE dump of the ``family`` routes through ``oif`` (all tables; filtered by the
    kernel where the socket has NETLINK_GET_STRICT_CHK)."""
    body = RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0) + u32_attr(RTA_OIF, oif)
    return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def parse_route(buf: bytes, off: int, end: int) -> RouteMsg:
    """The route in a RTM_NEWROUTE body."""
    fam, dst_len, _src_len, _tos, table, proto, _scope, rtype, _flags = RTMSG.unpack_from(buf, off)
    r = RouteMsg(fam, dst_len, table, proto, rtype, None, None, None, None, False)
    for t, a, b in attrs(buf, off + RTMSG.size, end):
        if t == RTA_DST:
            r.dst = socket.inet_ntop(fam, bytes(buf[a:b]))
        elif t == RTA_OIF:
            r.oif = U32.unpack_from(buf, a)[0]
        elif t == RTA_GATEWAY:
            r.gateway = socket.inet_ntop(fam, bytes(buf[a:b]))
        elif t == RTA_PRIORITY:
            r.priority = U32.unpack_from(buf, a)[0]
        elif t == RTA_TABLE:
            r.table = U32.unpack_from(buf, a)[0]
        elif t == RTA_MULTIPATH:
            r.multipath = True
    return r
