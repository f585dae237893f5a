"""VM adapters (vme): a persistent tap in the host namespace, hot-plugged over QMP.

Add: ``ip tuntap add`` (persistent, tagged half-made), MAC/MTU/bridge/up,
re-read the MAC ~0.5 s later (udev), commit the tag, then — if the VM has
a QMP socket — ``netdev_add`` (tap, ``ifname=``) and ``device_add
virtio-net-pci`` with the guest MAC on a free hot-plug root port, the
last change of all (QEMU cannot take a plug back without the guest).
Without QMP the tap is left ready and the QEMU arguments are printed.
Removal and replug are in vme_remove.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM
from vnet_tui.net.change import ip_command, qmp_call

from . import macs, names, qmpview, unplug, validate
from .converge import converge
from .endstate import EndSnapshot, differences, read_end
from .facts import ServerFacts
from .live import HOST, Live
from .plan import Plan, Unverified
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
    ids = {"netdev": f"net{n}", "device": f"net{n}", "bus": None}  # one id for both, as the lab does
    plan = Plan("add", vm.name, f"add {tap} to {vm.name}", warnings=warnings)
    want = EndSnapshot(tap, "tun", hmac, mtu, True, [], req.bridge)
    return creation(plan, labels, vm, want, gmac, ids)


def creation(
    plan: Plan, labels: dict[str, Optional[str]], vm: VM, want: EndSnapshot, gmac: str, ids: dict[str, Any]
) -> Plan:
    """Tap, then hot-plug (also used by undo of a delete, with the old ids and bus)."""
    hl, tap = labels[HOST], want.ifname
    alias = names.half_made_alias()

    def make_tap(live: Live) -> None:
        live.ns(HOST).tap_add(tap)
        live.scratch["tap_index"] = live.index(HOST, tap)

    plan.add(ip_command(hl, "tuntap", "add", "dev", tap, "mode", "tap"), make_tap)
    plan.add(
        ip_command(hl, "link", "set", "dev", tap, "alias", alias),
        lambda live: live.ns(HOST).link_set(live.index(HOST, tap), ifalias=alias),
    )
    made = EndSnapshot(tap, "tun", None, 1500, False, alias=alias)  # random MAC until we set ours
    plan.steps += converge(HOST, hl, made, replace(want, alias=alias))

    def recheck(live: Live) -> None:  # udev may rewrite a tap's MAC shortly after
        time.sleep(0.5)
        got = read_end(live.ns(HOST), tap)
        if got is None or got.mac != want.mac:
            raise Unverified([f"{tap}: MAC is {got.mac if got else None}, expected {want.mac} (rewritten?)"])

    plan.add(f"# re-read {tap}'s MAC after 0.5 s", recheck)
    plan.add(
        ip_command(hl, "link", "set", "dev", tap, "alias", "''"),
        lambda live: live.ns(HOST).link_set(live.index(HOST, tap), ifalias=""),
    )
    netdev, dev = ids["netdev"], ids["device"]
    if vm.qmp:

        def pick(live: Live) -> None:
            q = live.qmp(vm.name)
            found, loose = qmpview.nics(q)
            present = {n.netdev for n in found} | set(loose)
            if netdev in present or qmpview.device_present(q, dev):
                raise ChangeFailed(
                    f"{vm.name} already has a netdev {netdev} or device {dev}", rule="vm-id-taken"
                )
            if ids.get("bus") is None:
                free = qmpview.free_root_ports(q)
                if not free:
                    raise ChangeFailed(
                        f"{vm.name} has no free hot-plug root port (pcie-root-port)", rule="vm-no-free-port"
                    )
                ids["bus"] = free[0]
                plug.command = qmp_text(
                    vm.name, "device_add", driver=MODEL, id=dev, netdev=netdev, mac=gmac, bus=ids["bus"]
                )

        plan.prepare = pick
        plan.add(
            qmp_text(vm.name, "netdev_add", type="tap", id=netdev, ifname=tap, script="no", downscript="no"),
            lambda live: qmp_call(
                live.qmp(vm.name),
                "netdev_add",
                type="tap",
                id=netdev,
                ifname=tap,
                script="no",
                downscript="no",
            ),
        )
        plan.add(
            qmp_text(
                vm.name,
                "device_add",
                driver=MODEL,
                id=dev,
                netdev=netdev,
                mac=gmac,
                bus=ids.get("bus") or "<free root port>",
            ),
            lambda live: qmp_call(
                live.qmp(vm.name), "device_add", driver=MODEL, id=dev, netdev=netdev, mac=gmac, bus=ids["bus"]
            ),
        )
        plug = plan.steps[-1]
    else:
        plan.notes.append(
            f"{vm.name} has no QMP socket: the tap {tap} is ready; add to QEMU's arguments "
            f"for its next start: {qemu_args(netdev, tap, gmac, dev)}"
        )

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
        return {
            "target": {"kind": "vme", "owner": vm.name, "qmp": vm.qmp, "tap": tap},
            "before": None,
            "after": {
                "tap": got.to_json() if got else None,
                "nic": {"id": dev, "netdev": netdev, "mac": gmac, "bus": ids.get("bus"), "model": MODEL}
                if vm.qmp
                else None,
            },
        }

    plan.verify, plan.rollback, plan.record = verify, rollback, record
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
        {"netdev": nic["netdev"], "device": nic["id"], "bus": nic.get("bus")},
    )
