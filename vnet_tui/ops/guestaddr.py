"""A VM guest's addresses, changed through its QEMU guest agent, as a Plan.

``adapter set vm201 net0 --add-ip 198.18.200.9/16 --del-ip …`` (the NIC by
its id or its tap's name) changes the addresses of the guest's interface
whose MAC is that NIC's: the agent's ``guest-network-get-interfaces``
names it (eth0…), and ``guest-exec`` runs ``ip addr add|del … dev eth0``
in the guest.  Like every change: validated before anything (the usual
``ip-*`` rules, an address used elsewhere on the server is ``ip-duplicate``),
steps that render as ``qga vm201 guest-exec ip addr add …``, the inverse of
the steps done when one fails, the result read back from the agent, and
the addresses before and after in the journal (undo converges back to
``before``: ``inverse``).

Only VMs vnet-tui made (``runtime == "lab"``) have their agent socket
opened; where the agent cannot do it the request is refused before any
change, with a rule:

* ``guest-agent-not-ours``: a VM someone else runs (libvirt, plain QEMU);
* ``guest-agent-unavailable``: no agent socket, the VM paused, the agent
  not answering;
* ``guest-exec-disabled``: the agent does not offer guest-exec (or
  guest-exec-status, or guest-network-get-interfaces);
* ``guest-nic-absent``: the guest shows no interface with the NIC's MAC.

``guest_addresses_possible(vm)`` answers the same question for a form
(True, "") or (False, reason with its rule).  Talking to the agent is
``guestagent``'s; the plan is here.  Nothing here imports Textual.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Topology
from vnet_tui.core.server import Server

from . import persist, validate
from .facts import ServerFacts
from .guestagent import (  # guest_exec, agent_addresses, guest_addresses_possible: importable from here too
    _check_commands,
    _connect,
    _guest_addresses,
    _mac_of,
    _nic,
    _other_guests,
    agent_addresses,
    guest_addresses_possible,
    guest_exec,
)
from .gueststeps import GuestAddr, GuestNicChange
from .plan import Plan
from .requests import SetRequest

__all__ = ["KIND", "agent_addresses", "guest_addresses_possible", "guest_exec", "inverse", "plan_set"]

KIND = "guest-addr"  # the journal target's kind (ops/inverse.py routes it to ``inverse``)


# -- the plan ------------------------------------------------------------------
def _build(vm: VM, adapter: Adapter, mac: str, ifname: str, before: list[str], add: list[str],
           delete: list[str], title: str, target: dict[str, Any]) -> Plan:
    """Steps (adds first, then deletes), rollback, verify, record for one guest NIC (``gueststeps``)."""
    plan = Plan("set", vm.name, title)
    want = sorted((set(before) - set(delete)) | set(add))
    change = GuestNicChange(vm, mac, ifname, list(before), want, target)
    for a in add:
        plan.add_step(GuestAddr(change, "add", a))
    for d in delete:
        plan.add_step(GuestAddr(change, "del", d))
    plan.prepare, plan.verify, plan.rollback, plan.record = change.prepare, change.verify, change.rollback, change.record
    plan.persists = ("the guest's addresses last until the guest reboots (the lab guest takes its address "
                     "from its kernel command line at boot)")
    plan.owner = persist.owner_record(vm)
    return plan


def _not_in_guests(add: list[str], used: list[tuple[str, str]]) -> None:
    """ip-duplicate for an address a VM guest already has (the server's address book lacks guests')."""
    where = {str(ipaddress.ip_address(a)): w for a, w in used}
    for a in add:
        ip = str(ipaddress.ip_interface(a).ip)
        if ip in where:
            raise validate.bad("ip-duplicate", f"{ip} is already used on {where[ip]}: an address is used once "
                                               "per server")


def _is_addr(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _target(vm: VM, adapter: Adapter, mac: str, ifname: str) -> dict[str, Any]:
    va = adapter.vm_adapter
    return {"kind": KIND, "owner": vm.name, "adapter": adapter.key, "end": "guest", "nic": va.id if va else None,
            "tap": va.host_ifname if va else None, "mac": mac, "ifname": ifname}


def plan_set(server: Server, topology: Topology, vm: VM, adapter: Adapter, req: SetRequest,
             facts: Optional[ServerFacts] = None) -> Plan:
    """``adapter set VM NIC --add-ip … --del-ip …`` on the guest's interface, through the agent.

    Input rules first (no agent needed for them), then whether the agent can
    (its refusal rules), then the guest's current addresses decide
    ip-exists / ip-absent / nothing-to-change.
    """
    facts = facts or ServerFacts(topology)
    others = [f for f, v in (("--mac", req.mac), ("--mtu", req.mtu), ("--up", req.up is True),
                             ("--down", req.up is False), ("--bridge", req.bridge), ("--no-bridge", req.no_bridge),
                             ("--replug", req.replug)) if v]
    if others:
        raise InvalidInput(f"a VM guest's addresses change in a command of their own, not with {', '.join(others)}",
                           rule="guest-ip-with-edit")
    for t in req.add_ips:
        validate.ip(t)
    for t in req.del_ips:
        if not _is_addr(t.strip().split("/")[0]):
            raise validate.bad("ip-syntax", f"address {t!r} is not an IPv4 or IPv6 address")
    mac = _mac_of(adapter)
    qga = _connect(vm)
    try:
        _check_commands(vm, qga)
        ifname, current = _nic(vm, qga, mac)
        here = _guest_addresses(qga, vm.name, skip_mac=mac)
    finally:
        qga.close()
    warnings: list[str] = []
    add = validate.ips_to_add(req.add_ips, current, facts.address_book(), warnings, ns=f"vm:{vm.name}")
    _not_in_guests(add, here + _other_guests(topology, vm, warnings))
    delete = validate.ips_to_delete(req.del_ips, current)
    validate.something({"add": add, "del": delete})
    what = " ".join([*(f"+{a}" for a in add), *(f"-{d}" for d in delete)])
    plan = _build(vm, adapter, mac, ifname, current, add, delete,
                  f"set {vm.name}'s guest addresses on {ifname} ({adapter.key}): {what}",
                  _target(vm, adapter, mac, ifname))
    plan.warnings += warnings
    return plan


def inverse(entry: dict[str, Any], server: Server, topology: Topology) -> Plan:
    """Undo: the guest NIC's addresses back to those journaled before the change."""
    t = entry["target"]
    vm = next((v for v in topology.vms if v.name == t.get("owner")), None)
    if vm is None:
        raise NotFound(f"{t.get('owner')} is gone: the change cannot be undone", rule="undo-target")
    adapter = next((a for a in topology.adapters() if a.owner == vm.name and a.vm_adapter is not None
                    and (a.vm_adapter.guest_mac or "").lower() == t["mac"]), None)
    if adapter is None:
        raise NotFound(f"{vm.name} has no NIC with MAC {t['mac']} any more: the change cannot be undone",
                       rule="undo-target")
    qga = _connect(vm)
    try:
        _check_commands(vm, qga)
        ifname, now = _nic(vm, qga, t["mac"])
    finally:
        qga.close()
    before = sorted((entry.get("before") or {}).get("addresses") or [])
    add = [a for a in before if a not in now]
    delete = [a for a in now if a not in before]
    warnings: list[str] = []
    if add:  # an address given back must not have been taken elsewhere since (ip-duplicate)
        validate.ips_to_add(add, now, ServerFacts(topology).address_book(), warnings, ns=f"vm:{vm.name}")
        _not_in_guests(add, _other_guests(topology, vm, warnings))
    plan = _build(vm, adapter, t["mac"], ifname, now, add, delete,
                  f"restore {vm.name}'s guest addresses on {ifname} ({t.get('adapter')})", {**t, "ifname": ifname})
    after = (entry.get("after") or {}).get("addresses")
    if after is not None and sorted(after) != now:
        plan.warnings.append(f"{ifname} in the guest changed again since; restoring the addresses before the change")
    plan.warnings += warnings
    if not plan.steps:
        plan.notes.append("the guest already has those addresses: nothing to do")
    return plan
