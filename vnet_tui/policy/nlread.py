"""Raw rtnetlink requests for the policy reader: one socket in the port's namespace.

pyroute2 0.9.7's sync ``IPRoute`` has no working plain get for qdiscs
(``nlm_request`` fails, ``tc('dump')`` dumps every qdisc of the
namespace — with 1,000 ports that is 1,000× the work per port).  So a
request is sent on a NETLINK_ROUTE socket made inside the port's
namespace.  tc messages are the codec's (``net/rtnl/tc.py``: the tcmsg
layout, the requests, ``parse_tc`` → ``TcMsg``); a link's few facts are
parsed here, and ``link`` (a whole link, rarely) is the codec's ``parse_link``.
Get requests name the port (``tcm_ifindex``, ``tcm_parent``), and the
class/filter dumps are per device in the kernel, so a read costs the
same on a namespace with one port or a thousand.  ``read_many`` (every
port of a namespace, as ``show`` reads them) calls ``prefetch`` first:
one link dump and one qdisc dump answer every port's link and qdisc gets
(5,000 ports: 2 requests instead of 15,000).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Any, Optional

from vnet_tui.net.netns import netlink_socket, run_in
from vnet_tui.net.rtnl.attr import u32_attr
from vnet_tui.net.rtnl.layout import wanted
from vnet_tui.net.rtnl.exchange import replies
from vnet_tui.net.rtnl.links import LinkMsg, ifinfo, parse_link
from vnet_tui.net.rtnl.message import HEADER_SIZE, error_code, message, seq_of
from vnet_tui.net.rtnl.numbers import IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS
from vnet_tui.net.rtnl.tc import (TC_H_INGRESS, TCMSG, TcMsg, dump_classes_request, dump_filters_request,
                                  dump_qdiscs_request, get_qdisc_request, parse_tc, tc_head)

NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_GETLINK = 18
NLM_F_REPLACE, NLM_F_CREATE = 0x100, 0x400
IFLA_IFNAME, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_CARRIER, IFLA_LINK_NETNSID = 3, 10, 16, 18, 33, 37
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BR_VLAN_FILTERING = 7
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing", 5: "dormant", 6: "up"}
RTEXT_FILTER_BRVLAN = 1 << 1
AF_BRIDGE = 7

_HDR = struct.Struct("=IHHII")
_IFI = struct.Struct("=BxHiII")
_RTA = struct.Struct("=HH")
_TOP = frozenset((IFLA_IFNAME, IFLA_OPERSTATE, IFLA_CARRIER, IFLA_MASTER, IFLA_LINKINFO))  # what link_facts reads
_NAME = frozenset((IFLA_IFNAME,))
_ADAPTER = frozenset((IFLA_IFNAME, IFLA_LINKINFO, IFLA_LINK_NETNSID))
_PREFETCHED = _TOP | _NAME | _ADAPTER  # what is read of a prefetched link, in one walk of its attributes
_KIND = frozenset((IFLA_INFO_KIND,))
BRPORT = {"state": 1, "hairpin": 4, "learning": 8, "unicast_flood": 9, "mcast_flood": 27, "bcast_flood": 30,
          "isolated": 33, "locked": 39}  # the IFLA_BRPORT_* the policy reads (linux/if_link.h)
_BRPORT = frozenset(BRPORT.values())
_INFO = frozenset((IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA))
_BRIDGE = frozenset((IFLA_BR_VLAN_FILTERING,))


class Reader:
    """One NETLINK_ROUTE socket in a namespace, for requests that name one interface."""

    def __init__(self, fd: Optional[int]) -> None:
        self.sock = netlink_socket(fd)
        self.sock.settimeout(5.0)  # the kernel answers at once; never hang a read on a lost reply
        self.seq = 0
        self._buf = bytearray(1 << 16)  # one receive buffer: the codec's ``replies`` reads into it
        self._links: Optional[dict[int, bytes]] = None  # prefetched: ifindex -> RTM_NEWLINK message
        self._qdiscs: Optional[dict[tuple[int, int], bytes]] = None  # prefetched: (ifindex, parent) -> RTM_NEWQDISC
        self._names: Optional[dict[str, int]] = None  # prefetched links by name
        # a prefetched link's top-level attributes (_PREFETCHED), walked once: ``show`` at 5,000 ports walked
        # each message's ~50 attributes three times (adapter_ends, index_of, link_facts); its child's policy
        # read went 0.32 -> 0.24 s of CPU
        self._tops: dict[int, dict[int, bytes]] = {}

    def prefetch(self, links: Optional[dict[int, bytes]] = None) -> None:
        """Dump every link and qdisc of the namespace once; ``link_facts`` and ``qdisc`` then answer from it.

        ``links``: the namespace's RTM_NEWLINK messages (header included)
        by ifindex, dumped a moment ago by the caller: not dumped again (at
        5,000 host ends a link dump costs the kernel 0.3 s, mostly finding
        each peer's nsid).  A qdisc dump leaves out the built-in ones
        (noop): a root qdisc missing from it is still asked for; an
        ingress one missing is none.
        """
        self._tops, self._names = {}, None
        if links is not None:
            self._links = links
        else:
            body = _IFI.pack(0, 0, 0, 0, 0) + u32_attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)  # no counters
            self._links = {_IFI.unpack_from(c, _HDR.size)[2]: c
                           for c in self._request(RTM_GETLINK, 0, body, dump=True)}
        qdiscs: dict[tuple[int, int], bytes] = {}
        for c in self._exchange(dump_qdiscs_request(self._next())):
            _family, index, _handle, parent, _info = TCMSG.unpack_from(c, HEADER_SIZE)
            qdiscs.setdefault((index, parent), c)
        self._qdiscs = qdiscs

    def close(self) -> None:
        self.sock.close()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _request(self, mtype: int, flags: int, body: bytes, dump: bool = False) -> list[bytes]:
        if dump:
            flags |= NLM_F_DUMP  # (NLM_F_REPLACE/NLM_F_CREATE share its bits: say which it is)
        else:
            flags |= NLM_F_ACK  # an answer may be empty (a qdisc get for an ingress queue with no qdisc): the ack ends it
        return self._exchange(message(mtype, NLM_F_REQUEST | flags, self._next(), body))

    def _exchange(self, request: bytes) -> list[bytes]:
        """Send one encoded request; its answers (whole messages, header included) until DONE or the ACK."""
        seq, buf = seq_of(request), self._buf
        self.sock.send(request)
        out: list[bytes] = []
        for t, _flags, off, end in replies(self.sock, buf, seq):
            if t == NLMSG_ERROR:
                err = -error_code(buf, off)
                if err:
                    raise OSError(err, os.strerror(err))
                return out
            if t == NLMSG_DONE:
                return out
            out.append(bytes(buf[off - HEADER_SIZE:end]))
        return out  # not reached: replies() reads until the answer or raises

    def link(self, index: int) -> Optional[LinkMsg]:
        """RTM_GETLINK for one ifindex, read by the codec (None: gone)."""
        try:
            chunks = self._request(RTM_GETLINK, 0, ifinfo(index))  # acked: a get's one answer, then the ACK
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise
        return parse_link(chunks[0], HEADER_SIZE, len(chunks[0])) if chunks else None

    def link_facts(self, index: int) -> Optional[dict[str, Any]]:
        """The few facts of one link the policy needs, parsed here (pyroute2 decodes ~60 attributes: 10× slower).

        Keys: ifname, flags, operstate, carrier, master, kind, slave_kind,
        brport (IFLA_BRPORT_* number in ``BRPORT`` → u8 value), br_vlan_filtering (a bridge's own; None if not said).
        """
        top: Optional[dict[int, bytes]] = None
        if self._links is not None and index in self._links:
            c = self._links[index]
            top = self._top(index, c)
        else:
            body = _IFI.pack(0, 0, index, 0, 0)
            try:
                chunks = self._request(RTM_GETLINK, 0, body)
            except OSError as e:
                if e.errno == errno.ENODEV:
                    return None
                raise
            if not chunks:
                return None
            c = chunks[0]
        flags = _IFI.unpack_from(c, _HDR.size)[3]  # family, type, index, flags, change
        if top is None:
            top = attrs(c, _HDR.size + _IFI.size, _TOP)
        info = attrs(top.get(IFLA_LINKINFO, b""), 0, _INFO)
        kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode() or None
        slave_kind = info.get(IFLA_INFO_SLAVE_KIND, b"").rstrip(b"\0").decode() or None
        slave = attrs(info.get(IFLA_INFO_SLAVE_DATA, b""), 0, _BRPORT) if slave_kind == "bridge" else {}
        vf = attrs(info.get(IFLA_INFO_DATA, b""), 0, _BRIDGE).get(IFLA_BR_VLAN_FILTERING) if kind == "bridge" else None
        return {
            "ifname": top.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"),
            "flags": flags,
            "operstate": OPERSTATES.get(top[IFLA_OPERSTATE][0], "unknown") if IFLA_OPERSTATE in top else "unknown",
            "carrier": bool(top[IFLA_CARRIER][0]) if IFLA_CARRIER in top else None,
            "master": struct.unpack("=I", top[IFLA_MASTER][:4])[0] if IFLA_MASTER in top else None,
            "kind": kind, "slave_kind": slave_kind,
            "brport": {t: v[0] for t, v in slave.items() if len(v) == 1},
            "br_vlan_filtering": bool(vf[0]) if vf else None,
        }

    def index_of(self, ifname: str) -> Optional[int]:
        """The ifindex of ``ifname`` from the prefetched links (None: not prefetched, or no such link)."""
        if self._links is None:
            return None
        if self._names is None:
            self._names = {self._top(i, c).get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"): i
                           for i, c in self._links.items()}
        return self._names.get(ifname)

    def _top(self, index: int, message: bytes) -> dict[int, bytes]:
        """The prefetched link ``index``'s top-level attributes that are read here (walked once)."""
        top = self._tops.get(index)
        if top is None:
            top = self._tops[index] = attrs(message, _HDR.size + _IFI.size, _PREFETCHED)
        return top

    def adapter_ends(self) -> list[str]:
        """The prefetched links that may be an adapter's host end: a veth whose peer is in another
        namespace (IFLA_LINK_NETNSID), a tun/tap (a VM's).  Empty if nothing was prefetched."""
        out = []
        for i, c in (self._links or {}).items():
            top = self._top(i, c)
            kind = attrs(top.get(IFLA_LINKINFO, b""), 0, _KIND).get(IFLA_INFO_KIND, b"").rstrip(b"\0")
            if (kind == b"veth" and IFLA_LINK_NETNSID in top) or kind == b"tun":
                out.append(top.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"))
        return out

    def qdisc_message(self, index: int, parent: int) -> Optional[bytes]:
        """The raw RTM_NEWQDISC at ``parent`` (TC_H_ROOT, TC_H_INGRESS) of one interface (None: none there)."""
        if self._qdiscs is not None:
            hit = self._qdiscs.get((index, parent))
            if hit is not None or parent == TC_H_INGRESS:
                return hit
        try:
            chunks = self._exchange(get_qdisc_request(self._next(), index, parent))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
                return None
            raise
        return chunks[0] if chunks else None

    def qdisc(self, index: int, parent: int) -> Optional[TcMsg]:
        """The qdisc at ``parent`` of one interface (None: none there)."""
        c = self.qdisc_message(index, parent)
        return decoded_tc(c) if c is not None else None

    def classes(self, index: int) -> list[TcMsg]:
        return [decoded_tc(c) for c in self._exchange(dump_classes_request(self._next(), index))]

    def filters(self, index: int, parent: int) -> list[TcMsg]:
        try:
            return [decoded_tc(c) for c in self._exchange(dump_filters_request(self._next(), index, parent))]
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL):
                return []
            raise

    def change(self, mtype: int, flags: int, body: bytes) -> None:
        """One change request (acked; the kernel's refusal raises OSError with its errno)."""
        self._request(mtype, flags, body)

    def ifname(self, index: int) -> Optional[str]:
        m = self.link(index)
        return m.ifname if m is not None else None


def ifindex(fd: Optional[int], ifname: str) -> int:
    """``if_nametoindex`` inside the namespace (0: no such interface)."""
    def look() -> int:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            return 0

    return look() if fd is None else run_in(fd, look)


def attrs(data: bytes, offset: int, only: Optional[frozenset[int]] = None) -> dict[int, bytes]:
    """The netlink attributes in ``data`` from ``offset``: type (flags masked) → payload (last one wins).

    ``only``: just these types are copied out (a link message carries ~50
    attributes; ``show`` at 5,000 ports read each of them twice).
    """
    if only is not None:  # where a message of this layout has them (net/rtnl/layout.py), else by a walk
        return {t: data[a:b] for t, a, b in wanted(data, offset, len(data), only)}
    out: dict[int, bytes] = {}
    size = len(data)
    unpack = _RTA.unpack_from
    while offset + 4 <= size:
        n, t = unpack(data, offset)
        if n < 4:
            break
        t &= 0x3FFF
        if only is None or t in only:
            out[t] = data[offset + 4:offset + n]
        offset += (n + 3) & ~3
    return out


def decoded_tc(chunk: bytes) -> TcMsg:
    """A raw tc message (header included) as the codec reads it."""
    return parse_tc(chunk, HEADER_SIZE, len(chunk))


def qdisc_head(chunk: bytes) -> tuple[Optional[str], int]:
    """(TCA_KIND, handle) of a raw qdisc message: what a qdisc with no options to read comes to."""
    return tc_head(chunk, HEADER_SIZE, len(chunk))
