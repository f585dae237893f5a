"""Counter sweeps: one stats-only RTM_GETSTATS dump per namespace, pipelined.

Requests go out to every namespace's socket first, then the replies are
collected, so the kernel work overlaps the Python parsing.  Results are
each link's eight counters as the kernel wrote them (64 bytes in
rtnl.STATS_ORDER: ``rtnl.stats.Counts``; ``counter_values`` makes the
numbers) keyed by (inode, ifindex): one object per link, and an idle
link's are equal bytes.

This is the hot path of a server with a thousand containers (bench/:
~2,000 ends in 1,001 namespaces every second), so replies are read with
one unpack per message (the codec's ``rtnl.stats.REPLY``): the request
asks for IFLA_STATS_LINK_64 only, so every RTM_NEWSTATS reply is the
header, the if_stats_msg, one rtattr and the counters, in that order.  Anything
else — another attribute first, a short message — goes through the
general decoder (``rtnl.parse_stats``), so the result is the same.

A namespace with few links to read (a container: its loopback and one
or two ends) costs the kernel less as *get* requests for the ends it
names than as a dump: no dump state, no 32 KiB reply buffer, one small
reply each (bench/: ~4.6 against ~7.9 ms of system time for 1,000
containers).  ``sweep(…, ends=…)`` sends all of a namespace's get
requests in one ``send``; the watcher reads every container's ends that
way (not its loopback, which has no row) and dumps the host's links.
"""

from __future__ import annotations

import itertools
import struct
from typing import Any, Iterable, Mapping, Optional, Sequence

from . import rtnl
from .namespace import Namespace
from .rtnl.message import NLMSGHDR
from .rtnl.stats import FILTER_LINK_64, GET, REPLY, STATS_RTA_LEN, STATSMSG, Counts, get_requests, packed
from .session import DumpInterrupted, NetnsSocket, recv_buffer

Key = tuple[int, int]

_REPLY_SIZE = REPLY.size  # 96: a reply read with one unpack (rtnl.stats.REPLY)
# Sweep sequence numbers live in the top half of the range; a NetnsSocket
# numbers its own requests from 1 and wraps long before reaching it.
_SEQS = itertools.count(1)
_SEQ_BASE = 0x80000000


# the kernel's numbers as module globals: read per message, a global costs half a module attribute
_NEWSTATS, _DONE, _ERROR = rtnl.RTM_NEWSTATS, rtnl.NLMSG_DONE, rtnl.NLMSG_ERROR
_INTR, _MULTI, _LINK64 = rtnl.NLM_F_DUMP_INTR, rtnl.NLM_F_MULTI, rtnl.IFLA_STATS_LINK_64
# a get request's nlmsghdr; its if_stats_msg comes from the plan (GET = the two)
_HEAD = struct.Struct("=IHHII")
_WHOLE: dict[int, struct.Struct] = {}


def _whole(length: int) -> struct.Struct:
    """REPLY followed by padding to ``length``: one struct per dump message, for ``iter_unpack``."""
    s = _WHOLE.get(length)
    if s is None:
        s = _WHOLE[length] = struct.Struct(REPLY.format + f"{length - _REPLY_SIZE}x")
    return s


def _next_seq() -> int:
    return _SEQ_BASE | (next(_SEQS) & 0x7FFFFFFF)


def ends_of(links: Iterable[rtnl.LinkMsg]) -> list[int]:
    """The ifindexes a light sweep reads in a container namespace: every link but the loopback."""
    return [l.ifindex for l in links if not l.flags & rtnl.IFF_LOOPBACK]


