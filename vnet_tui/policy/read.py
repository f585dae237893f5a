"""An adapter's policy as the kernel has it now, whoever set it (vnet-tui, Incus, libvirt, an operator).

``read(port)`` returns a JSON-able dict; ``read_many`` reads several host
ends of one namespace over one socket.  Cost per port: four or five
netlink requests naming the port (link, parsed here; root and ingress
qdiscs; ingress filters when there is an ingress qdisc; classes when the
root is classful) and one ``list table`` of the port's own nftables table
— about a millisecond (0.2 ms without a table), the same with 150 other
ports under policy in the namespace (measured; one shared table made it
55 ms there).

Shape (every key always present; ``None`` where there is nothing)::

    {
      "ifname": "veth101.0", "ifindex": 7, "kind": "veth",
      "link": {"admin_up": true, "carrier": true, "operstate": "up",
               "cable": "plugged" | "unplugged" | null},      # veth: the host end's admin state is the
                                                              # guest's carrier; tap: only QMP knows (null)
      "bridge_port": null | {"master": "br0", "state": "forwarding", "isolated": false,
                             "unicast_flood": true, "mcast_flood": true, "bcast_flood": true,
                             "learning": true, "hairpin": false, "locked": false,
                             "vlan_filtering": false | true | null},   # null: the kernel has none
      "vlans": null | [{"vid": 10, "pvid": true, "untagged": true}],
      "root_qdisc": {"kind": "noqueue", "handle": "0:", "ours": false, "default": true},
      "rate_in": null | {"mechanism": "tbf" | "htb", "ours": bool, "rate_bps": int, "burst_bytes": int,
                         "limit_bytes": int | null, "bytes": int, "packets": int, "drops": int,
                         "overlimits": int, "backlog": int,
                         "kernel": {"rate_bytes", "buffer_ticks", "limit_bytes"},   # tbf: as the kernel keeps it
                         "classes": [ {"classid": "1:1", "rate_bps", "ceil_bps", "burst_bytes", "bytes",
                                       "packets", "drops", "overlimits"} ]},        # htb only
      "ingress": null | {"handle": "ffff:", "filters": [{"kind": "u32", "pref": 49152, "handle": "800::800",
                          "actions": [{"kind": "mirred", "action": "redirect" | "mirror",
                                       "direction": "egress" | "ingress", "to": "ifb0",
                                       "packets": int, "bytes": int}]}]},
      "rate_out": null | {"mechanism": "nft-limit", "ours": true, "rate_bps", "burst_bytes",
                          "dropped_packets", "dropped_bytes"}
                       | {"mechanism": "ifb", "ours": false, "via": "ifb0", "rate_bps", "burst_bytes",
                          "drops", "overlimits"},                 # ingress redirected to a shaped ifb
      "mac_filter": null | {"mac": "c4:37:72:…", "dropped": {"mac": {"packets", "bytes"}, "arp-mac": {…}}},
      "ip_filter": null | {"addrs": ["198.18.1.2", "fd00::2"], "dropped": {"vlan-tagged": {…}, "ipv4": {…},
                           "arp-ip": {…}, "ipv6": {…}, "nd-target": {…}}},
      "nft": {"table": "netdev vnet_tui_veth101.0", "chains": {"mac": "mac_veth101.0", …}}  # this port's
    }

Rates are bits per second, bursts bytes; counters are since the rule or
qdisc was made.  tc is read in ``tcread``; ``settings`` and ``summary``
(what a read comes to) are ``words``' and importable from here.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from vnet_tui.core.errors import NotFound

from . import nft, nftrules, probe
from .nlread import BRPORT, Reader
from .port import Port
from .tcread import OUR_HANDLE, _ingress, _root, handle_text
from .words import SETTINGS_KEYS, settings, summary

__all__ = ["OUR_HANDLE", "SETTINGS_KEYS", "handle_text", "list_ours", "our_tables", "read", "read_adapter_ports",
           "read_many", "settings", "summary"]

IFF_UP = 0x1
BR_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


BRPORT_DEFAULT = {"learning": 1, "unicast_flood": 1, "mcast_flood": 1, "bcast_flood": 1}


def _bridge_port(rd: Reader, link: dict[str, Any]) -> Optional[dict[str, Any]]:
    if link["slave_kind"] != "bridge":
        return None
    bp = link["brport"]
    g = (lambda k: bp.get(BRPORT[k], BRPORT_DEFAULT.get(k, 0)))
    master, vf = None, None
    if link["master"]:
        cache = rd.__dict__.setdefault("_masters", {})  # a bridge is read once per Reader
        if link["master"] not in cache:
            m = rd.link_facts(link["master"])
            cache[link["master"]] = (m["ifname"], m["br_vlan_filtering"]) if m else (None, None)
        master, vf = cache[link["master"]]
    return {"master": master, "state": BR_STATES.get(g("state"), "?"),
            "isolated": bool(g("isolated")), "unicast_flood": bool(g("unicast_flood")),
            "mcast_flood": bool(g("mcast_flood")), "bcast_flood": bool(g("bcast_flood")),
            "learning": bool(g("learning")), "hairpin": bool(g("hairpin")),
            "locked": bool(g("locked")), "vlan_filtering": vf}


def _vlans(port: Port, bp: Optional[dict[str, Any]]) -> Optional[list[dict[str, Any]]]:
    if bp is None or not bp.get("vlan_filtering") or not probe.has("bridge-vlan-filtering"):
        return None
    from . import vlan  # a real cycle: vlan reads the port through this module

    return vlan.read(port)


def read(port: Port, listing: Any = "unread", reader: Optional[Reader] = None) -> dict[str, Any]:
    """The policy of ``port`` as the kernel has it.  ``listing``: the port's table as ``list_ours`` gave it
    (unread: list it here)."""
    rd = reader or Reader(port.fd)
    try:
        return _read(port, rd, listing)
    finally:
        if reader is None:
            rd.close()


def _read(port: Port, rd: Reader, listing: Any) -> dict[str, Any]:
    index = port.index
    link = rd.link_facts(index)
    if link is None:
        raise NotFound(f"{port.ifname} disappeared", rule="interface")
    kind = link["kind"]
    admin = bool(link["flags"] & IFF_UP)
    cable = ("plugged" if admin else "unplugged") if kind == "veth" else None
    bp = _bridge_port(rd, link)
    root, rate_in = _root(rd, index)
    ingress, shaped = _ingress(rd, index)
    if listing == "unread":
        listing = list_ours(port.fd, port.ifname)
    chains = nftrules.port_chains(listing, port.ifname)
    rate_out: Optional[dict[str, Any]] = None
    if "rate" in chains:
        lim = nftrules.limit_of(chains["rate"])
        c = nftrules.counter_of(chains["rate"]["rules"][0]) if chains["rate"]["rules"] else {"packets": 0, "bytes": 0}
        if lim:
            rate_out = {"mechanism": "nft-limit", "ours": True, "rate_bps": lim[0] * 8, "burst_bytes": lim[1],
                        "dropped_packets": c["packets"], "dropped_bytes": c["bytes"]}
    if rate_out is None:
        rate_out = shaped

    def dropped(kind_: str) -> dict[str, dict[str, int]]:
        return {r.get("comment", "?"): nftrules.counter_of(r) for r in chains[kind_]["rules"]}

    mac_filter = {"mac": nftrules.mac_of(chains["mac"]), "dropped": dropped("mac")} if "mac" in chains else None
    ip_filter = {"addrs": nftrules.addrs_of(chains["ip"]), "dropped": dropped("ip")} if "ip" in chains else None
    return {
        "ifname": port.ifname, "ifindex": index, "kind": kind,
        "link": {"admin_up": admin, "carrier": bool(link["carrier"]), "operstate": link["operstate"],
                 "cable": cable},
        "bridge_port": bp, "vlans": _vlans(port, bp),
        "root_qdisc": root, "rate_in": rate_in, "ingress": ingress, "rate_out": rate_out,
        "mac_filter": mac_filter, "ip_filter": ip_filter,
        "nft": {"table": f"{nftrules.FAMILY} {nftrules.table_name(port.ifname)}", "chains": {k: v["name"] for k, v in chains.items()}},
    }


def list_ours(fd: Optional[int], ifname: str) -> Optional[list[dict[str, Any]]]:
    """Port ``ifname``'s table in namespace ``fd`` (None: there is none, or nftables is not there at all)."""
    if not nft.available():
        return None
    return nft.list_table(fd, nftrules.FAMILY, nftrules.table_name(ifname))


