"""Removing a VM adapter, and changing its guest MAC by unplug + replug.

``device_del`` only asks the guest to let go of the NIC: QEMU removes the
device when the guest acknowledges.  Delete waits ``unplug.WAIT`` seconds;
a guest that has not answered leaves the adapter "unplug pending" (a
detached finisher removes the netdev and the tap later, see unplug.py).
A replug needs the device gone before it can be plugged back with the new
MAC, so it waits longer and fails (rule unplug-pending) rather than guess.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM, Adapter
from vnet_tui.net.change import ip_command, qmp_call

from . import qmpview, unplug
from .converge import converge
from .endstate import EndSnapshot, read_end
from .live import HOST, Live
from .plan import Plan
from .vme import MODEL, qmp_text


def plan_delete(labels: dict[str, Optional[str]], vm: VM, adapter: Adapter) -> Plan:
    """device_del, wait briefly for the guest, then netdev_del and the tap (or leave it pending)."""
    tap = adapter.vm_adapter.host_ifname if adapter.vm_adapter else None
    if not tap:
        raise InvalidInput(f"{adapter.key} has no host tap", rule="vm-no-tap")
    if not vm.qmp:
        raise InvalidInput(
            f"{vm.name} has no QMP socket: stop the VM and remove the adapter from its "
            "configuration (deleting the tap under a running QEMU breaks the NIC)",
            rule="vm-no-qmp",
        )
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
    plan.add(
        qmp_text(vm.name, "device_del", id="<the NIC on " + tap + ">"),
        lambda live: qmp_call(live.qmp(vm.name), "device_del", id=snap["nic"].id),
    )

    def wait(live: Live) -> None:
        gone = unplug.wait_gone(live.qmp(vm.name), snap["nic"].id, unplug.WAIT)
        live.scratch["unplugged"] = gone
        plan.pending = not gone

    plan.add(f"# wait up to {unplug.WAIT:g} s for the guest to release the NIC (DEVICE_DELETED)", wait)
    plan.add(
        qmp_text(vm.name, "netdev_del", id="<its netdev>"),
        lambda live: (
            live.scratch["unplugged"] and qmp_call(live.qmp(vm.name), "netdev_del", id=snap["nic"].netdev)
        ),
    )
    plan.add(
        ip_command(labels[HOST], "link", "del", "dev", tap),
        lambda live: live.scratch["unplugged"] and live.ns(HOST).link_del(snap["tap"].ifindex),
    )

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
            for st in converge(HOST, labels[HOST], EndSnapshot(tap, "tun", None, 1500, False), snap["tap"]):
                st.action(live)
        if nic.netdev not in qmpview.nics(q)[1]:
            qmp_call(q, "netdev_add", type="tap", id=nic.netdev, ifname=tap, script="no", downscript="no")
        qmp_call(
            q, "device_add", driver=nic.model or MODEL, id=nic.id, netdev=nic.netdev, mac=nic.mac, bus=nic.bus
        )
        return [] if qmpview.device_present(q, nic.id) else [f"{vm.name}: {nic.id} could not be plugged back"]

    def record(live: Live) -> dict[str, Any]:
        t = snap["tap"]
        return {
            "target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap},
            "before": {"tap": t.to_json() if t else None, "nic": snap["nic"].to_json()},
            "after": {"pending": plan.pending},
        }

    plan.verify, plan.rollback, plan.record = verify, rollback, record
    return plan


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
            raise ChangeFailed(
                f"{vm.name} did not release {snap['nic'].id} within {unplug.REPLUG_WAIT:g} s: it "
                "stays 'unplug pending' until the guest acknowledges; the MAC was not changed",
                rule="unplug-pending",
            )

    plan.prepare = prepare
    plan.add(qmp_text(vm.name, "device_del", id="<nic>"), unplug_step)
    plan.add(
        qmp_text(vm.name, "device_add", driver=MODEL, mac=mac, netdev="<same>", bus="<same>"),
        lambda live: qmp_call(
            live.qmp(vm.name),
            "device_add",
            driver=snap["nic"].model or MODEL,
            id=snap["nic"].id,
            netdev=snap["nic"].netdev,
            mac=mac,
            bus=snap["nic"].bus,
        ),
    )

    def rollback(live: Live) -> list[str]:
        q = live.qmp(vm.name)
        n = snap.get("nic")
        if n is None or qmpview.device_present(q, n.id):
            return []
        qmp_call(q, "device_add", driver=n.model or MODEL, id=n.id, netdev=n.netdev, mac=n.mac, bus=n.bus)
        return [] if qmpview.device_present(q, n.id) else [f"{n.id} could not be plugged back"]

    def record(live: Live) -> dict[str, Any]:
        n = snap["nic"]
        return {
            "target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap, "end": "guest"},
            "before": {"nic": n.to_json()},
            "after": {"nic": {**n.to_json(), "mac": mac}},
        }

    plan.rollback, plan.record = rollback, record
    return plan
