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

When the caller can say which namespaces' dumps changed and nothing else
did (no namespace, VM or nsid came or went: ``assemble(touched=…)``),
only those namespaces' ends and the pairs they take part in are looked
at: at 5,000 containers one `ip link set … down` costs a few hundred
objects, not a pass over 10,000 ends.  The result is the Topology a
whole assembly would give (tests/live/test_assemble_changed.py holds the
two to each other on a live lab); the Topology's ``change`` says what is
new since the last one the caller took (``taken``), so the UI can update
those rows alone.  Anything the shortcut does not cover (a link that
came, went or was renamed; an end that moved between namespaces) falls
back to the whole assembly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Optional

from vnet_tui.core.model import VM, Change, Container, Host, Interface, NetnsRef, Peer, Topology
from vnet_tui.discovery.interfaces import interfaces_from_state
from vnet_tui.net.namespace import NsState

PubKey = tuple[int, int]
_Base = tuple[NsState, list[Interface], dict[int, Interface]]  # a dump, its ends, the same by ifindex
PATCH_FROM = 64  # links in a namespace from which a dump is patched rather than passed over (a host)


def _addrs_by_link(st: NsState) -> dict[int, list[Any]]:
    addrs: dict[int, list[Any]] = {}
    for a in st.addrs:
        addrs.setdefault(a.ifindex, []).append(a)
    return addrs


