"""Finding a few attributes in a big message by its layout: one unpack where a walk took ~50.

A dump's messages of one kind are laid out alike: a host's 5,000 veth
ends each carry the same ~50 top-level attributes, of the same lengths,
in the same order (a bridge port's ~40 IFLA_BRPORT_* likewise).  Walking
them costs one unpack and a few checks per attribute, in Python: at
5,000 containers, ``show`` spent ~0.5 s of CPU walking link messages.

``wanted`` walks a message once and keeps its layout: where every
attribute header sits, as one struct.  A later message of the same size
is read with that struct in one unpack; if every header (length and type)
is what the layout says, the walk would have gone the same way, so the
wanted attributes are where the layout says too.  Anything else — another
size, a header that differs anywhere — is walked, so the result is always
the walk's.
"""

from __future__ import annotations

import struct
from typing import Optional

from .attr import RTA, TYPE_MASK

MIN_SIZE = 256  # bytes of attributes: a smaller run of them is walked (a layout would not pay)
KEEP = 4  # layouts kept for one size and set of wanted types
SIZES = 256  # sizes kept in all (a server's links come in a few dozen)

Spots = tuple[tuple[int, int, int], ...]  # (type, payload start, payload end), relative to the first attribute


class _Layout:
    __slots__ = ("heads", "spots", "struct")

    def __init__(self, fmt: str, heads: tuple[int, ...], spots: Spots) -> None:
        self.struct = struct.Struct(fmt)
        self.heads = heads
        self.spots = spots


_LAYOUTS: dict[tuple[int, frozenset[int]], list[_Layout]] = {}


def wanted(buf: bytes, start: int, end: int, types: frozenset[int]) -> list[tuple[int, int, int]]:
    """(type, payload start, payload end) of each attribute in ``buf[start:end]`` whose type (flags
    masked) is in ``types``, in the order they come: what a walk gives (``attr.attrs``, filtered)."""
    size = end - start
    if size >= MIN_SIZE:
        known = _LAYOUTS.get((size, types))
        if known:
            for lay in known:
                if lay.struct.unpack_from(buf, start) == lay.heads:
                    return [(t, start + a, start + b) for t, a, b in lay.spots]
    return _walk(buf, start, end, types, size)


def _walk(buf: bytes, start: int, end: int, types: frozenset[int], size: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    fmt: Optional[list[str]] = [] if size >= MIN_SIZE else None
    heads: list[int] = []
    unpack = RTA.unpack_from
    off = start
    at = start  # where the layout's struct has read up to
    while off + 4 <= end:
        length, raw = unpack(buf, off)
        if length < 4:
            fmt = None  # a damaged run: walked every time, never a layout
            break
        t = raw & TYPE_MASK
        if t in types:
            out.append((t, off + 4, off + length))
        if fmt is not None:
            fmt.append(f"{off - at}xHH" if off > at else "HH")
            heads += (length, raw)
            at = off + 4
        off += (length + 3) & ~3
    if fmt is not None and off == end:  # the walk ended where the run does: a layout to keep
        kept = _LAYOUTS.get((size, types))
        if kept is None:
            if len(_LAYOUTS) >= SIZES:
                return out
            kept = _LAYOUTS.setdefault((size, types), [])
        if len(kept) < KEEP:
            kept.append(_Layout("=" + "".join(fmt), tuple(heads),
                                tuple((t, a - start, b - start) for t, a, b in out)))
    return out
