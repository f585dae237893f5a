"""Removing an adapter removes its policy: the table vnet-tui keeps for it in nftables.

The kernel takes a port's qdiscs and bridge flags with the device, but
not its netdev chains: since Linux 6.9 a netdev base chain is bound to a
device *name* and outlives the device, dormant, and hooks again onto the
next device of that name — a new adapter reusing ``veth101.0`` would
inherit the old one's MAC filter.  So an adapter's removal plan carries
``remove(port)``'s steps (before or after the link is deleted), and
``orphans`` finds chains left by adapters removed some other way.
"""

from __future__ import annotations

from typing import Any, Optional

from . import chains, nft, nftrules
from .nlread import ifindex
from .port import Port
from .read import list_ours
from .steps import Step


def _values(chain: dict[str, Any], kind: str) -> Any:
    if kind == "mac":
        return nftrules.mac_of(chain)
    if kind == "ip":
        return nftrules.addrs_of(chain)
    return nftrules.limit_of(chain)


def remove(port: Port, listing: Any = "unread") -> list[Step]:
    """Steps deleting every chain of ``port.ifname`` in our table (the device may be gone already)."""
    if listing == "unread":
        listing = list_ours(port.fd, port.ifname)
    names = nftrules.table_chain_names(listing) or []
    out: list[Step] = []
    settings = {"mac": "mac_filter", "ip": "ip_filter", "rate": "rate_out"}
    for kind, chain in sorted(nftrules.port_chains(listing, port.ifname).items()):
        out += chains.steps(port, settings[kind], kind, None, _values(chain, kind), names)
    return out


def orphans(fd: Optional[int]) -> list[str]:
    """Ports with a table of ours in namespace ``fd`` whose device does not exist (slow: lists every table)."""
    tables = nft.run(fd, [{"list": {"tables": {"family": nftrules.FAMILY}}}])
    gone = {nftrules.table_port(t["table"]["name"]) for t in tables if "table" in t}
    return sorted(dev for dev in gone if dev and not ifindex(fd, dev))




def renamed(port: Port, new_ifname: str, listing: Any = "unread") -> list[Step]:
    """Steps that carry ``port``'s chains over to its new name, to run right after the link is renamed.

    Netdev chains are bound to a device *name* (Linux ≥ 6.9): renaming a
    host end unhooks its filters and rate-out (the old table stays, and
    would hook onto the next device given the old name).  One transaction
    makes the new port's table and deletes the old one; its inverse does
    the opposite.  [] when the port has no table.
    """
    if listing == "unread":
        listing = list_ours(port.fd, port.ifname)
    have = nftrules.port_chains(listing, port.ifname)
    if not have:
        return []
    old, new = port.ifname, new_ifname

    def move(src: str, dst: str) -> list[dict[str, Any]]:
        cmds: list[dict[str, Any]] = []
        for kind, chain in sorted(have.items()):
            cmds += nftrules.set_chain(kind, dst, _values(chain, kind))
        return cmds + [{"delete": {"table": {"family": nftrules.FAMILY, "name": nftrules.table_name(src)}}}]

    def text(src: str, dst: str) -> str:
        parts = [nftrules.text_set(kind, dst, _values(chain, kind)) for kind, chain in sorted(have.items())]
        return port.cmd("nft", "; ".join(parts + [f"delete table {nftrules.FAMILY} {nftrules.table_name(src)}"]))

    def run(src: str, dst: str) -> Any:
        cmds = move(src, dst)

        def act(p: Port) -> None:
            p.change(f"nft move {src} -> {dst}", lambda: p.nft(cmds), netlink=False)
        return act

    return [Step("+".join(sorted(have)), text(old, new), run(old, new), run(new, old), text(new, old),
                 nft=(move(old, new), move(new, old)))]
