"""Raw rtnetlink requests for the policy reader, decoded with pyroute2's message classes.

pyroute2 0.9.7's sync ``IPRoute`` has no working plain get for qdiscs
(``nlm_request`` fails, ``tc('dump')`` dumps every qdisc of the
namespace — with 1,000 ports that is 1,000× the work per port).  So a
request is packed here and sent on a NETLINK_ROUTE socket made inside
the port's namespace, and the answers are decoded by pyroute2's
``tcmsg``/``ifinfmsg`` (``attrs``/``get_attr`` as everywhere else).
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

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from vnet_tui.net.netns import netlink_socket, run_in

NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO, NLM_F_DUMP = 0x1, 0x4, 0x8, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_GETLINK, RTM_GETQDISC, RTM_GETTCLASS, RTM_GETTFILTER = 18, 38, 42, 46
RTM_NEWLINK, RTM_NEWQDISC, RTM_DELQDISC, RTM_NEWTCLASS, RTM_NEWTFILTER = 16, 36, 37, 40, 44
NLM_F_REPLACE, NLM_F_CREATE = 0x100, 0x400
IFLA_EXT_MASK = 29
IFLA_IFNAME, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_CARRIER = 3, 10, 16, 18, 33
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BR_VLAN_FILTERING = 7
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing", 5: "dormant", 6: "up"}
RTEXT_FILTER_BRVLAN = 1 << 1
TC_H_ROOT, TC_H_INGRESS = 0xFFFFFFFF, 0xFFFFFFF1
AF_BRIDGE = 7

_HDR = struct.Struct("=IHHII")
_IFI = struct.Struct("=BxHiII")
_TCM = struct.Struct("=BxxxiIII")
_ERR = struct.Struct("=i")


class Reader:
    """One NETLINK_ROUTE socket in a namespace, for requests that name one interface."""

    def __init__(self, fd: Optional[int]) -> None:
        self.sock = netlink_socket(fd)
        self.sock.settimeout(5.0)  # the kernel answers at once; never hang a read on a lost reply
        self.seq = 0
        self._links: Optional[dict[int, bytes]] = None  # prefetched: ifindex -> RTM_NEWLINK message
        self._qdiscs: Optional[dict[tuple[int, int], bytes]] = None  # prefetched: (ifindex, parent) -> RTM_NEWQDISC
        self._names: Optional[dict[str, int]] = None  # prefetched links by name

    def prefetch(self) -> None:
        """Dump every link and qdisc of the namespace once; ``link_facts`` and ``qdisc`` then answer from it.

        A qdisc dump leaves out the built-in ones (noop): a root qdisc
        missing from it is still asked for; an ingress one missing is none.
        """
        self._links = {_IFI.unpack_from(c, _HDR.size)[2]: c
                       for c in self._request(RTM_GETLINK, 0, _IFI.pack(0, 0, 0, 0, 0), dump=True)}
        qdiscs: dict[tuple[int, int], bytes] = {}
        for c in self._request(RTM_GETQDISC, 0, _TCM.pack(0, 0, 0, 0, 0), dump=True):
            _family, index, _handle, parent, _info = _TCM.unpack_from(c, _HDR.size)
            qdiscs.setdefault((index, parent), c)
        self._qdiscs = qdiscs

    def close(self) -> None:
        self.sock.close()

    def _request(self, mtype: int, flags: int, body: bytes, dump: bool = False) -> list[bytes]:
        self.seq += 1
        seq = self.seq
        if dump:
            flags |= NLM_F_DUMP  # (NLM_F_REPLACE/NLM_F_CREATE share its bits: say which it is)
        else:
            flags |= NLM_F_ACK  # an answer may be empty (a qdisc get for an ingress queue with no qdisc): the ack ends it
        self.sock.send(_HDR.pack(_HDR.size + len(body), mtype, NLM_F_REQUEST | flags, seq, 0) + body)
        out: list[bytes] = []
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + _HDR.size <= len(data):
                length, t, _fl, s, _pid = _HDR.unpack_from(data, off)
                if length < _HDR.size:
                    raise OSError(errno.EPROTO, "bad netlink message")
                chunk = data[off:off + length]
                off += (length + 3) & ~3
                if s != seq:
                    continue
                if t == NLMSG_ERROR:
                    err = -_ERR.unpack_from(chunk, _HDR.size)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return out
                if t == NLMSG_DONE:
                    return out
                out.append(chunk)

    @staticmethod
    def _decode(cls: Any, chunks: list[bytes]) -> list[Any]:
        msgs = []
        for c in chunks:
            m = cls(c)
            m.decode()
            m.raw = c  # for attributes pyroute2 does not decode (TCA_TBF_RATE64)
            msgs.append(m)
        return msgs

    def link(self, index: int, family: int = 0, ext_mask: int = 0) -> Optional[Any]:
        """RTM_GETLINK for one ifindex (None: gone)."""
        body = _IFI.pack(family, 0, index, 0, 0)
        if ext_mask:
            body += struct.pack("=HHI", 8, IFLA_EXT_MASK, ext_mask)
        try:
            msgs = self._decode(ifinfmsg, self._request(RTM_GETLINK, 0, body))
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise
        return msgs[0] if msgs else None

    def link_facts(self, index: int) -> Optional[dict[str, Any]]:
        """The few facts of one link the policy needs, parsed here (pyroute2 decodes ~60 attributes: 10× slower).

        Keys: ifname, flags, operstate, carrier, master, kind, slave_kind,
        brport (IFLA_BRPORT_* number → u8 value), br_vlan_filtering (a bridge's own; None if not said).
        """
        if self._links is not None and index in self._links:
            c = self._links[index]
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
        top = attrs(c, _HDR.size + _IFI.size)
        info = attrs(top.get(IFLA_LINKINFO, b""), 0)
        slave = attrs(info.get(IFLA_INFO_SLAVE_DATA, b""), 0)
        data = attrs(info.get(IFLA_INFO_DATA, b""), 0)
        kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode() or None
        slave_kind = info.get(IFLA_INFO_SLAVE_KIND, b"").rstrip(b"\0").decode() or None
        vf = data.get(IFLA_BR_VLAN_FILTERING) if kind == "bridge" else None
        return {
            "ifname": top.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"),
            "flags": flags,
            "operstate": OPERSTATES.get(top[IFLA_OPERSTATE][0], "unknown") if IFLA_OPERSTATE in top else "unknown",
            "carrier": bool(top[IFLA_CARRIER][0]) if IFLA_CARRIER in top else None,
            "master": struct.unpack("=I", top[IFLA_MASTER][:4])[0] if IFLA_MASTER in top else None,
            "kind": kind, "slave_kind": slave_kind,
            "brport": {t: v[0] for t, v in slave.items() if len(v) == 1} if slave_kind == "bridge" else {},
            "br_vlan_filtering": bool(vf[0]) if vf else None,
        }

    def index_of(self, ifname: str) -> Optional[int]:
        """The ifindex of ``ifname`` from the prefetched links (None: not prefetched, or no such link)."""
        if self._links is None:
            return None
        if self._names is None:
            self._names = {attrs(c, _HDR.size + _IFI.size).get(IFLA_IFNAME, b"").rstrip(b"\0").decode(
                errors="replace"): i for i, c in self._links.items()}
        return self._names.get(ifname)

    def qdisc_message(self, index: int, parent: int) -> Optional[bytes]:
        """The raw RTM_NEWQDISC at ``parent`` (TC_H_ROOT, TC_H_INGRESS) of one interface (None: none there)."""
        if self._qdiscs is not None:
            hit = self._qdiscs.get((index, parent))
            if hit is not None or parent == TC_H_INGRESS:
                return hit
        try:
            # a qdisc get is answered only to NLM_F_ECHO (qdisc_get_notify)
            chunks = self._request(RTM_GETQDISC, NLM_F_ECHO, _TCM.pack(0, index, 0, parent, 0))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
                return None
            raise
        return chunks[0] if chunks else None

    def qdisc(self, index: int, parent: int) -> Optional[Any]:
        """The qdisc at ``parent`` of one interface, decoded by pyroute2 (None: none there)."""
        c = self.qdisc_message(index, parent)
        return self.decoded_tc(c) if c is not None else None

    @classmethod
    def decoded_tc(cls, chunk: bytes) -> Any:
        """A raw tc message decoded by pyroute2 (``raw`` kept on it)."""
        return cls._decode(tcmsg, [chunk])[0]

    def classes(self, index: int) -> list[Any]:
        return self._decode(tcmsg, self._request(RTM_GETTCLASS, 0, _TCM.pack(0, index, 0, 0, 0), dump=True))

    def filters(self, index: int, parent: int) -> list[Any]:
        try:
            return self._decode(tcmsg, self._request(RTM_GETTFILTER, 0, _TCM.pack(0, index, 0, parent, 0), dump=True))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL):
                return []
            raise

    def change(self, mtype: int, flags: int, body: bytes) -> None:
        """One change request (acked; the kernel's refusal raises OSError with its errno)."""
        self._request(mtype, flags, body)

    def ifname(self, index: int) -> Optional[str]:
        m = self.link(index)
        return m.get_attr("IFLA_IFNAME") if m is not None else None


def ifindex(fd: Optional[int], ifname: str) -> int:
    """``if_nametoindex`` inside the namespace (0: no such interface)."""
    def look() -> int:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            return 0

    return look() if fd is None else run_in(fd, look)


def attrs(data: bytes, offset: int) -> dict[int, bytes]:
    """The netlink attributes in ``data`` from ``offset``: type (flags masked) → payload (last one wins)."""
    out: dict[int, bytes] = {}
    while offset + 4 <= len(data):
        n, t = struct.unpack_from("=HH", data, offset)
        if n < 4:
            break
        out[t & 0x3FFF] = data[offset + 4:offset + n]
        offset += (n + 3) & ~3
    return out


def qdisc_head(chunk: bytes) -> tuple[Optional[str], int]:
    """(TCA_KIND, handle) of a raw qdisc message: what a qdisc with no options to read comes to."""
    handle = _TCM.unpack_from(chunk, _HDR.size)[2]
    kind = attrs(chunk, _HDR.size + _TCM.size).get(1)  # TCA_KIND
    return (kind.rstrip(b"\0").decode(errors="replace") if kind is not None else None), handle


def tc_options(msg: Any) -> dict[int, bytes]:
    """A tc message's TCA_OPTIONS attributes, raw."""
    top = attrs(msg.raw, _HDR.size + _TCM.size)
    return attrs(top.get(2, b""), 0)
