"""Changes that go through the target's owner: docker/podman networks, libvirt interfaces.

When a container's engine has its own way to give it an adapter (the
bridge the operator chose is one of its networks), that way is the
default: ``docker network connect`` keeps the adapter across restarts;
a raw veth (``--raw``) does not.  A libvirt VM's NICs are always changed
through libvirt (attach/detach of an ``<interface>``), never behind its
back over its QMP monitor.  Each plan says what it runs in the owner's
own words, checks the result by asking the owner again, and undoes
itself through the owner when a later step fails.
"""

from __future__ import annotations

import importlib
from html import escape
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Container, Interface, VMAdapter
from vnet_tui.owners.registry import scan_all

from . import macs, persist, validate
from .facts import Facts
from .plan import Plan
from .requests import AddRequest, DelRequest

ENGINES = persist.ENGINES


def _module(runtime: str) -> Any:
    return importlib.import_module(f"vnet_tui.owners.{runtime}")


def _networks(details: dict[str, Any]) -> list[str]:
    """The names of the networks a container is on, from its owner's details."""
    nets = details.get("networks") or []
    if isinstance(nets, dict):
        return sorted(nets)
    return sorted(n.get("name") for n in nets if isinstance(n, dict) and n.get("name"))


def _again(t: Any) -> Optional[Any]:
    """The owner's record of ``t`` as it is now (asked anew), or None."""
    assert t.owner is not None
    for rec in scan_all(only=(t.runtime,)).records:
        if rec.id == t.owner.id:
            return rec
    return None


# -- docker / podman: network connect / disconnect ------------------------------------
def engine_network(t: Container, bridge: Optional[str], host_inode: int = 0) -> Optional[str]:
    """The engine network whose bridge is ``bridge``, when ``t`` belongs to docker or podman.

    Bridge names are per namespace: the engine's ``br-…`` is the host's
    only when the engine runs in the host's network namespace.
    """
    if not bridge or t.runtime not in ENGINES or t.owner is None:
        return None
    engine_ns = t.owner.details.get("daemon_netns_inode") or t.owner.control.get("netns_inode")
    if engine_ns and host_inode and engine_ns != host_inode:
        return None
    try:
        return _module(t.runtime).network_of_bridge(t.owner.details, bridge)
    except (AttributeError, ImportError):
        return None


def plan_engine_connect(facts: Facts, t: Container, network: str, req: AddRequest) -> Plan:
    """``docker|podman network connect NETWORK CONTAINER``: the engine makes and keeps the adapter."""
    assert t.owner is not None
    extra = [flag for flag, given in (("--ifname", req.ifname), ("--host-ifname", req.host_ifname),
                                      ("--mtu", req.mtu), ("--routed", req.routed),
                                      ("--host-mac", req.host_mac not in (None, "", "auto")))
             if given]
    if extra:
        raise InvalidInput(
            f"{t.runtime} names and sizes the interfaces of its networks itself: {', '.join(extra)} "
            f"cannot be given when {t.runtime} connects {t.name} to {network}; add --raw for a plain veth "
            f"(lost when {t.name} restarts)", rule="engine-options")
    if network in _networks(t.owner.details):
        raise InvalidInput(f"{t.name} is already on {t.runtime} network {network}", rule="engine-connected")
    warnings: list[str] = []
    mac = None if req.mac in (None, "", "auto") else validate.mac(req.mac, dict(facts.macs()), warnings)
    ipv4 = ipv6 = None
    for text in req.ips:
        addr = validate.ip(text)
        if addr.version == 4 and ipv4 is None:
            ipv4 = str(addr.ip)
        elif addr.version == 6 and ipv6 is None:
            ipv6 = str(addr.ip)
        else:
            raise InvalidInput(f"{t.runtime} takes one IPv4 and one IPv6 address per network", rule="engine-options")
    mod = _module(t.runtime)
    name = t.owner.name
    flags = "".join(f" --{k} {v}" for k, v in (("ip", ipv4), ("ip6", ipv6), ("mac-address", mac)) if v)
    plan = Plan("add", t.name, f"connect {t.name} to {t.runtime} network {network}", warnings=warnings)
    kw = {k: v for k, v in (("ipv4", ipv4), ("ipv6", ipv6), ("mac", mac)) if v}
    plan.add(f"{t.runtime} network connect{flags} {network} {name}",
             lambda live: mod.connect(t.owner.control, t.owner.id, network, **kw))

    def verify(live: Any) -> list[str]:
        rec = _again(t)
        if rec is None:
            return [f"{t.runtime} no longer reports {t.name}"]
        if network not in _networks(rec.details):
            return [f"{t.runtime} does not show {t.name} on {network}"]
        return []

    def rollback(live: Any) -> list[str]:
        rec = _again(t)
        if rec is not None and network in _networks(rec.details):
            try:
                mod.disconnect(t.owner.control, t.owner.id, network)
            except Exception as e:  # say what is left
                return [f"{t.name} is still on {network}: {e}"]
        return []

    plan.verify, plan.rollback = verify, rollback
    target = {"kind": "engine", "owner": t.name, "runtime": t.runtime, "network": network, "id": t.owner.id}
    plan.record = lambda live: {"target": target, "before": None, "after": {"network": network}}
    plan.persists = persist.engine(t, network)
    plan.owner = persist.owner_record(t, kept_by_owner=True)
    return plan


