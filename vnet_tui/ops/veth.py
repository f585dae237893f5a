"""Container adapters (veth): add atomically, and re-create from a snapshot (delete: ``veth_remove``).

Adding follows SAFETY.md: one RTM_NEWLINK makes the host end and puts the
peer straight into the container's namespace under a temporary name,
MACs and MTU in the same message; the host end is tagged half-made; then
rename, addresses, up, bridge or routes; re-read and compare; clear the
tag.  On any failure the host end we made (by ifindex, never by name
alone) is deleted, which deletes the pair, and we check nothing is left.

The plan's own steps are small typed objects (``CreatePair``,
``TagHalfMade``: ``describe`` renders the command,
``do`` makes it); what a step learns at run time (the host end's
ifindex) goes into a ``Made`` record that the checks (``PairChecks``)
read, never into a scratch dict.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

from vnet_tui.core.model import Container
from vnet_tui.net.ipcommand import ip_command

from . import macs, names, validate
from .converge import converge
from .endstate import EndSnapshot, differences, read_end, wait_dad
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan
from .requests import AddRequest
from .veth_remove import plan_delete  # importable from here, as before

__all__ = ["CreatePair", "Made", "PairChecks", "TagHalfMade", "creation", "plan_add", "plan_delete", "plan_recreate"]


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


@dataclass
class Made:
    """What the creation's steps learn as they run, handed to its checks (no scratch dict)."""

    host_index: Optional[int] = None  # the host end we made, by ifindex: rollback deletes it, never by name
    verified: Optional[tuple[Optional[EndSnapshot], Optional[EndSnapshot]]] = None  # (host, guest) verify read


@dataclass
class CreatePair:
    """Step: both ends in one RTM_NEWLINK, the peer straight into the container under ``tmp``."""

    hl: Optional[str]  # the host namespace's label in rendered commands
    label: Optional[str]  # the container's
    key: str  # the container's namespace key
    h: EndSnapshot
    g: EndSnapshot
    tmp: str
    made: Made

    def describe(self) -> str:
        h, g = self.h, self.g
        return ip_command(self.hl, "link", "add", h.ifname, "address", h.mac or "", "mtu", str(h.mtu), "type", "veth",
                          "peer", "name", self.tmp, "address", g.mac or "", "mtu", str(g.mtu), "netns",
                          self.label or "")

    def do(self, live: Live) -> None:
        h, g = self.h, self.g
        live.ns(HOST).veth_add(h.ifname, h.mac or "", h.mtu, self.tmp, live.ns(self.key), g.mac or "", g.mtu)
        self.made.host_index = live.index(HOST, h.ifname)

    def undo(self, live: Live) -> None:
        """Delete the host end we made (which deletes the pair), if it is still there."""
        index, ns = self.made.host_index, live.ns(HOST)
        if index is not None and read_end(ns, index=index) is not None:
            ns.link_del(index)


@dataclass
class TagHalfMade:
    """Step: the host end's alias says who is making it, until ``converge`` clears it (``names.half_made_by``)."""

    hl: Optional[str]
    ifname: str
    alias: str

    def describe(self) -> str:
        return ip_command(self.hl, "link", "set", "dev", self.ifname, "alias", self.alias)

    def do(self, live: Live) -> None:
        live.ns(HOST).link_set(live.index(HOST, self.ifname), ifalias=self.alias)


@dataclass
class PairChecks:
    """A creation's verify, rollback and record: they read what its steps learnt (``made``)."""

    plan: Plan  # verify adds DAD warnings to it
    ct: Container
    h: EndSnapshot
    g: EndSnapshot
    tmp: str
    placement: dict[str, Any]
    guest_existed: bool
    create: CreatePair
    made: Made

    def verify(self, live: Live) -> list[str]:
        h, g, key = self.h, self.g, self.ct.name
        got_h = read_end(live.ns(HOST), h.ifname)
        got_g = read_end(live.ns(key), g.ifname)
        problems = differences(h, got_h) + differences(g, got_g)
        self.made.verified = (got_h, got_g)  # record() journals what was verified
        if got_h and got_g and got_h.ifindex != self.made.host_index:
            problems.append(f"{h.ifname} is not the interface we made")
        if got_g and got_g.has_ipv6():
            self.plan.warnings += wait_dad(live.ns(key), got_g.ifindex)
        return problems

    def rollback(self, live: Live) -> list[str]:
        index, key = self.made.host_index, self.ct.name
        self.create.undo(live)
        left = []
        if index is not None and read_end(live.ns(HOST), index=index) is not None:
            left.append(f"{self.h.ifname} is still in the host namespace")
        for n in (self.tmp,) + (() if self.guest_existed else (self.g.ifname,)):
            if live.has(key, n):
                left.append(f"{n} is still in {self.ct.name}")
        return left

    def record(self, live: Live) -> dict[str, Any]:
        h, g, ct = self.h, self.g, self.ct
        seen, self.made.verified = self.made.verified, None
        got_h, got_g = seen if seen else (read_end(live.ns(HOST), h.ifname), read_end(live.ns(ct.name), g.ifname))
        return {
            "target": {
                "kind": "veth",
                "owner": ct.name,
                "netns_inode": ct.netns.inode,
                "guest": g.ifname,
                "host": h.ifname,
                "placement": self.placement,
            },
            "before": None,
            "after": {
                "guest": got_g.to_json() if got_g else None,
                "host": got_h.to_json() if got_h else None,
            },
        }


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
    made = Made()
    create = CreatePair(hl, label, key, h, g, tmp, made)
    alias = names.half_made_alias()
    plan.add_step(create)
    plan.add_step(TagHalfMade(hl, h.ifname, alias))
    made_g = EndSnapshot(tmp, "veth", g.mac, g.mtu, False)
    made_h = EndSnapshot(h.ifname, "veth", h.mac, h.mtu, False, alias=alias)
    plan.steps += converge(key, label, made_g, g)
    plan.steps += converge(HOST, hl, made_h, h)  # ends by clearing the half-made tag
    checks = PairChecks(plan, ct, h, g, tmp, placement, any(i.ifname == g.ifname for i in ct.interfaces),
                        create, made)
    plan.verify, plan.rollback, plan.record = checks.verify, checks.rollback, checks.record
    return plan


def plan_recreate(labels: dict[str, Optional[str]], ct: Container, before: dict[str, Any]) -> Plan:
    """Make a deleted pair again exactly as its snapshot says (undo of a delete)."""
    g = EndSnapshot.from_json(before["guest"])
    h = EndSnapshot.from_json(before["host"])
    plan = Plan("add", ct.name, f"re-create {g.ifname} in {ct.name}")
    return creation(plan, labels, ct, g, h, {"bridge": h.master, "routed": bool(h.routes)})
