"""Read a bbolt database file (podman's ``bolt_state.db``) without locking it or importing anything.

bbolt keeps a B+tree of pages: two meta pages (0 and 1; the valid one
with the higher transaction id names the root bucket), branch pages
(16-byte elements: pos, ksize, child page), leaf pages (16-byte elements:
flags, pos, ksize, vsize; flag 1 = the value is a sub-bucket: 16 bytes of
header — root page, sequence — and, when root is 0, the bucket's own page
inline after it).  A commit writes new pages first and the meta page
last, so the tree the newest valid meta names is whole — unless a later
commit reused one of its freed pages while we were reading (we do not
register as a reader).  Such a torn read shows up as a bad page
(``BoltError``) or bad JSON in a value, and the caller reads again or
falls back.  Only reading: no flock (a shared flock would block podman).
"""

from __future__ import annotations

import os
import struct
from typing import Iterator, Optional, Union

_PAGE_HDR = struct.Struct("<QHHI")  # id, flags, count, overflow
_ELEM = struct.Struct("<IIII")  # leaf: flags, pos, ksize, vsize  /  branch: pos, ksize, pgid(2×u32)
_META = struct.Struct("<IIIIQQQQQQ")  # magic, version, pagesize, flags, root, seq, freelist, pgid, txid, checksum
_MAGIC = 0xED0CDAED
BRANCH, LEAF, META = 0x01, 0x02, 0x04
BUCKET_LEAF = 0x01


class BoltError(ValueError):
    """The file is not a bbolt database, or it changed under us."""


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


Node = Union[int, bytes]  # a page id, or an inline bucket's page bytes


class Bolt:
    """One snapshot of a bbolt file, read into memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        best: Optional[tuple[int, int, int]] = None  # txid, root, pagesize
        psize = 4096
        for i in range(2):
            off = i * psize
            if len(data) < off + 16 + _META.size:
                break
            meta = _META.unpack_from(data, off + 16)
            magic, version, pagesize, _flags, root, _seq, _fl, _pgid, txid, checksum = meta
            if magic != _MAGIC or version != 2:
                continue
            if _fnv64a(data[off + 16: off + 16 + _META.size - 8]) != checksum:
                continue
            if i == 0:
                psize = pagesize
            if best is None or txid > best[0]:
                best = (txid, root, pagesize)
        if best is None:
            raise BoltError("no valid meta page")
        self.pagesize = best[2]
        self.root: Node = best[1]

    @classmethod
    def open(cls, path: str, limit: int = 64 << 20) -> "Bolt":
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                raise BoltError(f"{path} is larger than {limit >> 20} MiB")
            data = f.read()
        return cls(data)

    def _page(self, node: Node) -> tuple[bytes, int, int, int]:
        """(buffer, offset of the page header, flags, count)."""
        if isinstance(node, bytes):
            buf, off = node, 0
        else:
            buf, off = self.data, node * self.pagesize
            if off + 16 > len(buf):
                raise BoltError(f"page {node} beyond the file")
        pid, flags, count, _overflow = _PAGE_HDR.unpack_from(buf, off)
        if not isinstance(node, bytes) and pid != node:
            raise BoltError(f"page {node} says it is {pid}")
        return buf, off, flags, count

    def items(self, node: Node, depth: int = 0) -> Iterator[tuple[bytes, bytes, bool]]:
        """(key, value, is_bucket) of a bucket's tree, in key order."""
        if depth > 64:
            raise BoltError("tree too deep")
        buf, off, flags, count = self._page(node)
        base = off + 16
        if flags & BRANCH:
            for i in range(count):
                e = base + i * 16
                _pos, _ksize, lo, hi = _ELEM.unpack_from(buf, e)
                yield from self.items(lo | (hi << 32), depth + 1)
        elif flags & LEAF:
            for i in range(count):
                e = base + i * 16
                eflags, pos, ksize, vsize = _ELEM.unpack_from(buf, e)
                k0 = e + pos
                if k0 + ksize + vsize > len(buf):
                    raise BoltError("element beyond its page")
                yield buf[k0:k0 + ksize], buf[k0 + ksize:k0 + ksize + vsize], bool(eflags & BUCKET_LEAF)
        else:
            raise BoltError(f"page of kind {flags:#x} where a tree page was expected")

    def bucket(self, value: bytes) -> Node:
        """The tree of a sub-bucket, from its leaf value."""
        root, _seq = struct.unpack_from("<QQ", value, 0)
        return value[16:] if root == 0 else root

    def sub(self, node: Node, name: bytes) -> Optional[Node]:
        """The sub-bucket ``name`` of a bucket, or None (absent, or a plain key)."""
        for k, v, is_bucket in self.items(node):
            if k == name:
                return self.bucket(v) if is_bucket else None
        return None

    def buckets(self, node: Node) -> Iterator[tuple[bytes, Node]]:
        for k, v, is_bucket in self.items(node):
            if is_bucket:
                yield k, self.bucket(v)

    def values(self, node: Node) -> dict[bytes, bytes]:
        return {k: v for k, v, is_bucket in self.items(node) if not is_bucket}