def _collect(s: NetnsSocket, buf: bytearray, seq: int, inode: int, out: dict[Key, Counts],
             replies: int = 0, n: int = -1) -> None:
    """Read the replies to request ``seq`` on ``s`` into ``out`` (``buf``: this thread's buffer).

    ``replies`` = 0: a dump, read to its NLMSG_DONE.  Otherwise that many
    get requests: each is answered by one RTM_NEWSTATS, or by an error
    (the link is gone: it is left out).  Messages of other requests are
    skipped.  ``n`` ≥ 0: ``buf`` already holds that many bytes received
    on ``s``; they are read first.  Raises DumpInterrupted (the kernel
    flagged a dump inconsistent) or OSError (a dump failed, or the socket
    did).
    """
    size = len(buf)
    recv_into = s.sock.recv_into
    unpack = REPLY.unpack_from
    intr = False
    while True:
        if n < 0:
            n = recv_into(buf)
        off = 0
        if not replies and n >= 16 * _REPLY_SIZE:  # a big namespace's dump (a host's): worth a run
            off = _run_of_replies(buf, n, seq, inode, out)
        while off + 16 <= n:
            if off + _REPLY_SIZE <= size:
                m = unpack(buf, off)
                length, mtype, flags, mseq = m[0], m[1], m[2], m[3]
            else:  # the tail of the buffer: only the header is sure to fit
                length, mtype, flags, mseq, _pid = NLMSGHDR.unpack_from(buf, off)
                m = None
            if length < 16:
                break
            if mseq == seq:
                if flags & _INTR:
                    intr = True
                if mtype == _NEWSTATS:
                    if (m is not None and length >= _REPLY_SIZE and m[9] & 0x3FFF == _LINK64
                            and m[8] >= STATS_RTA_LEN):
                        out[(inode, m[6])] = m[10]
                    else:
                        p = rtnl.parse_stats(buf, off + 16, off + length)
                        if p is not None:
                            out[(inode, p.ifindex)] = packed(p.values)
                    if replies:
                        replies -= 1
                        if not replies:
                            return
                elif mtype == _DONE:
                    if intr:
                        raise DumpInterrupted()
                    return
                elif mtype == _ERROR:
                    if replies:  # a get of a link that is gone
                        replies -= 1
                        if not replies:
                            return
                    else:
                        code = rtnl.error_code(buf, off + 16)
                        if code:
                            raise OSError(-code, "RTM_GETSTATS dump failed")
                        return
            off += (length + 3) & ~3
        n = -1


def _run_of_replies(buf: bytearray, n: int, seq: int, inode: int, out: dict[Key, Counts]) -> int:
    """Read the leading run of plain replies in ``buf[:n]`` with one ``iter_unpack``; the offset after it.

    A dump's messages are all the same length (one kernel's struct
    rtnl_link_stats64), so a chunk is mostly one run of them: read here
    with a struct per whole message (a third less Python per message
    than an unpack each, on this machine).  The run stops at the first
    message that is not a plain reply of this dump (another length or
    request, the NLMSG_DONE, a dump flagged interrupted): the caller's
    loop reads from there.
    """
    length = REPLY.unpack_from(buf, 0)[0]
    if length < _REPLY_SIZE or length & 3:
        return 0
    count = 0
    with memoryview(buf) as view:
        for m in _whole(length).iter_unpack(view[:n - n % length]):
            if (m[0] != length or m[1] != _NEWSTATS or m[2] != _MULTI or m[3] != seq or m[9] != _LINK64
                    or m[8] < STATS_RTA_LEN):
                break
            out[(inode, m[6])] = m[10]
            count += 1
    return count * length


