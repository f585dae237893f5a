"""Addresses: the ifaddrmsg layout, what a RTM_NEWADDR says, the dump and the changes.

Two readings of one message, because two callers compare with two
references: ``parse_addr`` (the model, ``AddrMsg``: IFA_LOCAL first, as
``ip`` shows an address, written as ``ipaddress`` writes it) and
``parse_address_text`` (an end's verified state: IFA_ADDRESS first,
written by ``inet_ntop``, as pyroute2's ``address`` reads — the state's
other reader).  They differ only for a point-to-point peer and an
IPv4-mapped IPv6 address.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Optional

from .attr import RTA, U32, attr, attrs, u32_attr
from .message import message
from .numbers import (IFA_ADDRESS, IFA_F_NODAD, IFA_FLAGS, IFA_LOCAL, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
                      NLM_F_EXCL, NLM_F_REQUEST, RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR)

# struct ifaddrmsg: family, prefixlen, flags (the low 8; IFA_FLAGS has all), scope, index
IFADDRMSG = struct.Struct("=BBBBI")


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


def ip_text(fam: int, raw: bytes) -> str:
    """The address as ``ipaddress`` writes it (inet_ntop is ~10× faster and agrees but
    for IPv6 with an embedded IPv4 tail, which ipaddress writes in hex)."""
    if fam in (socket.AF_INET, socket.AF_INET6) and len(raw) == (4 if fam == socket.AF_INET else 16):
        text = socket.inet_ntop(fam, raw)
        if fam == socket.AF_INET or "." not in text:
            return text
    return str(ipaddress.ip_address(raw))


def parse_addr(buf: bytes, off: int, end: int) -> Optional[AddrMsg]:
    """The address in a RTM_NEWADDR/RTM_DELADDR body (None: it carries none)."""
    fam, plen, flags, _scope, index = IFADDRMSG.unpack_from(buf, off)
    local = address = None
    # the attribute walk of ``attrs`` inlined: this runs for every address of every dumped namespace
    rta = RTA.unpack_from
    a = off + IFADDRMSG.size
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
            flags = U32.unpack_from(buf, a + 4)[0]
        a += (length + 3) & ~3
    raw = local or address
    if raw is None:
        return None
    return AddrMsg(index, fam, plen, ip_text(fam, raw), flags)


def parse_address_text(buf: bytes, off: int, end: int) -> tuple[int, int, int, str]:
    """(ifindex, family, prefixlen, text): IFA_ADDRESS (else IFA_LOCAL) by ``inet_ntop``, or "None"."""
    fam, plen, _flags, _scope, index = IFADDRMSG.unpack_from(buf, off)
    got = {t: bytes(buf[a:b]) for t, a, b in attrs(buf, off + IFADDRMSG.size, end)
           if t in (IFA_LOCAL, IFA_ADDRESS)}
    raw = got.get(IFA_ADDRESS) or got.get(IFA_LOCAL)
    return index, fam, plen, (socket.inet_ntop(fam, raw) if raw is not None else "None")


def dump_addrs_request(seq: int, index: int = 0) -> bytes:
    """RTM_GETADDR dump (``index``: only that link's, where the socket has NETLINK_GET_STRICT_CHK)."""
    body = IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, index)
    return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def _ifaddr(index: int, cidr: str, flags: int = 0) -> bytes:
    a, _, plen = cidr.partition("/")
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    raw = socket.inet_pton(fam, a)
    prefix = int(plen) if plen else (128 if fam == socket.AF_INET6 else 32)
    # IFA_LOCAL = IFA_ADDRESS: an address without a peer, as ``ip`` and pyroute2 send it
    body = IFADDRMSG.pack(fam, prefix, flags, 0, index) + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
    if flags:
        body += u32_attr(IFA_FLAGS, flags)
    return body


def new_addr(seq: int, index: int, cidr: str, nodad: bool = False, ack: bool = True) -> bytes:
    """``ip addr add ADDR/PLEN dev INDEX [nodad]`` (nodad: IPv6 only; an IPv4 address has no DAD).

    ``ack=False``: the kernel answers only a refusal (a batch whose last request is acked).
    """
    flags = IFA_F_NODAD if nodad and ":" in cidr else 0
    body = _ifaddr(index, cidr, flags)
    return message(RTM_NEWADDR, NLM_F_REQUEST | (NLM_F_ACK if ack else 0) | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def del_addr(seq: int, index: int, cidr: str) -> bytes:
    """``ip addr del ADDR/PLEN dev INDEX``."""
    return message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, _ifaddr(index, cidr))
