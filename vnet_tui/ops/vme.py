"""VM adapters (vme): a persistent tap in the host namespace, hot-plugged over QMP.

Add: ``ip tuntap add`` (persistent, tagged half-made), MAC/MTU/bridge/up,
re-read the MAC ~0.5 s later (udev), commit the tag, then — if the VM has
a QMP socket — ``netdev_add`` (tap, ``ifname=``) and ``device_add
virtio-net-pci`` with the guest MAC on a free hot-plug root port, the
last change of all (QEMU cannot take a plug back without the guest).
Without QMP the tap is left ready and the QEMU arguments are printed.
Removal and replug are in vme_remove.py.

Steps are small typed objects (``describe`` renders, ``do`` makes); what
they learn (tap ifindex, NIC ids) goes into ``Made`` and ``NicIds`` for
the checks (``TapChecks``) to read, never into a scratch dict.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM
from vnet_tui.net.faults import qmp_call
from vnet_tui.net.ipcommand import ip_command

from . import macs, names, qmpview, unplug, validate
from .converge import converge
from .endstate import EndSnapshot, differences, read_end
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan, Step, Unverified
from .requests import AddRequest

MODEL = "virtio-net-pci"


def qmp_text(vm: str, execute: str, **args: Any) -> str:
    return f"qmp {vm} {execute} {json.dumps(args, separators=(',', ':'))}"


def qemu_args(netdev: str, tap: str, mac: str, dev: str) -> str:
    return (
        f"-netdev tap,id={netdev},ifname={tap},script=no,downscript=no "
        f"-device {MODEL},netdev={netdev},mac={mac},id={dev}"
    )


def plan_add(facts: ServerFacts, labels: dict[str, Optional[str]], vm: VM, req: AddRequest) -> Plan:
    """Validate a VM adapter request against the topology and plan it (no kernel call)."""
    warnings: list[str] = []
    if req.ifname:
        raise InvalidInput("a VM names its NICs itself: --ifname is for containers", rule="vm-ifname")
    validate.vm_adapter_options(req.ips, req.routed)
    taken = facts.macs()
    gmac = macs.guest_mac(taken) if req.mac in (None, "", "auto") else validate.mac(req.mac, taken, warnings)
    taken_plus = {**taken, gmac: f"the new guest NIC of {vm.name}"}
    hmac = (
        macs.host_mac(taken_plus)
        if req.host_mac in (None, "", "auto")
        else validate.mac(req.host_mac, taken_plus, warnings)
    )
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
    ids = NicIds(f"net{n}", f"net{n}")  # one id for both, as the lab does
    plan = Plan("add", vm.name, f"add {tap} to {vm.name}", warnings=warnings)
    want = EndSnapshot(tap, "tun", hmac, mtu, True, [], req.bridge)
    return creation(plan, labels, vm, want, gmac, ids)


@dataclass
class NicIds:
    """The NIC's ids in QEMU; ``bus`` None until prepare picks a free root port."""

    netdev: str
    device: str
    bus: Optional[str] = None


@dataclass
class Made:
    """What the creation's steps learn as they run, handed to its checks (no scratch dict)."""

    tap_index: Optional[int] = None  # the tap we made, by ifindex: rollback deletes it, never by name


@dataclass
class MakeTap:
    """Step: a persistent tap in the host namespace."""

    hl: Optional[str]
    tap: str
    made: Made

    def describe(self) -> str:
        return ip_command(self.hl, "tuntap", "add", "dev", self.tap, "mode", "tap")

    def do(self, live: Live) -> None:
        live.ns(HOST).tap_add(self.tap)
        self.made.tap_index = live.index(HOST, self.tap)


@dataclass
class SetAlias:
    """Step: the tap's alias (``shown`` as the command writes it)."""

    hl: Optional[str]
    tap: str
    alias: str
    shown: str

    def describe(self) -> str:
        return ip_command(self.hl, "link", "set", "dev", self.tap, "alias", self.shown)

    def do(self, live: Live) -> None:
        live.ns(HOST).link_set(live.index(HOST, self.tap), ifalias=self.alias)


@dataclass
class RecheckMac:
    """Step: udev may rewrite a tap's MAC shortly after it is set: read it again."""

    tap: str
    mac: Optional[str]

    def describe(self) -> str:
        return f"# re-read {self.tap}'s MAC after 0.5 s"

    def do(self, live: Live) -> None:
        time.sleep(0.5)
        got = read_end(live.ns(HOST), self.tap)
        if got is None or got.mac != self.mac:
            raise Unverified([f"{self.tap}: MAC is {got.mac if got else None}, expected {self.mac} (rewritten?)"])


@dataclass
class NetdevAdd:
    """Step: QEMU's tap backend on our tap (QMP ``netdev_add``)."""

    vm: str
    ids: NicIds
    tap: str

    def describe(self) -> str:
        return qmp_text(self.vm, "netdev_add", type="tap", id=self.ids.netdev, ifname=self.tap, script="no",
                        downscript="no")

    def do(self, live: Live) -> None:
        qmp_call(live.qmp(self.vm), "netdev_add", type="tap", id=self.ids.netdev, ifname=self.tap, script="no",
                 downscript="no")


