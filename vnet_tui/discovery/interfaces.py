"""Turn one namespace's netlink dumps into model Interfaces."""

from __future__ import annotations

from collections import defaultdict

from vnet_tui.core.model import Counters, Interface
from vnet_tui.net import rtnl
from vnet_tui.net.namespace import NsState


def counters(values: tuple[int, ...]) -> Counters:
    """Counters from the first eight u64 of rtnl_link_stats64 (kernel order)."""
    if not values:
        return Counters()
    rxp, txp, rxb, txb, rxe, txe, rxd, txd = values[:8]
    return Counters(rxb, txb, rxp, txp, rxe, txe, rxd, txd)


def state_of(link: rtnl.LinkMsg) -> str:
    """"up"/"down"/…: the operstate, with admin-down shown as "down"."""
    if not link.flags & rtnl.IFF_UP:
        return "down"
    return link.operstate


def interfaces_from_state(st: NsState) -> list[Interface]:
    """Interfaces sorted by ifindex, with addresses, master names and counters."""
    addrs: dict[int, list[str]] = defaultdict(list)
    for a in st.addrs:
        addrs[a.ifindex].append(a.cidr)
    names = {l.ifindex: l.ifname for l in st.links}
    out = []
    for l in sorted(st.links, key=lambda l: l.ifindex):
        out.append(
            Interface(
                ifname=l.ifname,
                ifindex=l.ifindex,
                kind=l.kind,
                mac=l.mac,
                mtu=l.mtu,
                state=state_of(l),
                addresses=addrs.get(l.ifindex, []),
                master=names.get(l.master) if l.master else None,
                stats=counters(st.stats.get(l.ifindex, ())),
                alias=l.alias,
                admin_up=bool(l.flags & rtnl.IFF_UP),
                link_ifindex=l.link if l.link and (l.link != l.ifindex or l.link_netnsid is not None) else None,
                link_netnsid=l.link_netnsid,
                master_ifindex=l.master,
            )
        )
    return out
