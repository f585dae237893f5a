"""Changes that go through the target's owner: docker/podman networks, libvirt interfaces.

When a container's engine has its own way to give it an adapter (the
bridge the operator chose is one of its networks), that way is the
default: ``docker network connect`` keeps the adapter across restarts;
a raw veth (``--raw``) does not.  A libvirt VM's NICs are always changed
through libvirt (attach/detach of an ``<interface>``), never behind its
back over its QMP monitor.  Each plan says what it runs in the owner's
own words, checks the result by asking the owner again, and undoes
itself through the owner when a later step fails.

The plans are ``owned_engine``'s (docker/podman) and ``owned_libvirt``'s,
importable from here; this module holds their inverse (undo).
"""

from __future__ import annotations

from typing import Any

from vnet_tui.core.errors import ChangeFailed, NotFound
from vnet_tui.core.model import Adapter, Interface, VMNic

from .facts import ServerFacts
from .owned_engine import (
    ENGINES,
    _networks,
    engine_endpoint,
    engine_network,
    plan_engine_connect,
    plan_engine_disconnect,
)
from .owned_libvirt import _nics, check_libvirt_edit, interface_xml, plan_libvirt_add, plan_libvirt_delete
from .plan import Plan
from .requests import AddRequest, DelRequest

__all__ = ["ENGINES", "OWNER_KINDS", "check_libvirt_edit", "engine_endpoint", "engine_network", "interface_xml",
           "inverse", "plan_engine_connect", "plan_engine_disconnect", "plan_libvirt_add", "plan_libvirt_delete",
           "undo_unsupported"]


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
            return plan_engine_connect(ServerFacts(topology), ct, t["network"], AddRequest(ct.name))
    if t["kind"] == "libvirt-nic":
        vm = _by_owner_id(topology, "libvirt", t["uuid"])
        if vm is None:
            raise NotFound(f"libvirt no longer runs {t['domain']}: the change cannot be undone", rule="undo-target")
        if op == "add":
            nic = next((n for n in _nics(vm.owner.details) if (n.get("mac") or "").lower() == t["mac"]), None)
            if nic is None:
                raise NotFound(f"{vm.name} has no NIC {t['mac']} any more", rule="undo-target")
            adapter = Adapter("vme", vm.name, None, None, VMNic(nic.get("alias") or "?", t["mac"], nic.get("target")))
            return plan_libvirt_delete(vm, adapter, DelRequest(vm.name, nic.get("alias") or t["mac"],
                                                               persistent=bool(t.get("persistent"))))
        if op == "del":
            req = AddRequest(vm.name, mac=t["mac"], bridge=t.get("bridge"), persistent=bool(t.get("persistent")))
            return plan_libvirt_add(ServerFacts(topology), vm, req)
    raise undo_unsupported(t)
