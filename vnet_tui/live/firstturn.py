"""A big server's first picture: the containers the first screen shows, dumped before the rest.

At 5,000 containers, dumping every namespace (a link and an address
dump each) before the first topology kept the screen empty for seconds.
Past SPLIT_ABOVE new containers, the watcher's first apply dumps only the containers whose rows come
first in the panes' name order — the first of the Containers pane, and
those whose guest ends pair the first host ends of the Host pane — posts
that topology (with the others left out until read), and reads the rest
in the turns after (structure.py).  The panes sort rows by name with
digits compared as numbers (core/text.natural_key), so the same order is
used here.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from vnet_tui.core.text import natural_key

FIRST = 200  # containers, and host ends, read first: more rows than any screen shows (ui/main.FIRST_ROWS)
# past this many new containers the first picture is split: up to it, reading them all costs less than
# the second picture does (measured at 1,000: first paint the same, the fill's second topology extra)
SPLIT_ABOVE = 1000


def first_shown(new: Iterable[int], containers: Mapping[int, Any], host_links: Iterable[Any],
                by_nsid: Mapping[int, Any], first: int = FIRST) -> set[int]:
    """Of the namespaces ``new`` (inodes of ``containers``), those the first screen shows.

    ``containers`` maps inodes to discovery's ContainerNs (``name``: the
    display name the Containers pane sorts by); ``host_links`` are the
    host's links (LinkMsg: the Host pane sorts by ``ifname``), whose
    ``link_netnsid`` names a container through ``by_nsid``.
    """
    new = set(new)
    named = sorted(((natural_key(containers[i].name), i) for i in new), key=lambda t: t[0])
    out = {i for _k, i in named[:first]}
    peered = [l for l in host_links if l.link_netnsid is not None and l.link_netnsid in by_nsid]
    peered.sort(key=lambda l: natural_key(l.ifname))
    for l in peered[:first]:
        inode = by_nsid[l.link_netnsid].ns.inode
        if inode in new:
            out.add(inode)
    return out
