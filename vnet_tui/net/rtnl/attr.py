"""The route attribute (struct rtattr): encoded, walked, and its common payloads.

An attribute is a 4-byte header (length, type) and a payload padded to 4
bytes; nested attributes are attributes whose payload is more of them.
Payload helpers read and write what rtnetlink carries in them: native
u32/i32/u64, NUL-terminated strings, link-layer addresses.
"""

from __future__ import annotations

import struct
from typing import Iterator

# struct rtattr: length (header included), type (top two bits: NLA_F_NESTED, NLA_F_NET_BYTEORDER)
RTA = struct.Struct("=HH")
U32 = struct.Struct("=I")
I32 = struct.Struct("=i")
U64 = struct.Struct("=Q")
TYPE_MASK = 0x3FFF  # the type without NLA_F_NESTED / NLA_F_NET_BYTEORDER


def attr(type_: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    raw = RTA.pack(4 + len(payload), type_) + payload
    return raw + b"\0" * (-len(raw) & 3)


def u32_attr(type_: int, value: int) -> bytes:
    return attr(type_, U32.pack(value))


def u64_attr(type_: int, value: int) -> bytes:
    return attr(type_, U64.pack(value))


def str_attr(type_: int, text: str) -> bytes:
    """A NUL-terminated string (an interface name, a link kind)."""
    return attr(type_, text.encode() + b"\0")


def attrs(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield (type, value offset, value end) of each attribute in ``buf[start:end]``."""
    off = start
    unpack = RTA.unpack_from
    while off + 4 <= end:
        length, atype = unpack(buf, off)
        if length < 4:
            return
        yield atype & TYPE_MASK, off + 4, off + length
        off += (length + 3) & ~3


def cstr(buf: bytes, a: int, b: int) -> str:
    """The string in ``buf[a:b]``, up to its NUL (undecodable bytes kept as surrogates)."""
    raw = bytes(buf[a:b])
    nul = raw.find(0)
    return (raw if nul < 0 else raw[:nul]).decode("utf-8", "surrogateescape")


def mac_text(buf: bytes, a: int, b: int) -> str:
    """A link-layer address as ``ip`` writes it: ``fe:00:01:02:03:04``."""
    return bytes(buf[a:b]).hex(":")


def mac_bytes(mac: str) -> bytes:
    """``fe:00:01:02:03:04`` (or ``fe:0:1:2:3:4``, or ``fe0001020304``) as its bytes."""
    if ":" in mac:
        return bytes(int(x, 16) for x in mac.split(":"))
    return bytes.fromhex(mac)
