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

from typing import Optional, Sequence

from vnet_tui.core.forked import FAILED, Forked
from vnet_tui.net.namespace import Namespace, NsState
from vnet_tui.net.session import DumpInterrupted

SPLIT_ABOVE = 1000  # namespaces: below this a fork costs more than it saves


def read_one(ns: Namespace) -> Optional[NsState]:
    """One namespace's links, counters and addresses (None: it cannot be read now, e.g. it vanished)."""
    try:
        return ns.read()
    except (OSError, DumpInterrupted):
        return None


def read_all(namespaces: Sequence[Namespace], split: bool = False) -> list[Optional[NsState]]:
    """``read_one`` of each namespace, in order; with ``split``, a forked child reads the second half."""
    if not split or len(namespaces) < SPLIT_ABOVE:
        return [read_one(ns) for ns in namespaces]
    half = len(namespaces) // 2
    mine, theirs = namespaces[:half], namespaces[half:]
    with Forked(lambda: [read_one(ns) for ns in theirs]) as child:
        first = [read_one(ns) for ns in mine]
        second = child.result()
    if second is FAILED or len(second) != len(theirs):
        second = [read_one(ns) for ns in theirs]
    return first + second
