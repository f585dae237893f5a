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
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace
from typing import Any, Optional, Union

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Container, Interface

from . import validate, vme_remove
from .converge import converge
from .endstate import EndSnapshot, differences, keeps_ipv6_on_down, read_end, wait_dad, without_ipv6
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan
from .requests import SetRequest

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
    snap: dict[str, Any] = {}

    def prepare(live: Live) -> None:
        ns = live.ns(key)
        before = read_end(ns, iface.ifname)
        if before is None or before.ifindex != iface.ifindex:
            raise InvalidInput(f"{iface.ifname} changed since it was read; look again", rule="stale-view")
        want = wanted(before, m, add, delete, mtu, req.up, master)
        if (not want.up and before.up and not keeps_ipv6_on_down(ns, before.ifname)) or want.mtu < 1280:
            want = without_ipv6(want)
        snap.update(before=before, want=want)
        plan.steps = converge(key, label, before, want)

    def verify(live: Live) -> list[str]:
        got = read_end(live.ns(key), iface.ifname)
        if got is not None and iface.kind == "tun" and m:
            time.sleep(TAP_RECHECK)
            got = read_end(live.ns(key), iface.ifname)
            if got is not None and got.mac != m:  # udev rewrote it: set once more
                live.ns(key).link_set(got.ifindex, address=m)
                got = read_end(live.ns(key), iface.ifname)
        if got is not None and got.up and got.has_ipv6() and (add or req.up):
            plan.warnings += wait_dad(live.ns(key), got.ifindex)
        snap["after"] = got  # record() journals what was verified
        return differences(snap["want"], got)

    def rollback(live: Live) -> list[str]:
        left = restore(live, key, label, snap.get("before"))
        for slot in [s for s in live.scratch if s.startswith("promote:")]:  # a step failed in between
            ns_key, name = slot.split(":")[1:3]
            if live.scratch.pop(slot) == "0":
                live.ns(ns_key).sysctl_write(f"ipv4/conf/{name}/promote_secondaries", "0")
        return left

    def record(live: Live) -> dict[str, Any]:
        got = snap.pop("after") if "after" in snap else read_end(live.ns(key), iface.ifname)
        return {
            "target": {
                "kind": adapter.kind,
                "owner": target.name,
                "adapter": adapter.key,
                "end": end,
                "ns": key,
                "ifname": iface.ifname,
            },
            "before": snap["before"].to_json(),
            "after": got.to_json() if got else None,
        }

    plan.prepare, plan.verify, plan.rollback, plan.record = prepare, verify, rollback, record
    return plan


def restore(live: Live, key: str, label: Optional[str], before: Optional[EndSnapshot]) -> list[str]:
    """Converge the end back to ``before``; return what differs afterwards."""
    if before is None:
        return []
    ns = live.ns(key)
    now = read_end(ns, index=before.ifindex)
    if now is None:
        return [f"{before.ifname} disappeared"]
    for step in converge(key, label, now, before):
        try:
            step.action(live)
        except Exception:  # keep going: restore as much as possible, report the rest
            pass
    if before.up and before.has_ipv6():
        wait_dad(ns, now.ifindex)  # addresses put back on an up link go through DAD again
    return differences(replace(before, ifindex=now.ifindex), read_end(ns, index=now.ifindex))


# -- the inverse: an edit undone (or an interrupted one rolled back) --------------------
def plan_restore(
    lab: dict[str, Optional[str]],
    owner: str,
    t: dict[str, Any],
    before: EndSnapshot,
    after: Optional[dict[str, Any]],
) -> Plan:
    """Converge one end back to ``before`` (undo of an edit)."""
    key, label = t["ns"], lab[t["ns"]]
    plan = Plan("set", owner, f"restore {before.ifname} ({t.get('end')} end of {t.get('adapter')})")
    plan.touched = [(key, before.ifname)]
    snap: dict[str, Any] = {}

    def prepare(live: Live) -> None:
        # by ifindex; by name when the pair was re-created since (undo of a delete)
        now = read_end(live.ns(key), index=before.ifindex) or read_end(live.ns(key), before.ifname)
        if now is not None and now.ifname != before.ifname:
            now = read_end(live.ns(key), before.ifname)
        if now is None:
            raise NotFound(f"{before.ifname} is gone: the edit cannot be undone", rule="undo-target")
        if after and differences(EndSnapshot.from_json(after), now):
            plan.warnings.append(f"{before.ifname} changed again since; restoring the state before the edit")
        snap["now"] = now
        plan.steps = converge(key, label, now, before)

    plan.prepare = prepare
    plan.steps = converge(key, label, EndSnapshot.from_json(after) if after else before, before)
    plan.verify = lambda live: differences(before, read_end(live.ns(key), index=snap["now"].ifindex))

    def rollback(live: Live) -> list[str]:
        return restore(live, key, label, snap.get("now"))

    def record(live: Live) -> dict[str, Any]:
        got = read_end(live.ns(key), index=snap["now"].ifindex)
        return {"target": t, "before": snap["now"].to_json(), "after": got.to_json() if got else None}

    plan.rollback, plan.record = rollback, record
    return plan
