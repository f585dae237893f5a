"""vnet-tui's own nftables table and the per-port chains in it: names, rules (JSON and text), parsing.

One table per port, ``table netdev vnet_tui_<ifname>`` in the host end's
namespace, holds base chains hooked to the *ingress* of that host end
(netdev family: the hook belongs to that device alone, so nothing reaches
any other port, and it works whether the port is bridged or routed).  A
table per port, not one for all: libnftables fetches a table whole before
it lists it, so with one shared table reading one port's policy cost as
much as every port's (80 ms with 150 ports under policy, here); a port's
own table lists in about a millisecond however many others there are.
Changes still cost more as the namespace's ruleset grows: libnftables
1.0.6 fetches the whole ruleset before an ``add chain``/``add rule``
(~100 ms with 150 ports under policy on this loaded machine; 0.2 ms for
an ``add table`` or ``flush``).

==================  ========  ==========================================
chain               priority  what it drops (each rule counts its drops)
==================  ========  ==========================================
``mac_<ifname>``    -300      source MAC ≠ the adapter's (``mac``); ARP sender MAC ≠ it (``arp-mac``)
``ip_<ifname>``     -200      VLAN-tagged frames (``vlan-tagged``); IPv4 source outside the
                              adapter's addresses (``ipv4``); ARP sender IP outside them
                              (``arp-ip``); IPv6 source outside them and link-local
                              (``ipv6``); neighbour advertisements for a target outside
                              them (``nd-target``)
``rate_<ifname>``   -100      what the guest sends above the rate (``rate-out``: nft ``limit
                              rate over … bytes/second burst … bytes``, a policer)
==================  ========  ==========================================

Always allowed by the IP filter: ``0.0.0.0`` (DHCP, ARP probes), ``::``
(DAD) and ``fe80::/10`` (link-local, which a guest makes itself).  The
rule's comment is its key when reading back.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

FAMILY = "netdev"
TABLE = "vnet_tui"  # the prefix: vnet_tui_<ifname>
PRIO = {"mac": -300, "ip": -200, "rate": -100}
ALWAYS_V4 = ["0.0.0.0"]
ALWAYS_V6 = ["::", "fe80::/10"]


def table_name(ifname: str) -> str:
    return f"{TABLE}_{ifname}"


def table_port(name: str) -> str:
    """``vnet_tui_veth101.0`` → ``veth101.0`` ("" when not one of ours)."""
    return name[len(TABLE) + 1:] if name.startswith(TABLE + "_") else ""


def chain_name(kind: str, ifname: str) -> str:
    return f"{kind}_{ifname}"


def split_chain(name: str) -> tuple[str, str]:
    """``mac_veth101.0`` → ("mac", "veth101.0"); ("", "") when not one of ours."""
    kind, sep, ifname = name.partition("_")
    return (kind, ifname) if sep and kind in PRIO else ("", "")


# -- JSON pieces ---------------------------------------------------------------------------
def _pl(proto: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": field}}


def _match(left: Any, op: str, right: Any) -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _set(items: list[Any]) -> Any:
    return {"set": items}


def _drop(chain: str, comment: str, *matches: dict[str, Any]) -> dict[str, Any]:
    expr = list(matches) + [{"counter": {"packets": 0, "bytes": 0}}, {"drop": None}]
    ifname = split_chain(chain)[1]
    return {"add": {"rule": {"family": FAMILY, "table": table_name(ifname), "chain": chain, "expr": expr,
                             "comment": comment}}}


def _v6_elem(net: str) -> Any:
    if "/" in net:
        n = ipaddress.IPv6Network(net)
        return {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
    return net


def _v4_elem(net: str) -> Any:
    if "/" in net:
        n = ipaddress.IPv4Network(net)
        return {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
    return net


def _v6_int(net: str) -> Any:
    n = ipaddress.IPv6Network(net if "/" in net else net + "/128")
    lo, hi = int(n.network_address), int(n.broadcast_address)
    return hex(lo) if lo == hi else {"range": [hex(lo), hex(hi)]}


def split_families(addrs: list[str]) -> tuple[list[str], list[str]]:
    v4 = [a for a in addrs if ":" not in a]
    v6 = [a for a in addrs if ":" in a]
    return v4, v6


def rules(kind: str, ifname: str, value: Any) -> list[dict[str, Any]]:
    """The rules of chain ``kind`` for ``value`` (a MAC, an address list, or (bytes/s, burst bytes))."""
    c = chain_name(kind, ifname)
    if kind == "mac":
        return [_drop(c, "mac", _match(_pl("ether", "saddr"), "!=", value)),
                _drop(c, "arp-mac", _match(_pl("arp", "saddr ether"), "!=", value))]
    if kind == "ip":
        v4, v6 = split_families(list(value))
        v4s = ALWAYS_V4 + v4
        v6s = ALWAYS_V6 + v6
        return [
            _drop(c, "vlan-tagged", _match(_pl("ether", "type"), "==", _set(["8021q", "8021ad"]))),
            _drop(c, "ipv4", _match(_pl("ip", "saddr"), "!=", _set([_v4_elem(a) for a in v4s]))),
            _drop(c, "arp-ip", _match(_pl("arp", "saddr ip"), "!=", _set([_v4_elem(a) for a in v4s]))),
            _drop(c, "ipv6", _match(_pl("ip6", "saddr"), "!=", _set([_v6_elem(a) for a in v6s]))),
            _drop(c, "nd-target",
                  _match(_pl("icmpv6", "type"), "==", "nd-neighbor-advert"),
                  _match({"payload": {"base": "th", "offset": 64, "len": 128}}, "!=",
                         _set([_v6_int(a) for a in ["fe80::/10"] + v6]))),
        ]
    if kind == "rate":
        rate_bytes, burst = value
        return [{"add": {"rule": {"family": FAMILY, "table": table_name(ifname), "chain": c, "comment": "rate-out", "expr": [
            {"limit": {"rate": rate_bytes, "per": "second", "rate_unit": "bytes", "burst": burst,
                       "burst_unit": "bytes", "inv": True}},
            {"counter": {"packets": 0, "bytes": 0}}, {"drop": None}]}}}]
    raise ValueError(kind)


def set_chain(kind: str, ifname: str, value: Any) -> list[dict[str, Any]]:
    """One transaction: the table (if missing), the hooked chain (if missing), emptied, filled."""
    c, t = chain_name(kind, ifname), table_name(ifname)
    return [
        {"add": {"table": {"family": FAMILY, "name": t}}},
        {"add": {"chain": {"family": FAMILY, "table": t, "name": c, "type": "filter", "hook": "ingress",
                           "dev": ifname, "prio": PRIO[kind], "policy": "accept"}}},
        {"flush": {"chain": {"family": FAMILY, "table": t, "name": c}}},
    ] + rules(kind, ifname, value)


def delete_chain(kind: str, ifname: str, table_chains: Optional[list[str]]) -> list[dict[str, Any]]:
    """Delete the chain; the port's whole table when it was its last chain (``table_chains``: its chains now)."""
    c, t = chain_name(kind, ifname), table_name(ifname)
    if table_chains is not None and set(table_chains) <= {c}:
        return [{"delete": {"table": {"family": FAMILY, "name": t}}}]
    return [{"delete": {"chain": {"family": FAMILY, "table": t, "name": c}}}]


