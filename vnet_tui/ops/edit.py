"""Edit one end of an adapter: MAC, addresses, MTU, up/down, bridge attach/detach.

The plan is previewed from the topology; at execution the end is
snapshotted live (MAC, MTU, state, addresses, routes, sysctls), the
wanted state recomputed from that snapshot, and ``converge`` applies it
(new addresses before old ones go).  The MAC is re-read after the change,
and for taps again ~0.5 s later (udev may rewrite it).  On failure the
snapshot is re-applied and compared; what could not be restored is said.

A VM's guest MAC cannot change while QEMU runs the guest: the request is
refused (rule vm-guest-mac-live) unless ``replug`` asks for unplug +
replug with the new MAC (``vme.plan_replug``).

The steps are ``converge``'s; an edit's prepare, verify, rollback and
record are methods of one typed object (``EndEdit``) that holds what
they hand each other — the snapshot, the wanted state, what verify
read — never a scratch dict.  Converging an end back (rollback, and an
edit's undo) is ``restore``'s.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, replace
from typing import Any, Optional, Union

from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.model import VM, Adapter, Container, Interface

from . import validate, vme_remove
from .converge import converge
from .endstate import EndSnapshot, differences, keeps_ipv6_on_down, read_end, wait_dad, without_ipv6
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan
from .requests import SetRequest
from .restore import plan_restore, restore  # plan_restore: importable from here, as before

__all__ = ["Change", "EndEdit", "from_topology", "is_up", "pick_end", "plan_restore", "plan_set", "restore", "wanted"]

TAP_RECHECK = 0.5  # seconds: udev may rewrite a tap's MAC after we set it


def pick_end(target: Union[Container, VM], adapter: Adapter, req: SetRequest) -> tuple[str, str, Interface]:
    """(namespace key, "guest"/"host", interface) of the end the request edits."""
    if req.end not in (None, "guest", "host"):
        raise InvalidInput(f"--end {req.end}: use guest or host", rule="end")
    if adapter.kind == "vme":
        if req.end == "guest":
            raise InvalidInput(
                "a VM's guest NIC is inside the VM: only its MAC can change, by replug", rule="vm-guest-end"
            )
        if adapter.host is None:
            raise InvalidInput(f"{adapter.key}: its host tap is not in the host namespace", rule="vm-no-tap")
        return HOST, "host", adapter.host
    assert adapter.guest is not None and adapter.host is not None
    end = req.end or ("host" if req.ifname == adapter.host.ifname else "guest")
    return (target.name, "guest", adapter.guest) if end == "guest" else (HOST, "host", adapter.host)


def from_topology(i: Interface) -> EndSnapshot:
    """An end as discovery saw it (routes and sysctls unknown until the live snapshot)."""
    return EndSnapshot(
        i.ifname,
        i.kind,
        i.mac,
        i.mtu,
        is_up(i),
        sorted(a for a in i.addresses if not a.lower().startswith("fe80:")),
        i.master,
        ifindex=i.ifindex,
        alias=i.alias,
    )


def is_up(i: Interface) -> bool:
    """Administratively up (recorded topologies carry only the state)."""
    return i.admin_up or i.state != "down"


def wanted(
    cur: EndSnapshot,
    mac: Optional[str],
    add: list[str],
    delete: list[str],
    mtu: Optional[int],
    up: Optional[bool],
    master: Union[str, None, bool],
) -> EndSnapshot:
    """``cur`` with the requested changes (master False: leave as is; None: detach)."""
    addrs = [a for a in cur.addresses if a not in delete] + [a for a in add if a not in cur.addresses]
    return replace(
        cur,
        mac=mac or cur.mac,
        mtu=mtu or cur.mtu,
        up=cur.up if up is None else up,
        addresses=sorted(addrs),
        master=cur.master if master is False else master,
    )


def plan_set(
    facts: ServerFacts,
    labels: dict[str, Optional[str]],
    target: Union[Container, VM],
    adapter: Adapter,
    req: SetRequest,
) -> Plan:
    """Validate an edit against the topology and plan it (no kernel call)."""
    if isinstance(target, VM) and (req.end == "guest" or req.replug):
        if req.mac is None:
            raise InvalidInput("a VM's guest NIC: only its MAC can change (by --replug)", rule="vm-guest-end")
        m = validate.mac(
            req.mac, facts.macs(), [], own=adapter.vm_adapter.guest_mac if adapter.vm_adapter else None
        )
        if not req.replug:
            state = "running" if target.running else "paused"
            raise InvalidInput(
                f"{target.name} is {state}: a VM's guest MAC cannot change live (the guest owns its "
                "NIC). Use --replug to unplug the adapter and plug it back with the new MAC "
                "(the guest sees the NIC go and come back).",
                rule="vm-guest-mac-live",
            )
        return vme_remove.plan_replug(labels, target, adapter, m)
    key, end, iface = pick_end(target, adapter, req)
    warnings: list[str] = []
    label = labels[key]
    m = validate.mac(req.mac, facts.macs(), warnings, own=iface.mac) if req.mac else None
    add = validate.ips_to_add(req.add_ips, iface.addresses, facts.address_book(), warnings, ns=key, skip=iface)
    delete = validate.ips_to_delete(req.del_ips, iface.addresses)
    cur = from_topology(iface)
    v6 = any(":" in a for a in set(cur.addresses + add) - set(delete))
    mtu = validate.mtu(req.mtu, "tun" if iface.kind == "tun" else "veth", v6, warnings) if req.mtu else None
    if mtu and adapter.guest is not None and adapter.host is not None:  # the two ends should agree
        other = adapter.host if end == "guest" else adapter.guest
        validate.mtu_pair(mtu, other.mtu, other.ifname, warnings)
    if adapter.kind == "vme" and add:
        raise InvalidInput(
            "addresses on a VM's host tap: the guest's addresses are set inside the VM", rule="vm-ip"
        )
    master: Union[str, None, bool] = False
    plan = Plan("set", target.name, f"edit {iface.ifname} ({end} end of {adapter.key})", warnings=warnings)
    if req.bridge and req.no_bridge:
        raise InvalidInput("choose --bridge BR or --no-bridge, not both", rule="bridge-or-nobridge")
    if req.bridge:
        if key != HOST:
            raise InvalidInput(
                "bridges are in the host namespace: attach the host end", rule="bridge-guest-end"
            )
        br = facts.bridge(req.bridge)
        master = br.ifname
        if iface.mac and br.mac and iface.mac < br.mac:
            warnings.append(
                f"{iface.ifname}'s MAC is lower than {br.ifname}'s: the bridge may take it [bridge-mac]"
            )
            plan.touched.append((HOST, br.ifname))
    elif req.no_bridge:
        if not iface.master:
            raise InvalidInput(f"{iface.ifname} is not on a bridge", rule="not-on-bridge")
        master = None
    validate.something(
        {
            "mac": m if m != iface.mac else None,
            "add": add,
            "del": delete,
            "mtu": mtu if mtu != iface.mtu else None,
            "up": None if req.up is None or req.up == is_up(iface) else True,
            "master": None if master is False or master == iface.master else True,
        }
    )
    if req.up is False and v6:
        warnings.append(
            "going down removes the link's IPv6 addresses (kernel: keep_addr_on_down=0); "
            "undo restores them [down-ipv6]"
        )
    plan.touched.append((key, iface.ifname))
    if key == HOST:
        plan.route_dsts += [str(ipaddress.ip_interface(a).network) for a in add + delete]
    plan.steps = converge(key, label, cur, wanted(cur, m, add, delete, mtu, req.up, master))
    run = EndEdit(plan, target.name, adapter, end, key, label, iface, Change(m, add, delete, mtu, req.up, master))
    plan.prepare, plan.verify, plan.rollback, plan.record = run.prepare, run.verify, run.rollback, run.record
    return plan


@dataclass
class Change:
    """What an edit asks of one end (``master`` False: leave as is; None: detach)."""

    mac: Optional[str]
    add: list[str]
    delete: list[str]
    mtu: Optional[int]
    up: Optional[bool]
    master: Union[str, None, bool]

    def of(self, cur: EndSnapshot) -> EndSnapshot:
        return wanted(cur, self.mac, self.add, self.delete, self.mtu, self.up, self.master)


@dataclass
class EndEdit:
    """An edit's prepare, verify, rollback and record, and what they hand each other (no scratch dict)."""

    plan: Plan  # prepare replaces its steps; verify adds DAD warnings
    owner: str
    adapter: Adapter
    end: str  # "guest" | "host"
    key: str
    label: Optional[str]
    iface: Interface
    change: Change
    before: Optional[EndSnapshot] = None  # the live snapshot prepare took
    want: Optional[EndSnapshot] = None  # what the steps make of it
    after: Optional[EndSnapshot] = None  # what verify read
    verified: bool = False  # verify ran (``after`` may be None: the end is gone)

    def prepare(self, live: Live) -> None:
        ns, iface = live.ns(self.key), self.iface
        before = read_end(ns, iface.ifname)
        if before is None or before.ifindex != iface.ifindex:
            raise InvalidInput(f"{iface.ifname} changed since it was read; look again", rule="stale-view")
        want = self.change.of(before)
        if (not want.up and before.up and not keeps_ipv6_on_down(ns, before.ifname)) or want.mtu < 1280:
            want = without_ipv6(want)
        self.before, self.want = before, want
        self.plan.steps = converge(self.key, self.label, before, want)

    def verify(self, live: Live) -> list[str]:
        key, iface, m = self.key, self.iface, self.change.mac
        got = read_end(live.ns(key), iface.ifname)
        if got is not None and iface.kind == "tun" and m:
            time.sleep(TAP_RECHECK)
            got = read_end(live.ns(key), iface.ifname)
            if got is not None and got.mac != m:  # udev rewrote it: set once more
                live.ns(key).link_set(got.ifindex, address=m)
                got = read_end(live.ns(key), iface.ifname)
        if got is not None and got.up and got.has_ipv6() and (self.change.add or self.change.up):
            self.plan.warnings += wait_dad(live.ns(key), got.ifindex)
        self.after, self.verified = got, True  # record() journals what was verified
        assert self.want is not None
        return differences(self.want, got)

    def rollback(self, live: Live) -> list[str]:
        left = restore(live, self.key, self.label, self.before)
        for slot in list(live.promote_saved):  # a step failed between PromoteOn and PromoteBack (converge's)
            ns_key, name = slot.split(":")[1:3]
            if live.promote_saved.pop(slot) == "0":
                live.ns(ns_key).sysctl_write(f"ipv4/conf/{name}/promote_secondaries", "0")
        return left

    def record(self, live: Live) -> dict[str, Any]:
        if self.verified:
            got, self.after, self.verified = self.after, None, False
        else:
            got = read_end(live.ns(self.key), self.iface.ifname)
        assert self.before is not None
        return {
            "target": {
                "kind": self.adapter.kind,
                "owner": self.owner,
                "adapter": self.adapter.key,
                "end": self.end,
                "ns": self.key,
                "ifname": self.iface.ifname,
            },
            "before": self.before.to_json(),
            "after": got.to_json() if got else None,
        }
