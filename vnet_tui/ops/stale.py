"""Remove half-made adapters whose maker died (SAFETY.md: "on start").

A host end tagged ``vnet-tui:pending:<pid>`` or a peer still under its
temporary name ``vt<pid hex>-xxxx`` belongs to an operation in progress;
when that pid is gone, the operation died mid-way (kill -9, power cut of
the SSH session) and the pair is deleted.  Candidates come from the
topology, so a server without leftovers costs no extra kernel call.
"""

from __future__ import annotations

from .endstate import read_end
from .index import index_of
from .live import HOST, Live
from .names import half_made_by, pid_alive


def stale_candidates(live: Live) -> list[tuple[str, str, int]]:
    """(namespace key, ifname, owner pid) of half-made ends whose owner is dead."""
    return [(key, ifname, pid) for key, ifname, pid in index_of(live.topology).half_made if not pid_alive(pid)]


def remove_stale(live: Live) -> list[str]:
    """Delete stale half-made adapters; returns what was removed, as notes."""
    notes = []
    for key, ifname, pid in stale_candidates(live):
        ns = live.ns(key)
        end = read_end(ns, ifname)
        if end is None:
            continue
        if half_made_by(end.alias, end.ifname) != pid:  # changed since discovery: not ours to judge
            continue
        ns.link_del(end.ifindex)
        where = "the host" if key == HOST else key
        notes.append(f"removed {ifname} in {where}: left half-made by process {pid}, which died")
    return notes