def engine_endpoint(t: Container, adapter: Adapter) -> Optional[str]:
    """The engine network ``adapter`` is ``t``'s endpoint on (matched by the guest end's MAC)."""
    if t.runtime not in ENGINES or t.owner is None or adapter.guest is None:
        return None
    mac = (adapter.guest.mac or "").lower()
    nets = t.owner.details.get("networks") or []
    items = nets.items() if isinstance(nets, dict) else [(n.get("name"), n) for n in nets if isinstance(n, dict)]
    for name, n in items:
        if isinstance(n, dict) and mac and (n.get("mac") or n.get("mac_address") or "").lower() == mac:
            return name
    return None


def plan_engine_disconnect(t: Container, adapter: Adapter, network: str) -> Plan:
    assert t.owner is not None and adapter.guest is not None
    mod = _module(t.runtime)
    plan = Plan("del", t.name, f"disconnect {t.name} from {t.runtime} network {network}")
    plan.add(f"{t.runtime} network disconnect {network} {t.owner.name}",
             lambda live: mod.disconnect(t.owner.control, t.owner.id, network))

    def verify(live: Any) -> list[str]:
        rec = _again(t)
        return [f"{t.runtime} still shows {t.name} on {network}"] if rec and network in _networks(rec.details) else []

    def rollback(live: Any) -> list[str]:
        rec = _again(t)
        if rec is not None and network not in _networks(rec.details):
            try:
                mod.connect(t.owner.control, t.owner.id, network)
            except Exception as e:
                return [f"{t.name} could not be put back on {network}: {e}"]
        return []

    plan.verify, plan.rollback = verify, rollback
    target = {"kind": "engine", "owner": t.name, "runtime": t.runtime, "network": network, "id": t.owner.id}
    plan.record = lambda live: {"target": target, "before": {"network": network, "mac": adapter.guest.mac},
                                "after": None}
    plan.persists = f"yes: {t.runtime} forgets the network for {t.name} (it stays off after restarts)"
    plan.owner = persist.owner_record(t, kept_by_owner=True)
    return plan


# -- libvirt: attach / detach an <interface> ---------------------------------------------
def interface_xml(bridge: str, mac: str, model: str = "virtio") -> str:
    return (f"<interface type='bridge'><source bridge='{escape(bridge, True)}'/>"
            f"<mac address='{mac}'/><model type='{escape(model, True)}'/></interface>")


def _nics(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in details.get("nics") or [] if isinstance(n, dict)]


def plan_libvirt_add(facts: Facts, vm: VM, req: AddRequest) -> Plan:
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


def undo_unsupported(t: dict[str, Any]) -> ChangeFailed:
    return ChangeFailed(f"cannot undo a change of kind {t.get('kind')}", rule="undo-kind")


# -- undo: the inverse, through the same owner ---------------------------------------------
OWNER_KINDS = ("engine", "libvirt-nic")


def _by_owner_id(topology: Any, runtime: str, oid: str) -> Any:
    for t in [*topology.containers, *topology.vms]:
        if t.runtime == runtime and t.owner is not None and t.owner.id == oid:
            return t
    return None


def inverse(entry: dict[str, Any], topology: Any) -> Plan:
    """The plan that reverts an owner-path change, found by the owner's id (names can change)."""
    op, t = entry["op"], entry["target"]
    if t["kind"] == "engine":
        ct = _by_owner_id(topology, t["runtime"], t["id"])
        if ct is None:
            raise NotFound(f"{t['runtime']} no longer has container {t['owner']} ({t['id'][:12]}): "
                           "the change cannot be undone", rule="undo-target")
        if op == "add":
            if t["network"] not in _networks(ct.owner.details):
                raise NotFound(f"{ct.name} is no longer on {t['network']}", rule="undo-target")
            nets = ct.owner.details.get("networks") or []
            mac = next((n.get("mac") for n in nets if isinstance(n, dict) and n.get("name") == t["network"]), None)
            guest = next((i for i in ct.interfaces if mac and (i.mac or "").lower() == mac.lower()), None)
            adapter = Adapter("veth", ct.name, guest, None)
            if guest is None:
                adapter = Adapter("veth", ct.name, Interface("?", 0, "veth", mac, 0, "unknown"), None)
            return plan_engine_disconnect(ct, adapter, t["network"])
        if op == "del":
            return plan_engine_connect(Facts(topology), ct, t["network"], AddRequest(ct.name))
    if t["kind"] == "libvirt-nic":
        vm = _by_owner_id(topology, "libvirt", t["uuid"])
        if vm is None:
            raise NotFound(f"libvirt no longer runs {t['domain']}: the change cannot be undone", rule="undo-target")
        if op == "add":
            nic = next((n for n in _nics(vm.owner.details) if (n.get("mac") or "").lower() == t["mac"]), None)
            if nic is None:
                raise NotFound(f"{vm.name} has no NIC {t['mac']} any more", rule="undo-target")
            adapter = Adapter("vme", vm.name, None, None, VMAdapter(nic.get("alias") or "?", t["mac"], nic.get("target")))
            return plan_libvirt_delete(vm, adapter, DelRequest(vm.name, nic.get("alias") or t["mac"],
                                                               persistent=bool(t.get("persistent"))))
        if op == "del":
            req = AddRequest(vm.name, mac=t["mac"], bridge=t.get("bridge"), persistent=bool(t.get("persistent")))
            return plan_libvirt_add(Facts(topology), vm, req)
    raise undo_unsupported(t)
