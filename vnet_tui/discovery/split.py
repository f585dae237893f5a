"""Reading many container namespaces with two processes: ``show`` at 5,000 containers.

A namespace's two dumps cost about a quarter of a millisecond, most of
it the kernel filling link messages and Python decoding them: at 5,000
containers over a second of one core while the other core of a 2-core
server idles.  A one-shot read (``show``) splits the list: a forked
child reads the second half and sends back what it read (the pickled
``NsState``s), the parent reads the first half meanwhile
(``core/forked.py``: only with one thread; if the child fails, the
parent reads its half itself).
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable, Optional, Sequence

from vnet_tui.core.forked import FAILED, Forked
from vnet_tui.net.namespace import Namespace, NsState, make_sockets
from vnet_tui.net.session import DumpInterrupted

SPLIT_ABOVE = 1000  # namespaces: below this a fork costs more than it saves


def read_one(ns: Namespace) -> Optional[NsState]:
    """One namespace's links, counters and addresses (None: it cannot be read now, e.g. it vanished)."""
    try:
        return ns.read()
    except (OSError, DumpInterrupted):
        return None


UNREAD = "unread"  # what _read gives for a namespace not read: it gives the host no id (see SplitRead)


def _read(namespaces: Sequence[Namespace], host_fd: Optional[int], convert: Callable[[NsState], Any],
          always: AbstractSet[int] = frozenset()) -> list[Any]:
    """``convert(read_one(…))`` of each (None where it could not be read; ``UNREAD``, see SplitRead),
    their sockets made first in one pass (namespace.make_sockets).  ``host_fd``: each is first asked
    which id it gives the host (``NsState.host_nsid``; None: none, or the kernel refused to say)."""
    make_sockets(namespaces)
    out: list[Any] = []
    for ns in namespaces:
        if host_fd is None:
            st = read_one(ns)
        else:
            try:
                host_nsid = ns.sock.nsid_of(host_fd)
            except OSError:
                host_nsid = None
            if host_nsid is None and ns.inode not in always:
                out.append(UNREAD)
                continue
            st = read_one(ns)
            if st is not None:
                st.host_nsid = host_nsid
        out.append(None if st is None else convert(st))
    return out


def _same(st: NsState) -> NsState:
    return st


class SplitRead:
    """``read_one`` of each namespace, begun now and finished by ``finish()``: with ``split`` (and
    many namespaces) a forked child starts on the second half at once, so whatever the caller does
    before ``finish`` runs beside it; ``finish`` reads the first half here, then takes the child's
    (or reads it too, if the child failed).  ``convert``: what is kept of each state (made by the
    process that read it: the child sends only that).

    ``host_fd``: each namespace is first asked which id it gives the host (``NsState.host_nsid``);
    one that gives it none has no veth to the host, is not read and gives ``UNREAD`` (unless its
    inode is in ``always``): a server's other namespaces (another host's 5,000 containers) cost a
    question each, not a read."""

    def __init__(self, namespaces: Sequence[Namespace], split: bool = False,
                 host_fd: Optional[int] = None, convert: Callable[[NsState], Any] = _same,
                 always: AbstractSet[int] = frozenset()) -> None:
        self.host_fd = host_fd
        self.convert = convert
        self.always = always
        self.mine: Sequence[Namespace] = namespaces
        self.theirs: Sequence[Namespace] = ()
        self.child: Optional[Forked] = None
        if split and len(namespaces) >= SPLIT_ABOVE:
            half = len(namespaces) // 2
            self.mine, self.theirs = namespaces[:half], namespaces[half:]
            theirs = self.theirs
            self.child = Forked(lambda: _read(theirs, host_fd, convert, always))

    def finish(self) -> list[Any]:
        """Every namespace's ``convert(read_one(…))``, in order (None where it could not be read)."""
        first = _read(self.mine, self.host_fd, self.convert, self.always)
        if self.child is None:
            return first
        try:
            second = self.child.result()
        finally:
            self.close()
        if second is FAILED or len(second) != len(self.theirs):
            second = _read(self.theirs, self.host_fd, self.convert, self.always)
        return first + second

    def close(self) -> None:
        """Stop the child if its answer is no longer wanted (``finish`` does this itself)."""
        if self.child is not None:
            self.child.close()
            self.child = None


def read_all(namespaces: Sequence[Namespace], split: bool = False) -> list[Optional[NsState]]:
    """``read_one`` of each namespace, in order; with ``split``, a forked child reads the second half."""
    return SplitRead(namespaces, split).finish()
