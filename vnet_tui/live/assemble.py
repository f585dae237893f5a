"""Rebuild a Topology from cached namespace dumps, without touching the kernel.

The watcher re-dumps only the namespaces whose events said something
changed; this module pairs the ends again from those cached dumps, the
same way ``discovery.topology.Discoverer.discover`` does (IFLA_LINK +
IFLA_LINK_NETNSID, resolved through the host's nsids — never "ifindex + 1").
Counters are left zero here: live counters travel in ``Sample``s.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from vnet_tui.core.model import VM, Container, Host, Interface, NetnsRef, Peer, Topology
from vnet_tui.discovery.interfaces import interfaces_from_state
from vnet_tui.net.namespace import NsState


def _without_stats(st: NsState) -> NsState:
    return NsState(links=st.links, addrs=st.addrs)


def assemble(
    host_netns: Optional[str],
    hostname: str,
    host_inode: int,
    host_state: NsState,
    containers: Mapping[int, Any],
    states: Mapping[int, NsState],
    by_nsid: Mapping[int, Any],
    vms: list[VM],
) -> Topology:
    """A Topology from the host's dump, each container's dump and the VMs.

    ``containers`` and ``by_nsid`` hold discovery ContainerNs objects (keyed by
    namespace inode and by the host's nsid for them).
    """
    host_ifaces = interfaces_from_state(_without_stats(host_state))
    host = Host(host_netns, hostname, host_ifaces, inode=host_inode)
    by_index = {i.ifindex: i for i in host_ifaces}

    out: list[Container] = []
    guests: dict[int, dict[int, Interface]] = {}
    for inode, c in sorted(containers.items(), key=lambda kv: (kv[1].name, kv[0])):
        st = states.get(inode)
        ifaces = interfaces_from_state(_without_stats(st)) if st is not None else []
        guests[inode] = {i.ifindex: i for i in ifaces}
        pids = list(getattr(c.info, "pids", []) or [])
        ref = NetnsRef(c.nsname, inode, pids, getattr(c.ns, "where", None))
        out.append(Container(c.name, c.runtime, ref, ifaces))

    for h in host_ifaces:  # one pass over the host: by_nsid tells whose namespace each peer is in
        if h.link_netnsid is None or h.link_ifindex is None:
            continue
        c = by_nsid.get(h.link_netnsid)
        if c is not None:
            g = guests.get(c.ns.inode, {}).get(h.link_ifindex)
            if g is not None and g.link_ifindex == h.ifindex:
                h.peer = Peer("container", c.name, c.nsname, g.ifname, g.ifindex)
                g.peer = Peer("host", None, host_netns, h.ifname, h.ifindex)

    for h in host_ifaces:  # veth pairs inside the host itself
        if h.peer is None and h.kind == "veth" and h.link_netnsid is None and h.link_ifindex in by_index:
            other = by_index[h.link_ifindex]
            h.peer = Peer("host", None, host_netns, other.ifname, other.ifindex)

    by_name = {i.ifname: i for i in host_ifaces}
    for vm in vms:
        for a in vm.adapters:
            tap = by_name.get(a.host_ifname or "")
            if tap is not None:
                tap.peer = Peer("vm", vm.name, adapter=a.id, mac=a.guest_mac)
    return Topology(host, out, list(vms))
