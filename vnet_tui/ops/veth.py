"""Container adapters (veth): add atomically, delete, and re-create from a snapshot.

Adding follows SAFETY.md: one RTM_NEWLINK makes the host end and puts the
peer straight into the container's namespace under a temporary name,
MACs and MTU in the same message; the host end is tagged half-made; then
rename, addresses, up, bridge or routes; re-read and compare; clear the
tag.  On any failure the host end we made (by ifindex, never by name
alone) is deleted, which deletes the pair, and we check nothing is left.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from vnet_tui.core.errors import NotFound
from vnet_tui.core.model import Container
from vnet_tui.net.change import ip_command

from . import macs, names, validate
from .converge import converge
from .endstate import EndSnapshot, differences, read_end, wait_dad
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan
from .requests import AddRequest


def plan_add(facts: ServerFacts, labels: dict[str, Optional[str]], ct: Container, req: AddRequest) -> Plan:
    """Validate an add request against the topology and plan it (no kernel call)."""
    warnings: list[str] = []
    guest_names = {i.ifname for i in ct.interfaces}
    guest = validate.ifname(req.ifname, "guest interface name") if req.ifname else names.next_eth(guest_names)
    validate.ifname_free(guest, guest_names, ct.name)
    host_names = facts.host_names()
    host = (
        validate.ifname(req.host_ifname, "host interface name")
        if req.host_ifname
        else names.veth_host_name(ct.name, guest, host_names)
    )
    validate.ifname_free(host, host_names, "the host namespace")
    taken = facts.macs()
    gmac = macs.guest_mac(taken) if req.mac in (None, "", "auto") else validate.mac(req.mac, taken, warnings)
    taken_plus = {**taken, gmac: f"the new guest end {guest}"}
    hmac = (
        macs.host_mac(taken_plus)
        if req.host_mac in (None, "", "auto")
        else validate.mac(req.host_mac, taken_plus, warnings)
    )
    ips = validate.ips_to_add(req.ips, [], facts.address_book(), warnings, ns=ct.name)
    validate.placement(req.bridge, req.routed, ips)
    mtu = validate.mtu(req.mtu if req.mtu is not None else 1500, "veth", any(":" in a for a in ips), warnings)
    plan = Plan("add", ct.name, f"add {guest} to {ct.name}", warnings=warnings)
    if req.bridge:
        br = facts.bridge(req.bridge)
        if br.mac and macs.mac_key(hmac) < macs.mac_key(br.mac):
            warnings.append(
                f"host MAC {hmac} is lower than {br.ifname}'s {br.mac}: the bridge may take it "
                "as its own MAC [bridge-mac]"
            )
            plan.touched.append((HOST, br.ifname))
    g = EndSnapshot(guest, "veth", gmac, mtu, True, sorted(ips))
    routes = [
        {
            "dst": str(ipaddress.ip_interface(a).ip) + ("/32" if ":" not in a else "/128"),
            "gateway": None,
            "table": 254,
            "metric": None if ":" not in a else 1024,
        }
        for a in ips
    ]
    h = EndSnapshot(
        host,
        "veth",
        hmac,
        mtu,
        True,
        [],
        req.bridge,
        routes if req.routed else [],
        ("1" if any(":" not in a for a in ips) else None) if req.routed else None,
        ("1" if any(":" in a for a in ips) else None) if req.routed else None,
    )
    if req.routed:
        plan.route_dsts = [r["dst"] for r in routes]
        if any(":" in a for a in ips):
            h.ipv6_disabled = "0"  # routes to IPv6 addresses need IPv6 on the host end
    return creation(plan, labels, ct, g, h, {"bridge": req.bridge, "routed": req.routed})


def creation(
    plan: Plan,
    labels: dict[str, Optional[str]],
    ct: Container,
    g: EndSnapshot,
    h: EndSnapshot,
    placement: dict[str, Any],
) -> Plan:
    """The steps, verification and rollback that make the pair (g, h) (also used by undo)."""
    key, label, hl = ct.name, labels[ct.name], labels[HOST]
    tmp = names.temp_name()
    guest_existed = any(i.ifname == g.ifname for i in ct.interfaces)

    def create(live: Live) -> None:
        live.ns(HOST).veth_add(h.ifname, h.mac or "", h.mtu, tmp, live.ns(key), g.mac or "", g.mtu)
        live.scratch["host_index"] = live.index(HOST, h.ifname)

    plan.add(
        ip_command(
            hl,
            "link",
            "add",
            h.ifname,
            "address",
            h.mac or "",
            "mtu",
            str(h.mtu),
            "type",
            "veth",
            "peer",
            "name",
            tmp,
            "address",
            g.mac or "",
            "mtu",
            str(g.mtu),
            "netns",
            label or "",
        ),
        create,
    )
    alias = names.half_made_alias()
    plan.add(
        ip_command(hl, "link", "set", "dev", h.ifname, "alias", alias),
        lambda live: live.ns(HOST).link_set(live.index(HOST, h.ifname), ifalias=alias),
    )
    made_g = EndSnapshot(tmp, "veth", g.mac, g.mtu, False)
    made_h = EndSnapshot(h.ifname, "veth", h.mac, h.mtu, False, alias=alias)
    for st in converge(key, label, made_g, g):
        plan.steps.append(st)
    for st in converge(HOST, hl, made_h, h):  # ends by clearing the half-made tag
        plan.steps.append(st)

    def verify(live: Live) -> list[str]:
        got_h = read_end(live.ns(HOST), h.ifname)
        got_g = read_end(live.ns(key), g.ifname)
        problems = differences(h, got_h) + differences(g, got_g)
        live.scratch[f"verified:{h.ifname}"] = (got_h, got_g)  # record() journals what was verified
        if got_h and got_g and got_h.ifindex != live.scratch.get("host_index"):
            problems.append(f"{h.ifname} is not the interface we made")
        if got_g and got_g.has_ipv6():
            plan.warnings += wait_dad(live.ns(key), got_g.ifindex)
        return problems

    def rollback(live: Live) -> list[str]:
        index = live.scratch.get("host_index")
        ns = live.ns(HOST)
        if index is not None and read_end(ns, index=int(index)) is not None:  # type: ignore[arg-type]
            ns.link_del(int(index))  # type: ignore[arg-type]
        left = []
        if index is not None and read_end(ns, index=int(index)) is not None:  # type: ignore[arg-type]
            left.append(f"{h.ifname} is still in the host namespace")
        for n in (tmp,) + (() if guest_existed else (g.ifname,)):
            if live.has(key, n):
                left.append(f"{n} is still in {ct.name}")
        return left

    def record(live: Live) -> dict[str, Any]:
        seen = live.scratch.pop(f"verified:{h.ifname}", None)
        got_h, got_g = seen if seen else (read_end(live.ns(HOST), h.ifname), read_end(live.ns(key), g.ifname))
        return {
            "target": {
                "kind": "veth",
                "owner": ct.name,
                "netns_inode": ct.netns.inode,
                "guest": g.ifname,
                "host": h.ifname,
                "placement": placement,
            },
            "before": None,
            "after": {
                "guest": got_g.to_json() if got_g else None,
                "host": got_h.to_json() if got_h else None,
            },
        }

    plan.verify, plan.rollback, plan.record = verify, rollback, record
    return plan


def plan_delete(labels: dict[str, Optional[str]], ct: Container, guest: str, host: str) -> Plan:
    """Delete the host end (which deletes the pair); snapshot both ends first for undo."""
    hl = labels[HOST]
    plan = Plan("del", ct.name, f"delete {guest} from {ct.name}")
    plan.touched = [(HOST, host), (ct.name, guest)]
    snap: dict[str, Any] = {}

    def prepare(live: Live) -> None:
        snap["host"] = read_end(live.ns(HOST), host)
        snap["guest"] = read_end(live.ns(ct.name), guest)
        if snap["host"] is None or snap["guest"] is None:
            raise NotFound(f"{ct.name}/{guest} ⇄ {host} is gone", rule="interface")

    plan.prepare = prepare
    plan.add(
        ip_command(hl, "link", "del", "dev", host), lambda live: live.ns(HOST).link_del(snap["host"].ifindex)
    )

    def verify(live: Live) -> list[str]:
        left = []
        if read_end(live.ns(HOST), index=snap["host"].ifindex) is not None:
            left.append(f"{host} still exists")
        if read_end(live.ns(ct.name), index=snap["guest"].ifindex) is not None:
            left.append(f"{ct.name}/{guest} still exists")
        return left

    def record(live: Live) -> dict[str, Any]:
        h = snap["host"]
        placement = {"bridge": h.master, "routed": bool(h.routes)}
        return {
            "target": {
                "kind": "veth",
                "owner": ct.name,
                "netns_inode": ct.netns.inode,
                "guest": guest,
                "host": host,
                "placement": placement,
            },
            "before": {"guest": snap["guest"].to_json(), "host": h.to_json()},
            "after": None,
        }

    plan.verify, plan.record = verify, record
    return plan


def plan_recreate(labels: dict[str, Optional[str]], ct: Container, before: dict[str, Any]) -> Plan:
    """Make a deleted pair again exactly as its snapshot says (undo of a delete)."""
    g = EndSnapshot.from_json(before["guest"])
    h = EndSnapshot.from_json(before["host"])
    plan = Plan("add", ct.name, f"re-create {g.ifname} in {ct.name}")
    return creation(plan, labels, ct, g, h, {"bridge": h.master, "routed": bool(h.routes)})
