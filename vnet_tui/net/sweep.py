"""Counter sweeps: one stats-only RTM_GETSTATS dump per namespace, pipelined.

Requests go out to every namespace's socket first, then the replies are
collected, so the kernel work overlaps the Python parsing.  Results are
raw tuples in kernel order (rtnl.STATS_ORDER) keyed by (inode, ifindex).
"""

from __future__ import annotations

from typing import Iterable

from . import rtnl
from .namespace import Namespace
from .session import DumpInterrupted

Key = tuple[int, int]


def sweep(namespaces: Iterable[Namespace]) -> dict[Key, tuple[int, ...]]:
    """Counters of every link in every namespace; a namespace that fails is left out."""
    pending = []
    for ns in namespaces:
        try:
            pending.append((ns, ns.sock.send_dump(rtnl.dump_stats_request)))
        except OSError:
            continue
    out: dict[Key, tuple[int, ...]] = {}
    for ns, seq in pending:
        try:
            msgs = ns.sock.collect(seq, rtnl.parse_stats)
        except DumpInterrupted:
            msgs = ns.sock.stats()
        except OSError:
            continue
        inode = ns.inode
        for m in msgs:
            out[(inode, m.ifindex)] = m.values
    return out