class SweepPlan:
    """A sweep worked out once for a set of namespaces and their ends; ``run`` it every interval.

    ``ends`` maps a namespace's inode to the ifindexes to read there with
    get requests (only those links); a namespace without an entry is
    dumped whole.  Bound socket methods and result keys are prepared here,
    so a sweep of 1,000 containers is two tight loops (the watcher keeps
    the plan until its namespaces or their links change).
    """

    def __init__(self, namespaces: Iterable[Namespace], ends: Optional[Mapping[int, Sequence[int]]] = None) -> None:
        self.dumped: list[Namespace] = []
        # (ns, send, recv_into, ifindex, key, the request's if_stats_msg)
        self.single: list[tuple[Namespace, Any, Any, int, Key, bytes]] = []
        self.multi: list[tuple[Namespace, list[int]]] = []
        for ns in namespaces:
            wanted = ends.get(ns.inode) if ends is not None else None
            if not wanted:
                self.dumped.append(ns)
            elif len(wanted) == 1:
                sock = ns.sock.sock
                self.single.append((ns, sock.send, sock.recv_into, wanted[0], (ns.inode, wanted[0]),
                                    STATSMSG.pack(0, wanted[0], FILTER_LINK_64)))
            else:
                self.multi.append((ns, list(wanted)))

    def run(self) -> dict[Key, Counts]:
        """Counters of the planned links.  A namespace that fails is left out."""
        seq = _next_seq()
        dump_req = rtnl.dump_stats_request(seq)
        sent_dumps: list[Namespace] = []
        for ns in self.dumped:
            try:
                ns.sock.sock.send(dump_req)
            except OSError:
                continue
            sent_dumps.append(ns)
        head = _HEAD.pack(GET.size, rtnl.RTM_GETSTATS, rtnl.NLM_F_REQUEST, seq, 0)
        sent_single: list[tuple[Namespace, Any, Any, int, Key, bytes]] = []
        sent = sent_single.append
        for entry in self.single:
            try:
                entry[1](head + entry[5])
                sent(entry)
            except OSError:
                pass
        sent_multi: list[tuple[Namespace, int]] = []
        for ns, wanted in self.multi:
            try:
                ns.sock.sock.send(get_requests(seq, wanted))
            except OSError:
                continue
            sent_multi.append((ns, len(wanted)))
        out: dict[Key, Counts] = {}
        buf = recv_buffer()
        unpack = REPLY.unpack_from
        for ns in sent_dumps:
            try:
                n = ns.sock.sock.recv_into(buf)
            except OSError:
                continue
            if not self._small_dump(buf, n, seq, ns.inode, out):
                self._read(ns, buf, seq, out, 0, n)
        for ns, _send, recv, ifindex, key, _body in sent_single:
            try:
                n = recv(buf)
            except OSError:
                continue
            if n >= _REPLY_SIZE:  # one reply of one message: the usual case
                m = unpack(buf, 0)
                if (m[0] == n and m[3] == seq and m[1] == _NEWSTATS and m[6] == ifindex
                        and m[9] & 0x3FFF == _LINK64 and m[8] >= STATS_RTA_LEN):
                    out[key] = m[10]
                    continue
            self._read(ns, buf, seq, out, 1, n)
        for ns, replies in sent_multi:
            self._read(ns, buf, seq, out, replies)
        return out

    @staticmethod
    def _small_dump(buf: bytearray, n: int, seq: int, inode: int, out: dict[Key, Counts]) -> bool:
        """A container's whole dump, read at once: its replies and this sweep's NLMSG_DONE in ``buf[:n]``
        (a namespace of a few links: one read).  False if it is anything else (more to read, another
        request's message, a dump flagged interrupted): the general reader then reads ``buf[:n]`` again."""
        if n < 20:
            return False
        done = NLMSGHDR.unpack_from(buf, n - 20)
        if done[0] != 20 or done[1] != _DONE or done[3] != seq or done[2] & _INTR:
            return False
        unpack = REPLY.unpack_from
        off, end = 0, n - 20
        while off < end:
            if off + _REPLY_SIZE > end:
                return False
            m = unpack(buf, off)
            if (m[0] < _REPLY_SIZE or m[1] != _NEWSTATS or m[2] != _MULTI or m[3] != seq or m[9] != _LINK64
                    or m[8] < STATS_RTA_LEN):
                return False
            out[(inode, m[6])] = m[10]
            off += (m[0] + 3) & ~3
        return off == end

    @staticmethod
    def _read(ns: Namespace, buf: bytearray, seq: int, out: dict[Key, Counts], replies: int,
              n: int = -1) -> None:
        try:
            _collect(ns.sock, buf, seq, ns.inode, out, replies, n)
        except DumpInterrupted:
            try:
                inode = ns.inode
                for m in ns.sock.stats():
                    out[(inode, m.ifindex)] = packed(m.values)
            except (OSError, DumpInterrupted):
                pass
        except OSError:
            pass


def sweep(namespaces: Iterable[Namespace],
          ends: Optional[Mapping[int, Sequence[int]]] = None) -> dict[Key, Counts]:
    """Counters of the links of every namespace (only the ``ends`` where given): ``SweepPlan(…).run()``."""
    return SweepPlan(namespaces, ends).run()
