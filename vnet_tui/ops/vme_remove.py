"""Removing a VM adapter, and changing its guest MAC by unplug + replug.

``device_del`` only asks the guest to let go of the NIC: QEMU removes the
device when the guest acknowledges.  Delete waits ``unplug.WAIT`` seconds;
a guest that has not answered leaves the adapter "unplug pending" (a
detached finisher removes the netdev and the tap later, see unplug.py).
A replug needs the device gone before it can be plugged back with the new
MAC, so it waits longer and fails (rule unplug-pending) rather than guess.

Steps are small typed objects (``describe`` renders, ``do`` makes); what
prepare finds (the NIC, the tap) and what the wait learns (released or
not) go into a ``Found`` record that the later steps and the checks
(``UnplugChecks``, ``ReplugChecks``) read, never into a scratch dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM, Adapter
from vnet_tui.discovery.netinfo import Nic
from vnet_tui.net.faults import qmp_call
from vnet_tui.net.ipcommand import ip_command

from . import qmpview, unplug
from .converge import converge
from .endstate import EndSnapshot, read_end
from .live import HOST, Live
from .plan import Plan
from .vme import MODEL, qmp_text


@dataclass
class Found:
    """What a removal's prepare finds and its steps learn, for the later steps and the checks."""

    nic: Optional[Nic] = None  # the NIC on the tap, as QEMU showed it before the change
    tap: Optional[EndSnapshot] = None  # the tap before the change
    unplugged: bool = False  # the guest released the NIC within the wait


def _nic_on(live: Live, vm: VM, tap: Optional[str]) -> Optional[Nic]:
    return next((n for n in qmpview.nics(live.qmp(vm.name))[0] if n.ifname == tap), None)


def _plug_back(q: Any, nic: Nic, mac: Optional[str] = None) -> None:
    qmp_call(q, "device_add", driver=nic.model or MODEL, id=nic.id, netdev=nic.netdev, mac=mac or nic.mac,
             bus=nic.bus)


# -- delete ------------------------------------------------------------------------------------------------
@dataclass
class DeviceDel:
    """Step: ask the guest to let go of the NIC (QMP ``device_del``)."""

    vm: str
    tap: str
    found: Found

    def describe(self) -> str:
        nic = self.found.nic
        return qmp_text(self.vm, "device_del", id=nic.id if nic else "<the NIC on " + self.tap + ">")

    def do(self, live: Live) -> None:
        assert self.found.nic is not None
        qmp_call(live.qmp(self.vm), "device_del", id=self.found.nic.id)


@dataclass
class WaitReleased:
    """Step: wait up to ``unplug.WAIT`` s for DEVICE_DELETED; a guest that does not answer leaves it pending."""

    vm: str
    found: Found
    plan: Plan  # its ``pending`` says so

    def describe(self) -> str:
        return f"# wait up to {unplug.WAIT:g} s for the guest to release the NIC (DEVICE_DELETED)"

    def do(self, live: Live) -> None:
        assert self.found.nic is not None
        gone = unplug.wait_gone(live.qmp(self.vm), self.found.nic.id, unplug.WAIT)
        self.found.unplugged = gone
        self.plan.pending = not gone


@dataclass
class NetdevDel:
    """Step: QEMU's tap backend (QMP ``netdev_del``), once the guest released the NIC."""

    vm: str
    found: Found

    def describe(self) -> str:
        nic = self.found.nic
        if nic is None:
            return qmp_text(self.vm, "netdev_del", id="<its netdev>")
        return qmp_text(self.vm, "netdev_del", id=nic.netdev) + "   # once released"

    def do(self, live: Live) -> None:
        if self.found.unplugged:
            assert self.found.nic is not None
            qmp_call(live.qmp(self.vm), "netdev_del", id=self.found.nic.netdev)


@dataclass
class TapDel:
    """Step: the tap (by the ifindex prepare saw), once the guest released the NIC."""

    hl: Optional[str]
    tap: str
    found: Found

    def describe(self) -> str:
        return ip_command(self.hl, "link", "del", "dev", self.tap) + ("   # once released" if self.found.nic else "")

    def do(self, live: Live) -> None:
        if self.found.unplugged:
            assert self.found.tap is not None
            live.ns(HOST).link_del(self.found.tap.ifindex)


