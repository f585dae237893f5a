"""VM adapters (vme): a persistent tap in the host namespace, hot-plugged over QMP.

Add: ``ip tuntap add`` (persistent, tagged pending), MAC/MTU/bridge/up,
re-read the MAC ~0.5 s later (udev), commit the tag, then — if the VM has
a QMP socket — ``netdev_add`` (tap, ``ifname=``) and ``device_add
virtio-net-pci`` with the guest MAC on a free hot-plug root port, the
last change of all (QEMU cannot take a plug back without the guest).
Without QMP the tap is left ready and the QEMU arguments are printed.

Delete: ``device_del``; the device goes when the guest acknowledges
(``unplug.py`` waits, or a detached finisher does); then ``netdev_del``
and the tap.  A paused or guest-less VM leaves it "unplug pending".
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM, Adapter
from vnet_tui.net.change import ip_command, qmp_call

from . import macs, names, qmpview, unplug, validate
from .endstate import EndState, converge, differences, read_end
from .facts import Facts
from .live import HOST, Live
from .plan import Plan, Unverified
from .requests import AddRequest

MODEL = "virtio-net-pci"


def qmp_text(vm: str, execute: str, **args: Any) -> str:
    return f"qmp {vm} {execute} {json.dumps(args, separators=(',', ':'))}"


def qemu_args(netdev: str, tap: str, mac: str, dev: str) -> str:
    return (f"-netdev tap,id={netdev},ifname={tap},script=no,downscript=no "
            f"-device {MODEL},netdev={netdev},mac={mac},id={dev}")


def plan_add(facts: Facts, labels: dict[str, Optional[str]], vm: VM, req: AddRequest) -> Plan:
    """Validate a VM adapter request against the topology and plan it (no kernel call)."""
    warnings: list[str] = []
    if req.ifname:
        raise InvalidInput("a VM names its NICs itself: --ifname is for containers", rule="vm-ifname")
    validate.vm_adapter_options(req.ips, req.routed)
    taken = facts.macs()
    gmac = macs.guest_mac(taken) if req.mac in (None, "", "auto") else validate.mac(req.mac, taken, warnings)
    taken_plus = {**taken, gmac: f"the new guest NIC of {vm.name}"}
    hmac = (macs.host_mac(taken_plus) if req.host_mac in (None, "", "auto")
            else validate.mac(req.host_mac, taken_plus, warnings))
    host_names = facts.host_names()
    if req.host_ifname:
        tap = validate.ifname(req.host_ifname, "host interface name")
        index = len(vm.adapters)
    else:
        prefix = names.vme_prefix([a.host_ifname or "" for a in vm.adapters], gmac)
        tap, index = names.vme_name(prefix, host_names)
    validate.ifname_free(tap, host_names, "the host namespace")
    mtu = validate.mtu(req.mtu if req.mtu is not None else 1500, "tun", False, warnings)
    if req.bridge:
        facts.bridge(req.bridge)
    used_ids = {a.id for a in vm.adapters}
    n = index
    while f"net{n}" in used_ids:
        n += 1
    ids = {"netdev": f"net{n}", "device": f"net{n}", "bus": None}  # one id for both, as the lab does
    plan = Plan("add", vm.name, f"add {tap} to {vm.name}", warnings=warnings)
    want = EndState(tap, "tun", hmac, mtu, True, [], req.bridge)
    return creation(plan, labels, vm, want, gmac, ids)


def creation(plan: Plan, labels: dict[str, Optional[str]], vm: VM, want: EndState, gmac: str,
             ids: dict[str, Any]) -> Plan:
    """Tap, then hot-plug (also used by undo of a delete, with the old ids and bus)."""
    hl, tap = labels[HOST], want.ifname
    alias = names.pending_alias()

    def make_tap(live: Live) -> None:
        live.ns(HOST).tap_add(tap)
        live.scratch["tap_index"] = live.index(HOST, tap)

    plan.add(ip_command(hl, "tuntap", "add", "dev", tap, "mode", "tap"), make_tap)
    plan.add(ip_command(hl, "link", "set", "dev", tap, "alias", alias),
             lambda live: live.ns(HOST).link_set(live.index(HOST, tap), ifalias=alias))
    made = EndState(tap, "tun", None, 1500, False, alias=alias)  # random MAC until we set ours
    plan.steps += converge(HOST, hl, made, replace(want, alias=alias))

    def recheck(live: Live) -> None:  # udev may rewrite a tap's MAC shortly after
        time.sleep(0.5)
        got = read_end(live.ns(HOST), tap)
        if got is None or got.mac != want.mac:
            raise Unverified([f"{tap}: MAC is {got.mac if got else None}, expected {want.mac} (rewritten?)"])

    plan.add(f"# re-read {tap}'s MAC after 0.5 s", recheck)
    plan.add(ip_command(hl, "link", "set", "dev", tap, "alias", "''"),
             lambda live: live.ns(HOST).link_set(live.index(HOST, tap), ifalias=""))
    netdev, dev = ids["netdev"], ids["device"]
    if vm.qmp:
        def pick(live: Live) -> None:
            q = live.qmp(vm.name)
            found, loose = qmpview.nics(q)
            present = {n.netdev for n in found} | set(loose)
            if netdev in present or qmpview.device_present(q, dev):
                raise ChangeFailed(f"{vm.name} already has a netdev {netdev} or device {dev}", rule="vm-id-taken")
            if ids.get("bus") is None:
                free = qmpview.free_root_ports(q)
                if not free:
                    raise ChangeFailed(f"{vm.name} has no free hot-plug root port (pcie-root-port)",
                                       rule="vm-no-free-port")
                ids["bus"] = free[0]
                plug.command = qmp_text(vm.name, "device_add", driver=MODEL, id=dev, netdev=netdev, mac=gmac,
                                        bus=ids["bus"])

        plan.prepare = pick
        plan.add(qmp_text(vm.name, "netdev_add", type="tap", id=netdev, ifname=tap, script="no", downscript="no"),
                 lambda live: qmp_call(live.qmp(vm.name), "netdev_add", type="tap", id=netdev, ifname=tap,
                                       script="no", downscript="no"))
        plan.add(qmp_text(vm.name, "device_add", driver=MODEL, id=dev, netdev=netdev, mac=gmac,
                          bus=ids.get("bus") or "<free root port>"),
                 lambda live: qmp_call(live.qmp(vm.name), "device_add", driver=MODEL, id=dev, netdev=netdev,
                                       mac=gmac, bus=ids["bus"]))
        plug = plan.steps[-1]
    else:
        plan.notes.append(f"{vm.name} has no QMP socket: the tap {tap} is ready; add to QEMU's arguments "
                          f"for its next start: {qemu_args(netdev, tap, gmac, dev)}")

    def verify(live: Live) -> list[str]:
        problems = differences(want, read_end(live.ns(HOST), tap))
        if vm.qmp:
            q = live.qmp(vm.name)
            nic = next((n for n in qmpview.nics(q)[0] if n.id == dev), None)
            if nic is None or nic.mac != gmac or nic.ifname != tap:
                problems.append(f"{vm.name}: QEMU does not show {dev} with MAC {gmac} on {tap}")
        return problems

    def rollback(live: Live) -> list[str]:
        left: list[str] = []
        if vm.qmp:
            q = live.qmp(vm.name)
            if qmpview.device_present(q, dev):
                left += unplug.unplug_now(q, dev)
            nics, loose = qmpview.nics(q)
            if netdev in loose and not left:
                qmp_call(q, "netdev_del", id=netdev)
        index = live.scratch.get("tap_index")
        if index is not None and read_end(live.ns(HOST), index=int(index)) is not None:  # type: ignore[arg-type]
            if not left:
                live.ns(HOST).link_del(int(index))  # type: ignore[arg-type]
            else:
                left.append(f"{tap} is kept until {vm.name} releases the NIC")
        return left

    def record(live: Live) -> dict[str, Any]:
        got = read_end(live.ns(HOST), tap)
        return {"target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap},
                "before": None,
                "after": {"tap": got.to_json() if got else None,
                          "nic": {"id": dev, "netdev": netdev, "mac": gmac, "bus": ids.get("bus"),
                                  "model": MODEL} if vm.qmp else None}}

    plan.verify, plan.rollback, plan.record = verify, rollback, record
    return plan


def plan_delete(labels: dict[str, Optional[str]], vm: VM, adapter: Adapter) -> Plan:
    """device_del, wait briefly for the guest, then netdev_del and the tap (or leave it pending)."""
    tap = adapter.vm_adapter.host_ifname if adapter.vm_adapter else None
    if not tap:
        raise InvalidInput(f"{adapter.key} has no host tap", rule="vm-no-tap")
    if not vm.qmp:
        raise InvalidInput(f"{vm.name} has no QMP socket: stop the VM and remove the adapter from its "
                           "configuration (deleting the tap under a running QEMU breaks the NIC)", rule="vm-no-qmp")
    plan = Plan("del", vm.name, f"delete {tap} from {vm.name}")
    plan.touched = [(HOST, tap)]
    snap: dict[str, Any] = {}

    def prepare(live: Live) -> None:
        q = live.qmp(vm.name)
        nic = next((n for n in qmpview.nics(q)[0] if n.ifname == tap), None)
        if nic is None:
            raise InvalidInput(f"{vm.name}: no NIC uses {tap} (already unplugged?)", rule="vm-no-nic")
        snap.update(nic=nic, tap=read_end(live.ns(HOST), tap))
        plan.steps[0].command = qmp_text(vm.name, "device_del", id=nic.id)
        plan.steps[2].command = qmp_text(vm.name, "netdev_del", id=nic.netdev) + "   # once released"
        plan.steps[3].command += "   # once released"

    plan.prepare = prepare
    plan.add(qmp_text(vm.name, "device_del", id="<the NIC on " + tap + ">"),
             lambda live: qmp_call(live.qmp(vm.name), "device_del", id=snap["nic"].id))

    def wait(live: Live) -> None:
        gone = unplug.wait_gone(live.qmp(vm.name), snap["nic"].id, unplug.WAIT)
        live.scratch["unplugged"] = gone
        plan.pending = not gone

    plan.add(f"# wait up to {unplug.WAIT:g} s for the guest to release the NIC (DEVICE_DELETED)", wait)
    plan.add(qmp_text(vm.name, "netdev_del", id="<its netdev>"),
             lambda live: live.scratch["unplugged"] and qmp_call(live.qmp(vm.name), "netdev_del",
                                                                 id=snap["nic"].netdev))
    plan.add(ip_command(labels[HOST], "link", "del", "dev", tap),
             lambda live: live.scratch["unplugged"] and live.ns(HOST).link_del(snap["tap"].ifindex))

    def verify(live: Live) -> list[str]:
        if plan.pending:
            return []
        return [f"{tap} still exists"] if read_end(live.ns(HOST), tap) is not None else []

    def rollback(live: Live) -> list[str]:
        q = live.qmp(vm.name)
        nic = snap.get("nic")
        if nic is None or qmpview.device_present(q, nic.id):
            return []
        if read_end(live.ns(HOST), tap) is None and snap.get("tap"):
            live.ns(HOST).tap_add(tap)
            for st in converge(HOST, labels[HOST], EndState(tap, "tun", None, 1500, False), snap["tap"]):
                st.action(live)
        if nic.netdev not in qmpview.nics(q)[1]:
            qmp_call(q, "netdev_add", type="tap", id=nic.netdev, ifname=tap, script="no", downscript="no")
        qmp_call(q, "device_add", driver=nic.model or MODEL, id=nic.id, netdev=nic.netdev, mac=nic.mac, bus=nic.bus)
        return [] if qmpview.device_present(q, nic.id) else [f"{vm.name}: {nic.id} could not be plugged back"]

    def record(live: Live) -> dict[str, Any]:
        t = snap["tap"]
        return {"target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap},
                "before": {"tap": t.to_json() if t else None, "nic": snap["nic"].to_json()},
                "after": {"pending": plan.pending}}

    plan.verify, plan.rollback, plan.record = verify, rollback, record
    return plan


def plan_recreate(labels: dict[str, Optional[str]], vm: VM, before: dict[str, Any]) -> Plan:
    """Plug a deleted adapter back as its snapshot says (undo of a delete)."""
    want = EndState.from_json(before["tap"])
    nic = before["nic"]
    plan = Plan("add", vm.name, f"re-create {want.ifname} on {vm.name}")
    return creation(plan, labels, vm, replace(want, alias=None), nic["mac"],
                    {"netdev": nic["netdev"], "device": nic["id"], "bus": nic.get("bus")})


def plan_replug(labels: dict[str, Optional[str]], vm: VM, adapter: Adapter, mac: str) -> Plan:
    """A new guest MAC: unplug the NIC, wait for the guest, plug it back with ``mac``."""
    plan = Plan("set", vm.name, f"replug {adapter.key} with MAC {mac}")
    plan.touched = [(HOST, adapter.vm_adapter.host_ifname or "")] if adapter.vm_adapter else []
    snap: dict[str, Any] = {}
    tap = adapter.vm_adapter.host_ifname if adapter.vm_adapter else None

    def prepare(live: Live) -> None:
        q = live.qmp(vm.name)
        nic = next((n for n in qmpview.nics(q)[0] if n.ifname == tap), None)
        if nic is None or nic.netdev is None:
            raise InvalidInput(f"{vm.name}: no NIC uses {tap}", rule="vm-no-nic")
        snap["nic"] = nic

    def unplug_step(live: Live) -> None:
        q = live.qmp(vm.name)
        qmp_call(q, "device_del", id=snap["nic"].id)
        if not unplug.wait_gone(q, snap["nic"].id, unplug.REPLUG_WAIT):
            raise ChangeFailed(f"{vm.name} did not release {snap['nic'].id} within {unplug.REPLUG_WAIT:g} s: it "
                               "stays 'unplug pending' until the guest acknowledges; the MAC was not changed",
                               rule="unplug-pending")

    plan.prepare = prepare
    plan.add(qmp_text(vm.name, "device_del", id="<nic>"), unplug_step)
    plan.add(qmp_text(vm.name, "device_add", driver=MODEL, mac=mac, netdev="<same>", bus="<same>"),
             lambda live: qmp_call(live.qmp(vm.name), "device_add", driver=snap["nic"].model or MODEL,
                                   id=snap["nic"].id, netdev=snap["nic"].netdev, mac=mac, bus=snap["nic"].bus))

    def rollback(live: Live) -> list[str]:
        q = live.qmp(vm.name)
        n = snap.get("nic")
        if n is None or qmpview.device_present(q, n.id):
            return []
        qmp_call(q, "device_add", driver=n.model or MODEL, id=n.id, netdev=n.netdev, mac=n.mac, bus=n.bus)
        return [] if qmpview.device_present(q, n.id) else [f"{n.id} could not be plugged back"]

    def record(live: Live) -> dict[str, Any]:
        n = snap["nic"]
        return {"target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap, "end": "guest"},
                "before": {"nic": n.to_json()}, "after": {"nic": {**n.to_json(), "mac": mac}}}

    plan.rollback, plan.record = rollback, record
    return plan
