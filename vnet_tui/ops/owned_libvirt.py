"""libvirt: a VM's NIC attached and detached through libvirt (``virsh attach-device`` / ``detach-device``).

Never behind libvirt's back over its QMP monitor: libvirt names the NIC,
its tap and its slot.  Each plan checks the result by asking libvirt
again and detaches again when a later step fails.
"""

from __future__ import annotations

from html import escape
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter

from . import macs, persist, validate
from .askowner import _again, _module
from .facts import ServerFacts
from .plan import Plan
from .requests import AddRequest, DelRequest


def interface_xml(bridge: str, mac: str, model: str = "virtio") -> str:
    return (f"<interface type='bridge'><source bridge='{escape(bridge, True)}'/>"
            f"<mac address='{mac}'/><model type='{escape(model, True)}'/></interface>")


def _nics(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in details.get("nics") or [] if isinstance(n, dict)]


def plan_libvirt_add(facts: ServerFacts, vm: VM, req: AddRequest) -> Plan:
    """``virsh attach-device DOMAIN <interface> --live [--config]``: libvirt names the NIC and its tap."""
    assert vm.owner is not None
    extra = [flag for flag, given in (("--ifname", req.ifname), ("--host-ifname", req.host_ifname),
                                      ("--ip", req.ips), ("--mtu", req.mtu), ("--routed", req.routed),
                                      ("--host-mac", req.host_mac not in (None, "", "auto")))
             if given]
    if extra:
        raise InvalidInput(
            f"libvirt names the NIC and its tap itself: {', '.join(extra)} cannot be given for libvirt VM "
            f"{vm.name} (a guest's addresses are set inside the guest)", rule="libvirt-options")
    if not req.bridge:
        raise InvalidInput(f"libvirt attaches {vm.name}'s new NIC to a bridge: choose one (--bridge BR)",
                           rule="bridge-required")
    facts.bridge(req.bridge)
    lv = _module("libvirt")
    ok, why = lv.can_hotplug(vm.owner.details)
    if not ok:
        raise InvalidInput(f"{vm.name} cannot take another NIC live: {why}", rule="no-hotplug-slot")
    if vm.owner.state not in ("running", "paused"):
        raise InvalidInput(f"{vm.name} is {vm.owner.state}: libvirt hot-plugs into a running VM only",
                           rule="vm-not-running")
    warnings: list[str] = []
    taken = dict(facts.macs())
    mac = macs.guest_mac(taken) if req.mac in (None, "", "auto") else validate.mac(req.mac, taken, warnings)
    dom, uuid = vm.owner.name, vm.owner.id
    flags = " --live" + (" --config" if req.persistent else "")
    plan = Plan("add", vm.name, f"attach a NIC ({mac}) on {req.bridge} to libvirt VM {vm.name}", warnings=warnings)
    got: dict[str, Any] = {}

    def attach(live: Any) -> None:
        got.update(lv.attach_interface(vm.owner.control, dom, bridge=req.bridge, mac=mac,
                                       live=True, persistent=req.persistent) or {})

    plan.add(f"virsh attach-device {dom} '{interface_xml(req.bridge, mac)}'{flags}", attach)

    def now_nic() -> Optional[dict[str, Any]]:
        rec = _again(vm)
        return next((n for n in _nics(rec.details) if (n.get("mac") or "").lower() == mac), None) if rec else None

    def verify(live: Any) -> list[str]:
        nic = now_nic()
        if nic is None:
            return [f"libvirt does not show a NIC {mac} on {vm.name}"]
        got.update({k: v for k, v in nic.items() if k not in got})
        return []

    def rollback(live: Any) -> list[str]:
        if now_nic() is None:
            return []
        try:
            lv.detach_interface(vm.owner.control, dom, mac=mac, live=True, persistent=req.persistent)
        except Exception as e:
            return [f"the NIC {mac} is still attached to {vm.name}: {e}"]
        return []

    plan.verify, plan.rollback = verify, rollback
    target = {"kind": "libvirt-nic", "owner": vm.name, "domain": dom, "uuid": uuid, "mac": mac,
              "bridge": req.bridge, "persistent": req.persistent}
    plan.record = lambda live: {"target": target, "before": None, "after": {"nic": dict(got)}}
    plan.persists = persist.libvirt(vm, req.persistent)
    plan.owner = persist.owner_record(vm, kept_by_owner=True)
    plan.touched = [("host", req.bridge)]
    return plan


def plan_libvirt_delete(vm: VM, adapter: Adapter, req: DelRequest) -> Plan:
    """``virsh detach-device DOMAIN <interface> --live [--config]``: the guest releases the NIC."""
    assert vm.owner is not None and adapter.vm_adapter is not None
    lv = _module("libvirt")
    nic = next((n for n in _nics(vm.owner.details)
                if (n.get("mac") or "").lower() == (adapter.vm_adapter.guest_mac or "").lower()), None)
    if nic is None:
        raise NotFound(f"libvirt does not list {adapter.vm_adapter.id} of {vm.name}", rule="interface")
    mac = nic["mac"].lower()
    dom = vm.owner.name
    flags = " --live" + (" --config" if req.persistent else "")
    plan = Plan("del", vm.name, f"detach {nic.get('alias') or mac} from libvirt VM {vm.name}")
    result: dict[str, Any] = {}

    def detach(live: Any) -> None:
        out = lv.detach_interface(vm.owner.control, dom, mac=mac, live=True, persistent=req.persistent)
        if isinstance(out, dict):
            result.update(out)

    xml = interface_xml(nic.get("bridge") or nic.get("source") or "?", mac, nic.get("model") or "virtio")
    plan.add(f"virsh detach-device {dom} '{xml}'{flags}", detach)

    def verify(live: Any) -> list[str]:
        rec = _again(vm)
        still = rec is not None and any((n.get("mac") or "").lower() == mac for n in _nics(rec.details))
        if still or result.get("pending"):
            plan.notes.append(f"unplug pending: libvirt asked {vm.name}'s guest to release the NIC; libvirt "
                              "removes it and its tap when the guest does (a guest without an OS never does)")
        return []

    plan.verify = verify
    target = {"kind": "libvirt-nic", "owner": vm.name, "domain": dom, "uuid": vm.owner.id, "mac": mac,
              "bridge": nic.get("bridge"), "persistent": req.persistent, "alias": nic.get("alias")}
    plan.record = lambda live: {"target": target, "before": {"nic": nic}, "after": None}
    in_config = vm.owner.details.get("persistent") and nic.get("config") is not False
    plan.persists = ("yes: removed from the domain's config too" if req.persistent else
                     f"until {vm.name} restarts, if the domain's config has this NIC: libvirt then attaches "
                     "it again (--persistent removes it there too)" if in_config else
                     f"yes: {vm.name}'s domain config does not have this NIC, so nothing brings it back")
    plan.owner = persist.owner_record(vm, kept_by_owner=True)
    return plan


def check_libvirt_edit(vm: VM) -> None:
    """A libvirt VM's guest NIC is libvirt's: its MAC changes through libvirt, not over QMP."""
    raise InvalidInput(
        f"{vm.name}'s guest NICs belong to libvirt: change the guest MAC with libvirt "
        f"(virsh detach-interface + attach-interface on {vm.owner_name}), or delete and add the adapter here",
        rule="owner-change")