def read_many(where: Any, ifnames: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``read`` for several host ends of one namespace: one namespace fd, one netlink socket, one
    ``list tables`` — a port without a table of ours costs no nftables call (show at 1,000 ports)."""
    names = list(ifnames)
    return _read_ports(where, names) if names else {}


def read_adapter_ports(where: Any, links: Optional[dict[int, bytes]] = None) -> dict[str, dict[str, Any]]:
    """``read_many`` for every link of the namespace that may be an adapter's host end (``Reader.adapter_ends``):
    what ``show`` asks while it is still finding out which ones are (core/forked.py).  ``links``: the
    namespace's link messages the caller dumped already (``Reader.prefetch``)."""
    return _read_ports(where, None, links)


def _read_ports(where: Any, names: Optional[list[str]],
                links: Optional[dict[int, bytes]] = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with Port(where, names[0] if names else "") as first:
        fd = first.fd
        label = first.label
        tables = our_tables(fd)
        rd = Reader(fd)
        try:
            if names is None or len(names) > 1:
                rd.prefetch(links)  # one link and one qdisc dump for every port, not three gets each
            for name in rd.adapter_ends() if names is None else names:
                with Port(fd, name, label=label, index=rd.index_of(name)) as port:
                    listing: Any = "unread"
                    if tables is not None and nftrules.table_name(name) not in tables:
                        listing = None
                    out[name] = read(port, listing, rd)
        finally:
            rd.close()
    return out


def our_tables(fd: Optional[int]) -> Optional[set[str]]:
    """The names of the netdev tables in namespace ``fd`` (None: nftables cannot be asked)."""
    if not nft.available():
        return None
    try:
        got = nft.run(fd, [{"list": {"tables": {"family": nftrules.FAMILY}}}])
    except nft.NftError:
        return None
    return {i["table"]["name"] for i in got if "table" in i}