# -- the same as nft(8) text, for --dry-run and the journal --------------------------------------
def _t(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def text_rules(kind: str, ifname: str, value: Any) -> list[str]:
    c = f"{FAMILY} {table_name(ifname)} {chain_name(kind, ifname)}"
    if kind == "mac":
        return [f'add rule {c} ether saddr != {value} counter drop comment "mac"',
                f'add rule {c} arp saddr ether != {value} counter drop comment "arp-mac"']
    if kind == "ip":
        v4, v6 = split_families(list(value))
        v4s, v6s = ALWAYS_V4 + v4, ALWAYS_V6 + v6
        ints = []
        for a in ["fe80::/10"] + v6:
            e = _v6_int(a)
            ints.append(e if isinstance(e, str) else f"{e['range'][0]}-{e['range'][1]}")
        return [
            f'add rule {c} ether type {{ 8021q, 8021ad }} counter drop comment "vlan-tagged"',
            f'add rule {c} ip saddr != {_t(v4s)} counter drop comment "ipv4"',
            f'add rule {c} arp saddr ip != {_t(v4s)} counter drop comment "arp-ip"',
            f'add rule {c} ip6 saddr != {_t(v6s)} counter drop comment "ipv6"',
            f'add rule {c} icmpv6 type nd-neighbor-advert @th,64,128 != {_t(ints)} counter drop comment "nd-target"',
        ]
    if kind == "rate":
        rate_bytes, burst = value
        return [f'add rule {c} limit rate over {rate_bytes} bytes/second burst {burst} bytes counter drop '
                'comment "rate-out"']
    raise ValueError(kind)


def text_set(kind: str, ifname: str, value: Any) -> str:
    c, t = chain_name(kind, ifname), table_name(ifname)
    return "; ".join([
        f"add table {FAMILY} {t}",
        f'add chain {FAMILY} {t} {c} {{ type filter hook ingress device "{ifname}" priority {PRIO[kind]}; '
        "policy accept; }",
        f"flush chain {FAMILY} {t} {c}",
    ] + text_rules(kind, ifname, value))


def text_delete(kind: str, ifname: str, last: bool) -> str:
    if last:
        return f"delete table {FAMILY} {table_name(ifname)}"
    return f"delete chain {FAMILY} {table_name(ifname)} {chain_name(kind, ifname)}"


# -- reading back --------------------------------------------------------------------------------
def port_chains(listing: Optional[list[dict[str, Any]]], ifname: str) -> dict[str, dict[str, Any]]:
    """From ``list table`` output: this port's chains → {"prio", "hook", "rules": [{comment, expr, handle}]}."""
    out: dict[str, dict[str, Any]] = {}
    table = table_name(ifname)
    for item in listing or []:
        ch = item.get("chain")
        if ch and ch.get("table") == table:
            kind, dev = split_chain(ch.get("name", ""))
            if kind and dev == ifname:
                out[kind] = {"name": ch["name"], "prio": ch.get("prio"), "hook": ch.get("hook"), "rules": []}
    for item in listing or []:
        r = item.get("rule")
        if r and r.get("table") == table:
            kind, dev = split_chain(r.get("chain", ""))
            if kind in out and dev == ifname:
                out[kind]["rules"].append(r)
    return out


def table_chain_names(listing: Optional[list[dict[str, Any]]]) -> Optional[list[str]]:
    if listing is None:
        return None
    return [i["chain"]["name"] for i in listing if "chain" in i]


def counter_of(rule: dict[str, Any]) -> dict[str, int]:
    for e in rule.get("expr", []):
        if "counter" in e and isinstance(e["counter"], dict):
            return {"packets": int(e["counter"].get("packets", 0)), "bytes": int(e["counter"].get("bytes", 0))}
    return {"packets": 0, "bytes": 0}


def _right(rule: dict[str, Any]) -> Any:
    for e in rule.get("expr", []):
        if "match" in e:
            return e["match"]["right"]
    return None


def _set_items(right: Any) -> list[str]:
    items = right.get("set", []) if isinstance(right, dict) else [right]
    out = []
    for x in items:
        if isinstance(x, dict) and "prefix" in x:
            out.append(f"{x['prefix']['addr']}/{x['prefix']['len']}")
        elif isinstance(x, str):
            out.append(x)
    return out


def mac_of(chain: dict[str, Any]) -> Optional[str]:
    for r in chain["rules"]:
        if r.get("comment") == "mac":
            v = _right(r)
            return v if isinstance(v, str) else None
    return None


def addrs_of(chain: dict[str, Any]) -> list[str]:
    got: list[str] = []
    for r in chain["rules"]:
        if r.get("comment") in ("ipv4", "ipv6"):
            got += [a for a in _set_items(_right(r)) if a not in ALWAYS_V4 + ALWAYS_V6]
    return sorted(set(got), key=lambda s: (":" in s, ipaddress.ip_network(s, strict=False)))


def limit_of(chain: dict[str, Any]) -> Optional[tuple[int, int]]:
    """(bytes per second, burst bytes) of the ``rate-out`` rule."""
    for r in chain["rules"]:
        for e in r.get("expr", []):
            lim = e.get("limit") if isinstance(e, dict) else None
            if lim and lim.get("rate_unit", "packets") == "bytes":
                mult = {"second": 1, "minute": 1 / 60, "hour": 1 / 3600, "day": 1 / 86400}.get(lim.get("per"), 1)
                unit = {"bytes": 1, "kbytes": 1024, "mbytes": 1 << 20}
                rate = int(lim["rate"] * unit.get(lim.get("rate_unit", "bytes"), 1) * mult)
                burst = int(lim.get("burst", 0) * unit.get(lim.get("burst_unit", "bytes"), 1))
                return rate, burst
    return None
