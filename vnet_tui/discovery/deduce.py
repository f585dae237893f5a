"""The host's id for a namespace, from a veth pair whose two ends each name the other.

The host gives every namespace its links point into an id (nsid), and
asking it (RTM_GETNSID) costs the kernel a walk over all of the host's
ids: at 5,000 containers 5,000 asks took 0.3 s, on top of the link
dump's own walk per veth.  A one-shot discovery reads every namespace
anyway, so it can ask each one instead which id *it* gives the host (a
walk over its own one or two ids) and pair the ends: a host veth X that
points at (nsid Z, ifindex e), and a veth e in namespace C that points
at (the host, X), are the two ends of one pair.  A veth's peer is
mutual, so X's peer is in C: Z is the host's id for C, exactly as
RTM_GETNSID would say.

Only veths on both sides, and only when the namespace said which id it
gives the host: a macvlan or tunnel inside C may point at the host's X
without X pointing back, and an id from C's side could name another
namespace.  Anything not settled this way is asked of the host as before.
"""

from __future__ import annotations

from typing import Optional, Sequence

from vnet_tui.core.model import Interface

# a namespace's interfaces, and the id it gives the host (None: none)
Read = tuple[list[Interface], Optional[int]]


def deduced_nsids(host: Sequence[Interface], reads: Sequence[Optional[Read]]) -> list[Optional[int]]:
    """The host's id for each namespace read (``reads``), in order; None where no veth pair settles it
    (or two would give different ids)."""
    host_veths = {h.ifindex: h for h in host if h.kind == "veth" and h.link_netnsid is not None}
    out: list[Optional[int]] = []
    for r in reads:
        found: Optional[int] = None
        clash = False
        if r is not None and r[1] is not None and host_veths:
            ifaces, host_nsid = r
            for g in ifaces:
                if g.kind != "veth" or g.link_netnsid != host_nsid or g.link_ifindex is None:
                    continue
                h = host_veths.get(g.link_ifindex)
                if h is None or h.link_ifindex != g.ifindex:
                    continue
                if found is not None and found != h.link_netnsid:
                    clash = True
                found = h.link_netnsid
        out.append(None if clash else found)
    return out
