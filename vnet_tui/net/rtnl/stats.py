"""Counters: RTM_GETSTATS requests for IFLA_STATS_LINK_64 only, and their replies.

The reply to such a request is, in this order, the nlmsghdr, the
if_stats_msg, one rtattr and struct rtnl_link_stats64; ``REPLY`` reads
all of it (up to the eighth counter) with one unpack: the sweep
(``net/sweep.py``) reads ~2,000 links a second that way, and a message
of another shape goes through ``parse_stats``.  The sweep keeps the
counters as the kernel wrote them (``Counts``): numbers are made only
for an end whose counters moved (``counter_values``).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from .attr import attrs
from .message import message
from .numbers import IFLA_STATS_LINK_64, NLM_F_DUMP, NLM_F_REQUEST, RTM_GETSTATS

# struct if_stats_msg: family, (pad ×3), ifindex, filter_mask
STATSMSG = struct.Struct("=BxxxII")
STATS64_8 = struct.Struct("=8Q")
FILTER_LINK_64 = 1 << (IFLA_STATS_LINK_64 - 1)  # the filter_mask asking for IFLA_STATS_LINK_64 only
# a get request: nlmsghdr (len, type, flags, seq, pid) + if_stats_msg; 28 bytes
GET = struct.Struct("=IHHIIBxxxII")
# a reply: nlmsghdr + if_stats_msg + rtattr (len, type) + the first eight u64 of rtnl_link_stats64;
# fields 0–3 the header's length, type, flags, seq; 6 the ifindex; 8, 9 the rtattr's length and
# type; 10 the eight counters as the kernel wrote them (64 bytes: ``counter_values`` reads them)
REPLY = struct.Struct("=IHHIIBxxxIIHH64s")
REPLY_SIZE = REPLY.size  # 96
STATS_RTA_LEN = 4 + 8 * 8  # an IFLA_STATS_LINK_64 at least this long holds the eight counters

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


Counts = Union[bytes, tuple[int, ...]]
"""A link's counters in STATS_ORDER: the sweep's 64 bytes (the eight u64 as the kernel wrote them: one
object that the cyclic GC does not track, and an idle end's are equal bytes), or numbers already."""


def counter_values(v: Counts) -> tuple[int, ...]:
    """The numbers of ``Counts`` (STATS_ORDER)."""
    return STATS64_8.unpack(v) if isinstance(v, bytes) else v


def packed(values: Sequence[int]) -> bytes:
    """Counters as the sweep gives them (``Counts``' bytes): the first eight, packed."""
    return STATS64_8.pack(*values[:8])


@dataclass
class StatsMsg:
    """The first eight 64-bit counters of one link."""

    ifindex: int
    values: tuple[int, ...] = field(default_factory=tuple)  # kernel order, see STATS_ORDER


def dump_stats_request(seq: int) -> bytes:
    """RTM_GETSTATS dump of every link's IFLA_STATS_LINK_64."""
    body = STATSMSG.pack(socket.AF_UNSPEC, 0, FILTER_LINK_64)
    return message(RTM_GETSTATS, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def get_requests(seq: int, ifindexes: Sequence[int]) -> bytes:
    """Stats-only RTM_GETSTATS get requests for these links, one after another (one ``send``)."""
    pack = GET.pack
    size = GET.size
    return b"".join(pack(size, RTM_GETSTATS, NLM_F_REQUEST, seq, 0, 0, i, FILTER_LINK_64) for i in ifindexes)


def parse_stats(buf: bytes, off: int, end: int) -> Optional[StatsMsg]:
    """The counters in a RTM_NEWSTATS body (None: it has no IFLA_STATS_LINK_64)."""
    _fam, index, _mask = STATSMSG.unpack_from(buf, off)
    for t, a, b in attrs(buf, off + STATSMSG.size, end):
        if t == IFLA_STATS_LINK_64 and b - a >= 64:
            return StatsMsg(index, STATS64_8.unpack_from(buf, a))
    return None


