"""Rebuild a Topology from cached namespace dumps, without touching the kernel.

The watcher re-reads only the namespaces whose events said something
changed; the Assembler pairs the ends again from those cached dumps, the
same way ``discovery.topology.Discoverer.discover`` does (IFLA_LINK +
IFLA_LINK_NETNSID, resolved through the host's nsids — never "ifindex + 1").

It also keeps identity: an interface whose facts and peer did not change
is the *same object* in the new Topology as in the last one.  Comparing
two topologies, or a row's facts in the UI, is then mostly ``is``; with
1,000 containers a one-link change no longer costs a rebuild of
everything.  Published Interface objects are never mutated (a changed
peer makes a new object), so sharing them across threads is safe.
Counters are left zero here: live counters travel in ``Sample``s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Optional

from vnet_tui.core.model import VM, Container, Host, Interface, NetnsRef, Peer, Topology
from vnet_tui.discovery.interfaces import interfaces_from_state
from vnet_tui.net.namespace import NsState

PubKey = tuple[int, int]


class Assembler:
    """Makes Topologies from namespace dumps, reusing what did not change."""

    def __init__(self) -> None:
        self._base: dict[int, tuple[NsState, list[Interface]]] = {}  # inode -> (dump, ends without peers)
        self._pub: dict[PubKey, tuple[Interface, Optional[Peer], Interface]] = {}

    def _ends(self, inode: int, st: NsState) -> list[Interface]:
        """The interfaces of one dump (no peers); unchanged ones are the objects of last time."""
        hit = self._base.get(inode)
        if hit is not None and hit[0] is st:
            return hit[1]
        ifaces = interfaces_from_state(NsState(links=st.links, addrs=st.addrs))
        if hit is not None:
            old = {i.ifindex: i for i in hit[1]}
            ifaces = [o if (o := old.get(i.ifindex)) == i else i for i in ifaces]
        self._base[inode] = (st, ifaces)
        return ifaces

    def _publish(self, pub: dict[PubKey, Any], inode: int, b: Interface, peer: Optional[Peer]) -> Interface:
        key = (inode, b.ifindex)
        hit = self._pub.get(key)
        if hit is not None and hit[0] is b and hit[1] == peer:
            out = hit[2]
        else:
            out = b if peer is None else replace(b, peer=peer)
        pub[key] = (b, peer, out)
        return out

    def assemble(self, host_netns: Optional[str], hostname: str, host_inode: int, host_state: NsState,
                 containers: Mapping[int, Any], states: Mapping[int, NsState], by_nsid: Mapping[int, Any],
                 vms: list[VM]) -> Topology:
        """A Topology from the host's dump, each container's dump and the VMs.

        ``containers`` and ``by_nsid`` hold discovery ContainerNs objects (keyed by
        namespace inode and by the host's nsid for them).
        """
        host_ifaces = self._ends(host_inode, host_state)
        by_index = {i.ifindex: i for i in host_ifaces}
        guests: dict[int, dict[int, Interface]] = {}
        for inode in containers:
            st = states.get(inode)
            guests[inode] = {i.ifindex: i for i in self._ends(inode, st)} if st is not None else {}
        for inode in [i for i in self._base if i != host_inode and i not in containers]:
            del self._base[inode]

        host_peer: dict[int, Peer] = {}
        guest_peer: dict[PubKey, Peer] = {}
        for h in host_ifaces:  # one pass over the host: by_nsid tells whose namespace each peer is in
            if h.link_netnsid is None or h.link_ifindex is None:
                continue
            c = by_nsid.get(h.link_netnsid)
            if c is None:
                continue
            g = guests.get(c.ns.inode, {}).get(h.link_ifindex)
            if g is not None and g.link_ifindex == h.ifindex:
                host_peer[h.ifindex] = Peer("container", c.name, c.nsname, g.ifname, g.ifindex)
                guest_peer[(c.ns.inode, g.ifindex)] = Peer("host", None, host_netns, h.ifname, h.ifindex)
        for h in host_ifaces:  # veth pairs inside the host itself
            if h.ifindex not in host_peer and h.kind == "veth" and h.link_netnsid is None \
                    and h.link_ifindex in by_index:
                other = by_index[h.link_ifindex]
                host_peer[h.ifindex] = Peer("host", None, host_netns, other.ifname, other.ifindex)
        by_name = {i.ifname: i for i in host_ifaces}
        for vm in vms:
            for a in vm.adapters:
                tap = by_name.get(a.host_ifname or "")
                if tap is not None:
                    host_peer[tap.ifindex] = Peer("vm", vm.name, adapter=a.id, mac=a.guest_mac)

        pub: dict[PubKey, Any] = {}
        host = Host(host_netns, hostname,
                    [self._publish(pub, host_inode, h, host_peer.get(h.ifindex)) for h in host_ifaces],
                    inode=host_inode)
        out: list[Container] = []
        for inode, c in sorted(containers.items(), key=lambda kv: (kv[1].name, kv[0])):
            ifaces = [self._publish(pub, inode, g, guest_peer.get((inode, g.ifindex)))
                      for g in guests[inode].values()]
            pids = list(getattr(c.info, "pids", []) or [])
            out.append(Container(c.name, c.runtime, NetnsRef(c.nsname, inode, pids, getattr(c.ns, "where", None)),
                                 ifaces))
        self._pub = pub
        return Topology(host, out, list(vms))


def assemble(host_netns: Optional[str], hostname: str, host_inode: int, host_state: NsState,
             containers: Mapping[int, Any], states: Mapping[int, NsState], by_nsid: Mapping[int, Any],
             vms: list[VM]) -> Topology:
    """One-shot assembly (no reuse)."""
    return Assembler().assemble(host_netns, hostname, host_inode, host_state, containers, states, by_nsid, vms)