class _Last:
    """What the last assembly was made of and made, for the next one to start from."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class Assembler:
    """Makes Topologies from namespace dumps, reusing what did not change."""

    def __init__(self) -> None:
        # inode -> (dump, ends without peers, the same by ifindex)
        self._base: dict[int, _Base] = {}
        # inode -> {ifindex: (link message, its addresses, its master's name, the Interface made of them)}
        self._links: dict[int, dict[int, tuple[Any, tuple, Optional[str], Interface]]] = {}
        self._addressed: dict[int, set[int]] = {}  # inode -> ifindexes with addresses in its last dump
        self._pos: dict[int, dict[int, int]] = {}  # inode -> ifindex -> place in its ends list (patched ones)
        self._pub: dict[PubKey, tuple[Interface, Optional[Peer], Interface]] = {}
        # inode -> (ends list, their peers, container facts, the Container made of them)
        self._cts: dict[int, tuple[list[Interface], tuple, tuple, Container]] = {}
        # host ifindex -> (what its container pairing was made of, (host end's Peer, guest end's Peer))
        self._peers: dict[int, tuple[tuple, tuple[Peer, Peer]]] = {}
        self._last: Optional[_Last] = None
        self.serial = 0  # topologies made
        self._taken = -1  # the serial of the last topology the caller took (``taken``)
        self._new_host: Optional[set[int]] = None  # changed since then (None: everything)
        self._new_cts: set[int] = set()

    def taken(self, topo: Topology) -> None:
        """The caller passed ``topo`` on: the next Topology's ``change`` is counted from it."""
        if topo.change is not None:
            self._taken = topo.change.serial
            self._new_host, self._new_cts = set(), set()

    def _stamp(self, topo: Topology, host: Optional[set[int]], cts: set[int]) -> Topology:
        """Number ``topo`` and say what changed since the topology last taken (host None: everything)."""
        self.serial += 1
        if host is None or self._new_host is None:
            self._new_host = None
        else:
            self._new_host |= host
            self._new_cts |= cts
        whole = self._new_host is None or self._taken < 0
        topo.change = Change(self.serial, None if whole else self._taken,
                             frozenset() if whole else frozenset(self._new_host or ()),
                             frozenset() if whole else frozenset(self._new_cts))
        return topo

    def _ends(self, inode: int, st: NsState) -> tuple[list[Interface], dict[int, Interface]]:
        """The interfaces of one dump (no peers); unchanged ones are the objects of last time.

        The watcher's cached dumps keep the message object of a link that no
        event touched, so a link is converted again only if its message, its
        addresses or its master's name changed (one event on a host with
        1,000 ports re-makes one Interface, not 1,000).  A namespace of many
        links whose links are the ones of last time (none came or went, none
        renamed) is patched (``_ends_patched``): at 5,000 containers the
        host's pass over every link cost ~5 ms of each outside change.
        """
        hit = self._base.get(inode)
        if hit is not None and hit[0] is st:
            return hit[1], hit[2]
        if hit is not None and len(st.links) >= PATCH_FROM:
            patched = self._ends_patched(inode, st, hit)
            if patched is not None:
                return patched
        addrs = _addrs_by_link(st)
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
        self._convert(st, todo, before, known)
        ifaces = [known[l.ifindex][3] for l in sorted(st.links, key=lambda l: l.ifindex)]
        self._links[inode] = known
        self._addressed[inode] = set(addrs)
        self._pos.pop(inode, None)  # (made again from this order when a patch needs it)
        by_index = {i.ifindex: i for i in ifaces}
        self._base[inode] = (st, ifaces, by_index)
        return ifaces, by_index

    def _ends_patched(self, inode: int, st: NsState, hit: _Base) -> Optional[tuple[list[Interface],
                                                                              dict[int, Interface]]]:
        """``_ends`` by looking again only at links whose message is new, and links with addresses now or
        last time; None if a link came, went or was renamed (the caller then passes over every link)."""
        before = self._links.get(inode)
        if before is None or len(st.links) != len(before):
            return None
        new: dict[int, Any] = {}
        for l in st.links:
            was = before.get(l.ifindex)
            if was is None:
                return None  # one came (and one went): the order and the masters' names may differ
            if was[0] is not l:
                if was[0].ifname != l.ifname:
                    return None  # renamed: a port's master name may be this one's
                new[l.ifindex] = l
        addrs = _addrs_by_link(st)
        todo = []
        for ifx in new.keys() | addrs.keys() | self._addressed.get(inode, set()):
            was = before[ifx]
            l = new.get(ifx, was[0])
            mine = tuple(addrs.get(ifx, ()))
            m = before.get(l.master) if l.master else None  # a master's name is the one of last time
            master = m[0].ifname if m is not None else None
            if was[0] is not l or was[1] != mine or was[2] != master:
                todo.append((l, mine, master))
        if not todo:
            known, ifaces, by_index = before, hit[1], hit[2]
        else:
            known = dict(before)
            self._convert(st, todo, before, known)
            ifaces, by_index = list(hit[1]), dict(hit[2])
            pos = self._pos.get(inode)
            if pos is None:
                pos = self._pos[inode] = {i.ifindex: n for n, i in enumerate(ifaces)}
            for l, _, _ in todo:
                i = known[l.ifindex][3]
                ifaces[pos[l.ifindex]] = by_index[l.ifindex] = i
        self._links[inode] = known
        self._addressed[inode] = set(addrs)
        self._base[inode] = (st, ifaces, by_index)
        return ifaces, by_index

    def _convert(self, st: NsState, todo: list[tuple[Any, tuple, Optional[str]]],
                 before: dict[int, tuple[Any, tuple, Optional[str], Interface]],
                 known: dict[int, tuple[Any, tuple, Optional[str], Interface]]) -> None:
        """Convert ``todo``'s links into ``known``, by discovery's own function: the links, their masters
        (for the names), their addresses; an Interface equal to the last one is that object."""
        if not todo:
            return
        want = {l.ifindex for l, _, _ in todo}
        if len(todo) < 8:
            keep = want | {t.master for t, _, _ in todo if t.master}
            sub = [l for l in st.links if l.ifindex in keep]
        else:
            sub = list(st.links)
        made = {i.ifindex: i for i in interfaces_from_state(
            NsState(links=sub, addrs=[a for a in st.addrs if a.ifindex in want]))}
        for l, mine, master in todo:
            i = made[l.ifindex]
            was = before.get(l.ifindex)
            if was is not None and was[3] == i:
                i = was[3]
            known[l.ifindex] = (l, mine, master, i)

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
                 vms: list[VM], touched: Optional[set[int]] = None) -> Topology:
        """A Topology from the host's dump, each container's dump and the VMs.

        ``containers`` and ``by_nsid`` hold discovery ContainerNs objects (keyed by
        namespace inode and by the host's nsid for them).  ``touched``: the only
        namespaces whose dumps changed since the last call, the containers, nsids,
        VMs and the containers' facts being as they were (None: not known).
        """
        if touched is not None:
            topo = self._changed(touched, host_netns, hostname, host_inode, host_state, containers, states,
                                 by_nsid, vms)
            if topo is not None:
                return topo
        return self._whole(host_netns, hostname, host_inode, host_state, containers, states, by_nsid, vms)

    def _whole(self, host_netns: Optional[str], hostname: str, host_inode: int, host_state: NsState,
               containers: Mapping[int, Any], states: Mapping[int, NsState], by_nsid: Mapping[int, Any],
               vms: list[VM]) -> Topology:
        host_ifaces, by_index = self._ends(host_inode, host_state)
        guests: dict[int, tuple[list[Interface], dict[int, Interface]]] = {}
        for inode in containers:
            st = states.get(inode)
            guests[inode] = self._ends(inode, st) if st is not None else ([], {})
        for inode in [i for i in self._base if i != host_inode and i not in containers]:
            del self._base[inode]
            self._links.pop(inode, None)
            self._addressed.pop(inode, None)
            self._pos.pop(inode, None)
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
        tap_peer: dict[int, Peer] = {}
        for vm in vms:
            for a in vm.adapters:
                tap = by_name.get(a.host_ifname or "")
                if tap is not None:
                    host_peer[tap.ifindex] = tap_peer[tap.ifindex] = Peer("vm", vm.name, adapter=a.id, mac=a.guest_mac)

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
        topo = Topology(host, out, list(vms))
        host_of_ct: dict[int, list[int]] = {}
        for h in host_ifaces:
            c = by_nsid.get(h.link_netnsid) if h.link_netnsid is not None else None
            if c is not None:
                host_of_ct.setdefault(c.ns.inode, []).append(h.ifindex)
        self._last = _Last(
            host_inode=host_inode, host_netns=host_netns, hostname=hostname, by_nsid=by_nsid, vms=vms,
            ct_keys=set(containers), host_base=host_ifaces, by_index=by_index, host_peer=host_peer,
            guest_peer=guest_peer, tap_peer=tap_peer, host_of_ct=host_of_ct, topo=topo,
            host_pos={h.ifindex: n for n, h in enumerate(host_ifaces)},
            ct_pos={inode: n for n, (inode, _) in enumerate(sorted(containers.items(),
                                                                   key=lambda kv: (kv[1].name, kv[0])))})
        return self._stamp(topo, None, set())

    # -- only what changed ----------------------------------------------------
    def _changed(self, touched: set[int], host_netns: Optional[str], hostname: str, host_inode: int,
                 host_state: NsState, containers: Mapping[int, Any], states: Mapping[int, NsState],
                 by_nsid: Mapping[int, Any], vms: list[VM]) -> Optional[Topology]:
        """The Topology ``_whole`` would make, from the last one and the ``touched`` namespaces alone;
        None where the shortcut does not apply (the caller then assembles the whole)."""
        last = self._last
        if last is None or last.host_inode != host_inode or last.host_netns != host_netns \
                or last.hostname != hostname or last.by_nsid is not by_nsid or last.vms is not vms \
                or any(i != host_inode and i not in containers for i in touched) \
                or len(containers) != len(last.ct_keys) or containers.keys() != last.ct_keys:
            return None
        base, by_index = last.host_base, last.by_index
        moved: list[Interface] = []  # host ends whose facts changed
        if host_inode in touched:
            new_base, new_by_index = self._ends(host_inode, host_state)
            if len(new_base) != len(base):
                return None
            for old, new in zip(base, new_base):
                if old is not new:
                    if old.ifindex != new.ifindex or old.ifname != new.ifname or old.kind != new.kind \
                            or old.link_netnsid != new.link_netnsid or old.link_ifindex != new.link_ifindex:
                        return None  # came, went, renamed or re-linked: the whole picture
                    moved.append(new)
            base, by_index = new_base, new_by_index
        cts: set[int] = set()  # containers to look at again
        for inode in touched:
            if inode == host_inode:
                continue
            before = self._base.get(inode)
            st = states.get(inode)
            ends, _ = self._ends(inode, st) if st is not None else ([], {})
            if before is not None and [g.ifname for g in before[1]] != [g.ifname for g in ends]:
                return None  # a guest end came, went or was renamed (its host end's Peer names it)
            cts.add(inode)
        for h in moved:
            c = by_nsid.get(h.link_netnsid) if h.link_netnsid is not None else None
            if c is not None:
                cts.add(c.ns.inode)
        repair = {h.ifindex for h in moved}
        for inode in cts:
            repair.update(last.host_of_ct.get(inode, ()))
        host_peer, guest_peer, peers = last.host_peer, last.guest_peer, self._peers
        for ifx in repair:
            h = by_index[ifx]
            was = peers.pop(ifx, None)
            if was is not None:
                guest_peer.pop((was[0][4], was[0][1].ifindex), None)
            host_peer.pop(ifx, None)
            c = by_nsid.get(h.link_netnsid) if h.link_netnsid is not None and h.link_ifindex is not None else None
            g = self._base[c.ns.inode][2].get(h.link_ifindex) if c is not None and c.ns.inode in self._base \
                else None
            if c is not None and g is not None and g.link_ifindex == h.ifindex:
                why = (h, g, c.name, c.nsname, c.ns.inode, host_netns)
                pair = was[1] if was is not None and was[0] == why else \
                    (Peer("container", c.name, c.nsname, g.ifname, g.ifindex),
                     Peer("host", None, host_netns, h.ifname, h.ifindex))
                peers[ifx] = (why, pair)
                host_peer[ifx] = pair[0]
                guest_peer[(c.ns.inode, g.ifindex)] = pair[1]
            elif h.kind == "veth" and h.link_netnsid is None and h.link_ifindex in by_index:
                other = by_index[h.link_ifindex]
                host_peer[ifx] = Peer("host", None, host_netns, other.ifname, other.ifindex)
            if ifx in last.tap_peer:
                host_peer[ifx] = last.tap_peer[ifx]

        pub = self._pub
        host_list = list(last.topo.host.interfaces)
        new_host: set[int] = set()
        for ifx in repair:
            h = by_index[ifx]
            n = last.host_pos[ifx]
            out = self._publish(pub, host_inode, h, host_peer.get(ifx))
            if out is not host_list[n]:
                host_list[n] = out
                new_host.add(ifx)
        ct_list = list(last.topo.containers)
        new_cts: set[int] = set()
        for inode in cts:
            c = containers[inode]
            ends = self._base[inode][1] if inode in self._base else []
            ps = tuple([guest_peer.get((inode, g.ifindex)) for g in ends])
            facts = (c.name, c.runtime, c.nsname, tuple(getattr(c.info, "pids", []) or []),
                     getattr(c.ns, "where", None), getattr(c, "owner", None))
            hit = self._cts.get(inode)
            if hit is not None and hit[0] is ends and hit[1] == ps and hit[2] == facts:
                continue  # the same object
            if hit is not None and hit[2] != facts:
                return None  # its facts changed behind our back: the whole picture (never expected here)
            ifaces = [self._publish(pub, inode, g, p) for g, p in zip(ends, ps)]
            ct = Container(c.name, c.runtime, NetnsRef(c.nsname, inode, list(facts[3]), facts[4]), ifaces, facts[5])
            self._cts[inode] = (ends, ps, facts, ct)
            ct_list[last.ct_pos[inode]] = ct
            new_cts.add(inode)
        topo = Topology(Host(host_netns, hostname, host_list, inode=host_inode), ct_list, list(vms))
        last.host_base, last.by_index, last.topo = base, by_index, topo
        return self._stamp(topo, new_host, new_cts)


def assemble(host_netns: Optional[str], hostname: str, host_inode: int, host_state: NsState,
             containers: Mapping[int, Any], states: Mapping[int, NsState], by_nsid: Mapping[int, Any],
             vms: list[VM]) -> Topology:
    """One-shot assembly (no reuse)."""
    return Assembler().assemble(host_netns, hostname, host_inode, host_state, containers, states, by_nsid, vms)
