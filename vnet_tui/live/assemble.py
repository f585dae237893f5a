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
The same goes for a link whose message did not change (it is converted
again only if it did), for the Peers of a pairing and for a Container
none of whose parts changed, so one event re-makes a handful of objects.
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
        # inode -> (dump, ends without peers, the same by ifindex)
        self._base: dict[int, tuple[NsState, list[Interface], dict[int, Interface]]] = {}
        # inode -> {ifindex: (link message, its addresses, its master's name, the Interface made of them)}
        self._links: dict[int, dict[int, tuple[Any, tuple, Optional[str], Interface]]] = {}
        self._pub: dict[PubKey, tuple[Interface, Optional[Peer], Interface]] = {}
        # inode -> (ends list, their peers, container facts, the Container made of them)
        self._cts: dict[int, tuple[list[Interface], tuple, tuple, Container]] = {}
        # host ifindex -> (what its container pairing was made of, (host end's Peer, guest end's Peer))
        self._peers: dict[int, tuple[tuple, tuple[Peer, Peer]]] = {}

    def _ends(self, inode: int, st: NsState) -> tuple[list[Interface], dict[int, Interface]]:
        """The interfaces of one dump (no peers); unchanged ones are the objects of last time.

        The watcher's cached dumps keep the message object of a link that no
        event touched, so a link is converted again only if its message, its
        addresses or its master's name changed (one event on a host with
        1,000 ports re-makes one Interface, not 1,000).
        """
        hit = self._base.get(inode)
        if hit is not None and hit[0] is st:
            return hit[1], hit[2]
        addrs: dict[int, list[Any]] = {}
        for a in st.addrs:
            addrs.setdefault(a.ifindex, []).append(a)
        names = {l.ifindex: l.ifname for l in st.links}
        before = self._links.get(inode, {})
        known: dict[int, tuple[Any, tuple, Optional[str], Interface]] = {}
        todo = []
        for l in st.links:
            mine = tuple(addrs.get(l.ifindex, ()))
            master = names.get(l.master) if l.master else None
            was = before.get(l.ifindex)
            if was is not None and was[0] is l and was[1] == mine and was[2] == master:
                known[l.ifindex] = was
            else:
                todo.append((l, mine, master))
        if todo:  # converted by discovery's own function: the links, their masters (for the names), their addresses
            want = {l.ifindex for l, _, _ in todo}
            sub = [l for l in st.links if l.ifindex in want or any(l.ifindex == t.master for t, _, _ in todo)] \
                if len(todo) < 8 else list(st.links)
            made = {i.ifindex: i for i in interfaces_from_state(
                NsState(links=sub, addrs=[a for a in st.addrs if a.ifindex in want]))}
            for l, mine, master in todo:
                i = made[l.ifindex]
                was = before.get(l.ifindex)
                if was is not None and was[3] == i:
                    i = was[3]
                known[l.ifindex] = (l, mine, master, i)
        ifaces = [known[l.ifindex][3] for l in sorted(st.links, key=lambda l: l.ifindex)]
        self._links[inode] = known
        by_index = {i.ifindex: i for i in ifaces}
        self._base[inode] = (st, ifaces, by_index)
        return ifaces, by_index

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
        host_ifaces, by_index = self._ends(host_inode, host_state)
        guests: dict[int, tuple[list[Interface], dict[int, Interface]]] = {}
        for inode in containers:
            st = states.get(inode)
            guests[inode] = self._ends(inode, st) if st is not None else ([], {})
        for inode in [i for i in self._base if i != host_inode and i not in containers]:
            del self._base[inode]
            self._links.pop(inode, None)
        for inode in [i for i in self._cts if i not in containers]:
            del self._cts[inode]

        host_peer: dict[int, Peer] = {}
        guest_peer: dict[PubKey, Peer] = {}
        last_peers, peers = self._peers, {}
        for h in host_ifaces:  # one pass over the host: by_nsid tells whose namespace each peer is in
            if h.link_netnsid is None or h.link_ifindex is None:
                continue
            c = by_nsid.get(h.link_netnsid)
            if c is None:
                continue
            g = guests.get(c.ns.inode, ([], {}))[1].get(h.link_ifindex)
            if g is not None and g.link_ifindex == h.ifindex:
                why = (h, g, c.name, c.nsname, c.ns.inode, host_netns)
                was = last_peers.get(h.ifindex)
                pair = was[1] if was is not None and was[0] == why else \
                    (Peer("container", c.name, c.nsname, g.ifname, g.ifindex),
                     Peer("host", None, host_netns, h.ifname, h.ifindex))
                peers[h.ifindex] = (why, pair)  # the same Peer objects while nothing they tell changed
                host_peer[h.ifindex] = pair[0]
                guest_peer[(c.ns.inode, g.ifindex)] = pair[1]
        self._peers = peers
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
        cts: dict[int, tuple[list[Interface], tuple, tuple, Container]] = {}
        last_pub = self._pub
        for inode, c in sorted(containers.items(), key=lambda kv: (kv[1].name, kv[0])):
            ends = guests[inode][0]
            peers = tuple([guest_peer.get((inode, g.ifindex)) for g in ends])
            facts = (c.name, c.runtime, c.nsname, tuple(getattr(c.info, "pids", []) or []),
                     getattr(c.ns, "where", None), getattr(c, "owner", None))
            hit = self._cts.get(inode)
            if hit is not None and hit[0] is ends and hit[1] == peers and hit[2] == facts:
                ct = hit[3]  # nothing it is made of changed: the same object
                for g in ends:
                    pub[(inode, g.ifindex)] = last_pub[(inode, g.ifindex)]
            else:
                ifaces = [self._publish(pub, inode, g, p) for g, p in zip(ends, peers)]
                ct = Container(c.name, c.runtime, NetnsRef(c.nsname, inode, list(facts[3]), facts[4]), ifaces,
                               facts[5])
            cts[inode] = (ends, peers, facts, ct)
            out.append(ct)
        self._cts = cts
        self._pub = pub
        return Topology(host, out, list(vms))


def assemble(host_netns: Optional[str], hostname: str, host_inode: int, host_state: NsState,
             containers: Mapping[int, Any], states: Mapping[int, NsState], by_nsid: Mapping[int, Any],
             vms: list[VM]) -> Topology:
    """One-shot assembly (no reuse)."""
    return Assembler().assemble(host_netns, hostname, host_inode, host_state, containers, states, by_nsid, vms)