@dataclass
class DeviceAdd:
    """Step: the guest's NIC on a free root port (QMP ``device_add``), the last change of all."""

    vm: str
    ids: NicIds
    mac: str

    def describe(self) -> str:
        return qmp_text(self.vm, "device_add", driver=MODEL, id=self.ids.device, netdev=self.ids.netdev, mac=self.mac,
                        bus=self.ids.bus or "<free root port>")

    def do(self, live: Live) -> None:
        qmp_call(live.qmp(self.vm), "device_add", driver=MODEL, id=self.ids.device, netdev=self.ids.netdev,
                 mac=self.mac, bus=self.ids.bus)


@dataclass
class PickPort:
    """Prepare: the ids must be free in QEMU, and a free root port is picked (the plug's command then names it)."""

    vm: str
    ids: NicIds
    plug: DeviceAdd
    plug_step: Step

    def __call__(self, live: Live) -> None:
        ids, q = self.ids, live.qmp(self.vm)
        found, loose = qmpview.nics(q)
        present = {n.netdev for n in found} | set(loose)
        if ids.netdev in present or qmpview.device_present(q, ids.device):
            raise ChangeFailed(f"{self.vm} already has a netdev {ids.netdev} or device {ids.device}", rule="vm-id-taken")
        if ids.bus is None:
            free = qmpview.free_root_ports(q)
            if not free:
                raise ChangeFailed(f"{self.vm} has no free hot-plug root port (pcie-root-port)",
                                   rule="vm-no-free-port")
            ids.bus = free[0]
            self.plug_step.command = self.plug.describe()


@dataclass
class TapChecks:
    """A creation's verify, rollback and record: they read what its steps learnt (``made``, ``ids``)."""

    vm: VM
    want: EndSnapshot
    gmac: str
    ids: NicIds
    made: Made

    def verify(self, live: Live) -> list[str]:
        vm, tap = self.vm, self.want.ifname
        problems = differences(self.want, read_end(live.ns(HOST), tap))
        if vm.qmp:
            q = live.qmp(vm.name)
            nic = next((n for n in qmpview.nics(q)[0] if n.id == self.ids.device), None)
            if nic is None or nic.mac != self.gmac or nic.ifname != tap:
                problems.append(f"{vm.name}: QEMU does not show {self.ids.device} with MAC {self.gmac} on {tap}")
        return problems

    def rollback(self, live: Live) -> list[str]:
        vm, tap, ids = self.vm, self.want.ifname, self.ids
        left: list[str] = []
        if vm.qmp:
            q = live.qmp(vm.name)
            if qmpview.device_present(q, ids.device):
                left += unplug.unplug_now(q, ids.device)
            nics, loose = qmpview.nics(q)
            if ids.netdev in loose and not left:
                qmp_call(q, "netdev_del", id=ids.netdev)
        index = self.made.tap_index
        if index is not None and read_end(live.ns(HOST), index=index) is not None:
            if not left:
                live.ns(HOST).link_del(index)
            else:
                left.append(f"{tap} is kept until {vm.name} releases the NIC")
        return left

    def record(self, live: Live) -> dict[str, Any]:
        vm, tap, ids = self.vm, self.want.ifname, self.ids
        got = read_end(live.ns(HOST), tap)
        return {
            "target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap},
            "before": None,
            "after": {
                "tap": got.to_json() if got else None,
                "nic": {"id": ids.device, "netdev": ids.netdev, "mac": self.gmac, "bus": ids.bus, "model": MODEL}
                if vm.qmp
                else None,
            },
        }


def creation(
    plan: Plan, labels: dict[str, Optional[str]], vm: VM, want: EndSnapshot, gmac: str, ids: NicIds
) -> Plan:
    """Tap, then hot-plug (also used by undo of a delete, with the old ids and bus)."""
    hl, tap = labels[HOST], want.ifname
    alias = names.half_made_alias()
    made = Made()
    plan.add_step(MakeTap(hl, tap, made))
    plan.add_step(SetAlias(hl, tap, alias, alias))
    fresh = EndSnapshot(tap, "tun", None, 1500, False, alias=alias)  # random MAC until we set ours
    plan.steps += converge(HOST, hl, fresh, replace(want, alias=alias))
    plan.add_step(RecheckMac(tap, want.mac))
    plan.add_step(SetAlias(hl, tap, "", "''"))
    if vm.qmp:
        plan.add_step(NetdevAdd(vm.name, ids, tap))
        plug = DeviceAdd(vm.name, ids, gmac)
        plan.prepare = PickPort(vm.name, ids, plug, plan.add_step(plug))
    else:
        plan.notes.append(
            f"{vm.name} has no QMP socket: the tap {tap} is ready; add to QEMU's arguments "
            f"for its next start: {qemu_args(ids.netdev, tap, gmac, ids.device)}"
        )
    checks = TapChecks(vm, want, gmac, ids, made)
    plan.verify, plan.rollback, plan.record = checks.verify, checks.rollback, checks.record
    return plan


def plan_recreate(labels: dict[str, Optional[str]], vm: VM, before: dict[str, Any]) -> Plan:
    """Plug a deleted adapter back as its snapshot says (undo of a delete)."""
    want = EndSnapshot.from_json(before["tap"])
    nic = before["nic"]
    plan = Plan("add", vm.name, f"re-create {want.ifname} on {vm.name}")
    return creation(
        plan,
        labels,
        vm,
        replace(want, alias=None),
        nic["mac"],
        NicIds(nic["netdev"], nic["id"], nic.get("bus")),
    )