@dataclass
class UnplugChecks:
    """A delete's prepare, verify, rollback and record: they share ``found``."""

    plan: Plan  # prepare re-renders its steps; ``pending`` is the wait's verdict
    labels: dict[str, Optional[str]]
    vm: VM
    tap: str
    found: Found
    steps: list[Any] = field(default_factory=list)  # the step objects, re-rendered once prepare found the NIC

    def prepare(self, live: Live) -> None:
        vm, tap = self.vm, self.tap
        nic = _nic_on(live, vm, tap)
        if nic is None:
            raise InvalidInput(f"{vm.name}: no NIC uses {tap} (already unplugged?)", rule="vm-no-nic")
        self.found.nic, self.found.tap = nic, read_end(live.ns(HOST), tap)
        for step, obj in zip(self.plan.steps, self.steps):
            step.command = obj.describe()

    def verify(self, live: Live) -> list[str]:
        if self.plan.pending:
            return []
        return [f"{self.tap} still exists"] if read_end(live.ns(HOST), self.tap) is not None else []

    def rollback(self, live: Live) -> list[str]:
        vm, tap, nic, was = self.vm, self.tap, self.found.nic, self.found.tap
        q = live.qmp(vm.name)
        if nic is None or qmpview.device_present(q, nic.id):
            return []
        if read_end(live.ns(HOST), tap) is None and was:
            live.ns(HOST).tap_add(tap)
            for st in converge(HOST, self.labels[HOST], EndSnapshot(tap, "tun", None, 1500, False), was):
                st.action(live)
        if nic.netdev not in qmpview.nics(q)[1]:
            qmp_call(q, "netdev_add", type="tap", id=nic.netdev, ifname=tap, script="no", downscript="no")
        _plug_back(q, nic)
        return [] if qmpview.device_present(q, nic.id) else [f"{vm.name}: {nic.id} could not be plugged back"]

    def record(self, live: Live) -> dict[str, Any]:
        t, nic = self.found.tap, self.found.nic
        assert nic is not None
        return {
            "target": {"kind": "vme", "owner": self.vm.name, "qmp": self.vm.qmp, "tap": self.tap},
            "before": {"tap": t.to_json() if t else None, "nic": nic.to_json()},
            "after": {"pending": self.plan.pending},
        }


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
    found = Found()
    checks = UnplugChecks(plan, labels, vm, tap, found)
    checks.steps = [DeviceDel(vm.name, tap, found), WaitReleased(vm.name, found, plan), NetdevDel(vm.name, found),
                    TapDel(labels[HOST], tap, found)]
    for obj in checks.steps:
        plan.add_step(obj)
    plan.prepare, plan.verify, plan.rollback, plan.record = checks.prepare, checks.verify, checks.rollback, checks.record
    return plan


# -- replug ------------------------------------------------------------------------------------------------
@dataclass
class Unplug:
    """Step: ``device_del`` and wait ``unplug.REPLUG_WAIT`` s for the guest; unplug-pending when it does not."""

    vm: str
    found: Found

    def describe(self) -> str:
        return qmp_text(self.vm, "device_del", id="<nic>")

    def do(self, live: Live) -> None:
        nic, q = self.found.nic, live.qmp(self.vm)
        assert nic is not None
        qmp_call(q, "device_del", id=nic.id)
        if not unplug.wait_gone(q, nic.id, unplug.REPLUG_WAIT):
            raise ChangeFailed(
                f"{self.vm} did not release {nic.id} within {unplug.REPLUG_WAIT:g} s: it "
                "stays 'unplug pending' until the guest acknowledges; the MAC was not changed",
                rule="unplug-pending",
            )


@dataclass
class Replug:
    """Step: the same NIC (id, netdev, bus) plugged back with the new MAC."""

    vm: str
    found: Found
    mac: str

    def describe(self) -> str:
        return qmp_text(self.vm, "device_add", driver=MODEL, mac=self.mac, netdev="<same>", bus="<same>")

    def do(self, live: Live) -> None:
        assert self.found.nic is not None
        _plug_back(live.qmp(self.vm), self.found.nic, self.mac)


@dataclass
class ReplugChecks:
    """A replug's prepare, rollback and record: they share ``found``."""

    vm: VM
    tap: Optional[str]
    mac: str
    found: Found

    def prepare(self, live: Live) -> None:
        nic = _nic_on(live, self.vm, self.tap)
        if nic is None or nic.netdev is None:
            raise InvalidInput(f"{self.vm.name}: no NIC uses {self.tap}", rule="vm-no-nic")
        self.found.nic = nic

    def rollback(self, live: Live) -> list[str]:
        q, n = live.qmp(self.vm.name), self.found.nic
        if n is None or qmpview.device_present(q, n.id):
            return []
        _plug_back(q, n)
        return [] if qmpview.device_present(q, n.id) else [f"{n.id} could not be plugged back"]

    def record(self, live: Live) -> dict[str, Any]:
        n = self.found.nic
        assert n is not None
        return {
            "target": {"kind": "vme", "owner": self.vm.name, "qmp": self.vm.qmp, "tap": self.tap, "end": "guest"},
            "before": {"nic": n.to_json()},
            "after": {"nic": {**n.to_json(), "mac": self.mac}},
        }


def plan_replug(labels: dict[str, Optional[str]], vm: VM, adapter: Adapter, mac: str) -> Plan:
    """A new guest MAC: unplug the NIC, wait for the guest, plug it back with ``mac``."""
    plan = Plan("set", vm.name, f"replug {adapter.key} with MAC {mac}")
    plan.touched = [(HOST, adapter.vm_adapter.host_ifname or "")] if adapter.vm_adapter else []
    tap = adapter.vm_adapter.host_ifname if adapter.vm_adapter else None
    checks = ReplugChecks(vm, tap, mac, Found())
    plan.prepare = checks.prepare
    plan.add_step(Unplug(vm.name, checks.found))
    plan.add_step(Replug(vm.name, checks.found, mac))
    plan.rollback, plan.record = checks.rollback, checks.record
    return plan
