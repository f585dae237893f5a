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
qdisc was made.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Optional

from vnet_tui.core.errors import NotFound

from . import nft, nftrules, probe
from .nlread import TC_H_INGRESS, TC_H_ROOT, Reader, tc_options
from .port import Port

OUR_HANDLE = 0x5654  # "VT": root qdiscs vnet-tui makes carry handle 5654:
IFF_UP = 0x1
BR_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
PSCHED_TICK_NS = 64  # PSCHED_SHIFT = 6: a tc "tick" is 64 ns since Linux 2.6.31
MIRRED = {1: ("egress", "redirect"), 2: ("egress", "mirror"), 3: ("ingress", "redirect"), 4: ("ingress", "mirror")}


def handle_text(h: int) -> str:
    maj, minor = h >> 16, h & 0xFFFF
    return f"{maj:x}:" if not minor else f"{maj:x}:{minor:x}"


def _burst(rate_bytes: int, ticks: int) -> int:
    # up, not down: the kernel keeps the burst as time (rounded down to a 64 ns tick), so a burst read
    # back this way and set again gives the same ticks, and reads the same
    return -(-rate_bytes * ticks * PSCHED_TICK_NS // 1_000_000_000)


def _stats(msg: Any) -> dict[str, int]:
    out = {"bytes": 0, "packets": 0, "drops": 0, "overlimits": 0, "backlog": 0}
    st = msg.get_attr("TCA_STATS2")
    if st is not None:
        b = st.get_attr("TCA_STATS_BASIC") or {}
        q = st.get_attr("TCA_STATS_QUEUE") or {}
        out.update(bytes=b.get("bytes", 0), packets=b.get("packets", 0), drops=q.get("drops", 0),
                   overlimits=q.get("overlimits", 0), backlog=q.get("backlog", 0))
    return out


def _tbf(q: Any) -> Optional[dict[str, Any]]:
    opts = tc_options(q)
    if 1 not in opts or len(opts[1]) < 36:
        return None
    rate32 = struct.unpack_from("=I", opts[1], 8)[0]
    limit, ticks = struct.unpack_from("=II", opts[1], 24)
    rate = struct.unpack("=Q", opts[4][:8])[0] if len(opts.get(4, b"")) >= 8 else rate32  # TCA_TBF_RATE64
    return {"rate_bps": int(rate) * 8, "burst_bytes": _burst(int(rate), ticks), "limit_bytes": limit,
            "kernel": {"rate_bytes": int(rate), "buffer_ticks": ticks, "limit_bytes": limit}}


def _htb_classes(rd: Reader, index: int) -> list[dict[str, Any]]:
    out = []
    for c in rd.classes(index):
        if c.get_attr("TCA_KIND") != "htb":
            continue
        opts = c.get_attr("TCA_OPTIONS")
        p = opts.get_attr("TCA_HTB_PARMS") if opts is not None else None
        if not p:
            continue
        rate = opts.get_attr("TCA_HTB_RATE64") or p["rate"]
        ceil = opts.get_attr("TCA_HTB_CEIL64") or p["ceil"]
        st = _stats(c)
        out.append({"classid": handle_text(c["handle"]), "rate_bps": int(rate) * 8, "ceil_bps": int(ceil) * 8,
                    "burst_bytes": _burst(int(rate), p["buffer"]), "bytes": st["bytes"], "packets": st["packets"],
                    "drops": st["drops"], "overlimits": st["overlimits"]})
    return out


def _root(rd: Reader, index: int) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
    q = rd.qdisc(index, TC_H_ROOT)
    if q is None:
        return {"kind": None, "handle": None, "ours": False, "default": True}, None
    kind = q.get_attr("TCA_KIND")
    h = q["handle"]
    ours = (h >> 16) == OUR_HANDLE and kind == "tbf"
    root = {"kind": kind, "handle": handle_text(h), "ours": ours, "default": h == 0}
    st = _stats(q)
    if kind == "tbf":
        p = _tbf(q)
        if p:
            return root, {"mechanism": "tbf", "ours": ours, **p, **st, "classes": []}
    if kind == "htb":
        classes = _htb_classes(rd, index)
        top = classes[0] if classes else {"rate_bps": 0, "burst_bytes": 0}
        return root, {"mechanism": "htb", "ours": False, "rate_bps": top["rate_bps"],
                      "burst_bytes": top["burst_bytes"], "limit_bytes": None, **st, "classes": classes}
    return root, None


def _actions(rd: Reader, f: Any) -> list[dict[str, Any]]:
    opts = f.get_attr("TCA_OPTIONS")
    if opts is None:
        return []
    acts = None
    for name in ("TCA_U32_ACT", "TCA_BPF_ACT", "TCA_MATCHALL_ACT", "TCA_FLOWER_ACT"):
        try:
            acts = opts.get_attr(name)
        except Exception:
            acts = None
        if acts is not None:
            break
    out: list[dict[str, Any]] = []
    for _name, act in (acts["attrs"] if acts is not None else []):
        kind = act.get_attr("TCA_ACT_KIND")
        item: dict[str, Any] = {"kind": kind}
        st = act.get_attr("TCA_ACT_STATS")
        if st is not None:
            b = st.get_attr("TCA_STATS_BASIC") or {}
            item.update(packets=b.get("packets", 0), bytes=b.get("bytes", 0))
        ao = act.get_attr("TCA_ACT_OPTIONS")
        if kind == "mirred" and ao is not None:
            p = ao.get_attr("TCA_MIRRED_PARMS") or {}
            direction, what = MIRRED.get(p.get("eaction", 0), ("?", "?"))
            item.update(action=what, direction=direction, to=rd.ifname(p.get("ifindex", 0)),
                        to_ifindex=p.get("ifindex"))
        out.append(item)
    return out


def _ingress(rd: Reader, index: int) -> tuple[Optional[dict[str, Any]], Optional[dict[str, Any]]]:
    """The ingress qdisc with its filters, and a rate-out found behind an ifb redirect."""
    q = rd.qdisc(index, TC_H_INGRESS)
    if q is None:
        return None, None
    filters = []
    shaped: Optional[dict[str, Any]] = None
    for f in rd.filters(index, 0xFFFF0000):
        opts = f.get_attr("TCA_OPTIONS")
        if not opts or (f.get_attr("TCA_KIND") == "u32" and not opts.get_attr("TCA_U32_SEL")):
            continue  # the per-priority header message, u32's hash table itself
        acts = _actions(rd, f)
        filters.append({"kind": f.get_attr("TCA_KIND"), "pref": f["info"] >> 16, "handle": f"{f['handle']:x}",
                        "actions": acts})
        for a in acts:
            if a.get("kind") == "mirred" and a.get("action") == "redirect" and a.get("to_ifindex") and shaped is None:
                _r, rate = _root(rd, a["to_ifindex"])
                if rate is not None:
                    shaped = {"mechanism": "ifb", "ours": False, "via": a["to"], "rate_bps": rate["rate_bps"],
                              "burst_bytes": rate["burst_bytes"], "drops": rate["drops"],
                              "overlimits": rate["overlimits"]}
    return {"handle": handle_text(q["handle"]), "filters": filters}, shaped


BRPORT = {"state": 1, "hairpin": 4, "learning": 8, "unicast_flood": 9, "mcast_flood": 27, "bcast_flood": 30,
          "isolated": 33, "locked": 39}  # IFLA_BRPORT_* numbers (linux/if_link.h)
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
    out: dict[str, dict[str, Any]] = {}
    names = list(ifnames)
    if not names:
        return out
    with Port(where, names[0]) as first:
        fd = first.fd
        label = first.label
        tables = our_tables(fd)
        rd = Reader(fd)
        try:
            for name in names:
                with Port(fd, name, label=label) as port:
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


SETTINGS_KEYS = ("cable", "rate_in", "rate_out", "mac_filter", "ip_filter", "isolated")


def settings(policy: dict[str, Any]) -> dict[str, Any]:
    """The settable part of a read, without counters: what undo returns to, and what tests compare."""
    ri, ro = policy["rate_in"], policy["rate_out"]
    bp = policy["bridge_port"]
    return {
        "cable": policy["link"]["admin_up"] if policy["link"]["cable"] is not None else None,  # veth only
        "rate_in": {"rate_bps": ri["rate_bps"], "burst_bytes": ri["burst_bytes"], "ours": ri["ours"],
                    "mechanism": ri["mechanism"]} if ri else None,
        "rate_out": {"rate_bps": ro["rate_bps"], "burst_bytes": ro["burst_bytes"], "ours": ro["ours"],
                     "mechanism": ro["mechanism"]} if ro else None,
        "mac_filter": policy["mac_filter"]["mac"] if policy["mac_filter"] else None,
        "ip_filter": policy["ip_filter"]["addrs"] if policy["ip_filter"] else None,
        "isolated": {"isolated": bp["isolated"], "unicast_flood": bp["unicast_flood"]} if bp else None,
        "root_qdisc": {k: policy["root_qdisc"][k] for k in ("kind", "handle")},
        "ingress": policy["ingress"] is not None,
        "nft_chains": sorted(policy["nft"]["chains"].values()),
    }


def _rate_text(bps: int) -> str:
    for unit, n in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= n and bps % (n // 1000 or 1) == 0:
            v = bps / n
            return f"{v:.12g}{unit}"
    return f"{bps}bit"


def summary(policy: dict[str, Any]) -> list[str]:
    """Short words for a table cell or the detail view: what is set on the port, and drops where there are any."""
    out: list[str] = []
    if policy["link"]["cable"] == "unplugged":
        out.append("cable unplugged")
    ri, ro = policy["rate_in"], policy["rate_out"]
    if ri:
        mark = "" if ri["ours"] else f" ({ri['mechanism']}, not ours)"
        out.append(f"rate-in {_rate_text(ri['rate_bps'])}{mark}" + (f" dropped {ri['drops']}" if ri["drops"] else ""))
    if ro:
        drops = ro.get("dropped_packets", ro.get("drops", 0))
        mark = "" if ro["ours"] else f" (via {ro.get('via')}, not ours)"
        out.append(f"rate-out {_rate_text(ro['rate_bps'])}{mark}" + (f" dropped {drops}" if drops else ""))
    for key, word in (("mac_filter", "mac-filter"), ("ip_filter", "ip-filter")):
        f = policy[key]
        if f:
            n = sum(c["packets"] for c in f["dropped"].values())
            out.append(word + (f" dropped {n}" if n else ""))
    bp = policy["bridge_port"]
    if bp and bp["isolated"]:
        out.append("isolated")
    if bp and not bp["unicast_flood"]:
        out.append("no-flood")
    if policy["vlans"]:
        pv = [v["vid"] for v in policy["vlans"] if v["pvid"]]
        tagged = [v["vid"] for v in policy["vlans"] if not v["untagged"]]
        out.append("vlan " + ",".join(map(str, pv)) + (" trunk " + ",".join(map(str, tagged)) if tagged else ""))
    return out
