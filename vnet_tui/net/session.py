"""One long-lived rtnetlink socket per namespace: dumps, stats, nsids, events."""

from __future__ import annotations

import errno
import os
import socket
import threading
from typing import Callable, Optional, Sequence, TypeVar

from . import rtnl
from .rtnl.exchange import SocketClosed, replies
from .netns import netlink_socket

T = TypeVar("T")
_BUF = 1 << 18
_local = threading.local()


def recv_buffer() -> bytearray:
    """This thread's receive buffer, shared by all its sockets.

    Every reply is parsed into new objects before the next ``recv_into``,
    so one buffer per thread is enough; one per socket cost 256 KiB of
    resident memory each (bytearray zero-fills), 500 MB for a watcher of
    1,000 containers (a dump and an event socket per namespace).
    """
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(_BUF)
    return buf


class DumpInterrupted(Exception):
    """The kernel flagged a dump as inconsistent; repeat it."""


class Resync(Exception):
    """Events were lost (ENOBUFS): re-dump the namespace."""


class NetnsSocket:
    """A NETLINK_ROUTE socket created inside one namespace and kept open.

    ``fd`` is an open namespace fd (None: the caller's own namespace).
    With ``groups`` the socket also receives link/address events; such a
    socket is for events only (dumps use a plain one).
    """

    def __init__(self, fd: Optional[int] = None, groups: int = 0, sock: Optional[socket.socket] = None) -> None:
        """``sock``: a request socket made inside the namespace already (netns.netlink_sockets)."""
        self.sock = sock if sock is not None else netlink_socket(fd, groups)
        self.groups = groups
        self._seq = 0

    @property
    def _buf(self) -> bytearray:
        return recv_buffer()

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "NetnsSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def send_dump(self, build: Callable[[int], bytes]) -> int:
        """Send a dump request; return its sequence number (for pipelining)."""
        seq = self._next_seq()
        self.sock.send(build(seq))
        return seq

    def collect(self, seq: int, parse: Callable[[bytes, int, int], Optional[T]]) -> list[T]:
        """Read the reply of dump ``seq`` to its end, parsing each message."""
        out: list[T] = []
        buf = self._buf
        intr = False
        for mtype, flags, off, end in replies(self.sock, buf, seq):
            if flags & rtnl.NLM_F_DUMP_INTR:
                intr = True
            if mtype == rtnl.NLMSG_DONE:
                if intr:
                    raise DumpInterrupted()
                return out
            if mtype == rtnl.NLMSG_ERROR:
                code = rtnl.error_code(buf, off)
                if code:
                    raise OSError(-code, os.strerror(-code))
                return out
            item = parse(buf, off, end)
            if item is not None:
                out.append(item)
        return out  # not reached: replies() reads until the answer or raises

    def dump(self, build: Callable[[int], bytes], parse: Callable[[bytes, int, int], Optional[T]]) -> list[T]:
        for _ in range(5):
            try:
                return self.collect(self.send_dump(build), parse)
            except DumpInterrupted:
                continue
        return self.collect(self.send_dump(build), parse)

    def links(self) -> list[rtnl.LinkMsg]:
        return self.dump(rtnl.dump_links_request, rtnl.parse_link)

    def counted_links(self) -> list[rtnl.LinkMsg]:
        """Links with their counters (``LinkMsg.stats64``), in one dump."""
        return self.dump(rtnl.dump_counted_links_request, rtnl.parse_link)

    def addrs(self) -> list[rtnl.AddrMsg]:
        return self.dump(rtnl.dump_addrs_request, rtnl.parse_addr)

    def stats(self) -> list[rtnl.StatsMsg]:
        return self.dump(rtnl.dump_stats_request, rtnl.parse_stats)

    def nsid_of(self, ns_fd: int) -> Optional[int]:
        """The id this namespace gives namespace ``ns_fd`` (None: unassigned)."""
        seq = self._next_seq()
        self.sock.send(rtnl.get_nsid_request(seq, ns_fd))
        buf = self._buf
        for mtype, _flags, off, end in replies(self.sock, buf, seq):
            if mtype == rtnl.NLMSG_ERROR:
                code = rtnl.error_code(buf, off)
                if code:
                    raise OSError(-code, os.strerror(-code))
                return None
            if mtype == rtnl.RTM_NEWNSID:
                return rtnl.parse_nsid(buf, off, end)
        return None  # not reached: replies() reads until the answer or raises

    def nsids_of(self, ns_fds: Sequence[int], batch: int = 256) -> list[Optional[int]]:
        """``nsid_of`` each namespace, in order (None: unassigned, or the kernel refused to say).

        The requests go ``batch`` to a ``send``: the kernel answers each
        message of a datagram in turn, one reply (or error) apiece.
        """
        out: list[Optional[int]] = []
        buf = self._buf
        for i in range(0, len(ns_fds), batch):
            seqs = [self._next_seq() for _ in ns_fds[i:i + batch]]
            self.sock.send(b"".join(rtnl.get_nsid_request(q, fd) for q, fd in zip(seqs, ns_fds[i:i + batch])))
            answers: dict[int, Optional[int]] = {}
            want = set(seqs)
            while len(answers) < len(seqs):
                n = self.sock.recv_into(buf)
                if n <= 0:
                    raise SocketClosed()
                for mtype, _flags, seq, off, end in rtnl.messages(buf, n):
                    if seq in want:
                        answers[seq] = rtnl.parse_nsid(buf, off, end) if mtype == rtnl.RTM_NEWNSID else None
            out.extend(answers[q] for q in seqs)
        return out

    def read_events(self) -> list[tuple[int, object]]:
        """Drain pending events without blocking (see ``drain_events``)."""
        return drain_events(self.sock, self._buf)


def drain_events(sock: socket.socket, buf: bytearray) -> list[tuple[int, object]]:
    """Drain a namespace's pending link/address events without blocking.

    Returns (message type, LinkMsg | AddrMsg) pairs; raises Resync when the
    kernel dropped events (ENOBUFS).  Only ``AF_UNSPEC`` link messages are
    links: a bridge sends ``AF_BRIDGE`` RTM_NEWLINK/RTM_DELLINK about its
    *ports* (``ip link set X nomaster`` makes an AF_BRIDGE RTM_DELLINK for
    X, which still exists), and those are skipped.
    """
    out: list[tuple[int, object]] = []
    while True:
        try:
            n = sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                raise Resync() from None
            raise
        decode_events(buf, n, out)


def decode_events(buf: bytearray, n: int, out: list[tuple[int, object]]) -> None:
    """Append the link and address events in ``buf[:n]`` (one datagram) to ``out`` (see drain_events)."""
    for mtype, _f, _s, off, end in rtnl.messages(buf, n):
        if mtype in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
            if buf[off] == socket.AF_UNSPEC:  # ifinfomsg.ifi_family
                out.append((mtype, rtnl.parse_link(buf, off, end)))
        elif mtype in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
            a = rtnl.parse_addr(buf, off, end)
            if a is not None:
                out.append((mtype, a))


EVENT_GROUPS = rtnl.RTMGRP_LINK | rtnl.RTMGRP_IPV4_IFADDR | rtnl.RTMGRP_IPV6_IFADDR
