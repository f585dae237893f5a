"""From a request and the discovered topology to a ``Plan``: add, edit, delete an adapter.

Validation comes first: bad input raises ``InvalidInput`` before any
netlink call.  Everything here is pure (topology in, plan out; no kernel
call) except ``topology_of`` (discovery) and ``vm_nic_macs`` (a short QMP
question to VMs whose NICs discovery may not know).  Running a plan —
privilege, SSH guard, lock, journal, revert timer — is the transactions
layer's job: ``vnet_tui.txn.api``.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.model import VM, Adapter, Container, Topology
from vnet_tui.core.server import Server
from vnet_tui.discovery.qemu import open_files, tap_ifnames
from vnet_tui.discovery.qmp import query_rx_filter_macs
from vnet_tui.discovery.topology import discover
from vnet_tui.policy.port import Port
from vnet_tui.safety.generation import generation

from . import edit, guestaddr, owned, persist, policy, veth, vme, vme_remove
from .facts import ServerFacts, Target
from .live import labels
from .plan import Plan
from .requests import AddRequest, DelRequest, SetRequest


def topology_of(server: Server) -> Topology:
    """The server as discovered now, stamped with the journal's change generation (read first)."""
    gen = generation()  # read before discovery: a change executed since is seen under the lock
    topo = discover(server)
    topo._vnet_generation = gen  # type: ignore[attr-defined]
    return topo


# -- plans (pure) ---------------------------------------------------------------
def vm_nic_macs(topology: Topology, typed: bool = True) -> dict[str, str]:
    """Every guest NIC's MAC as QEMU reports it (hot-plugged ones included), for the duplicate rule.

    What discovery already knows (command-line NICs, with the MAC the guest
    used then from ``query-rx-filter``) is in the topology; QEMU is asked
    again only about VMs whose NICs it may not know: one with an adapter of
    unknown guest MAC (a hot-plugged tap), or whose process now holds a tap
    the topology does not list (hot-plugged since) — read from ``/proc``.
    One short ``query-rx-filter`` per such VM with a QMP socket; a VM that
    does not answer in time is skipped.

    ``typed``: a MAC the operator typed is checked against every tap the
    process holds now (one ``readlink`` per open file: ~0.5 ms a VM).  For
    MACs we generate (``typed=False``) the process's taps are read only if
    it has opened or closed a file since discovery (one ``stat``): a NIC
    plugged in since opens a tap.  What that can miss — a file closed and
    a tap opened in its place in between — hides a MAC that a generated one
    (24 or 40 random bits, ops/macs.py) would have to equal by chance.
    """
    out: dict[str, str] = {}
    for vm in topology.vms:
        if vm.qmp and _may_hide_macs(vm, typed):
            for nic, mac in query_rx_filter_macs(vm.qmp, timeout=1.0).items():
                out.setdefault(mac.lower(), f"{vm.name} NIC {nic} (guest)")
    return out


def typed_macs(req: AddRequest) -> bool:
    """Whether the request names a MAC of either end (else both are generated)."""
    return any(m not in (None, "", "auto") for m in (req.mac, req.host_mac))


def _may_hide_macs(vm: VM, typed: bool = True) -> bool:
    """Whether ``vm`` may have a guest NIC whose MAC the topology does not hold."""
    if any(not a.guest_mac for a in vm.adapters):
        return True
    if not typed and vm.open_files is not None and open_files(vm.pid) == vm.open_files:
        return False
    known = {a.host_ifname for a in vm.adapters if a.host_ifname}
    try:
        taps = set(tap_ifnames(vm.pid).values())
    except OSError:
        return True
    return not taps <= known


def plan_add(
    server: Server, topology: Topology, req: AddRequest, extra_macs: Optional[dict[str, str]] = None
) -> Plan:
    facts = ServerFacts(topology, extra_macs or {})
    target = facts.target(req.target)
    if isinstance(target, VM):
        if target.runtime == "libvirt":
            return owned.plan_libvirt_add(facts, target, req)
        plan = vme.plan_add(facts, labels(server, topology), target, req)
    else:
        network = None if req.raw else owned.engine_network(target, req.bridge, topology.host.inode)
        if network:
            return owned.plan_engine_connect(facts, target, network, req)
        plan = veth.plan_add(facts, labels(server, topology), target, req)
        if target.runtime in persist.ENGINES and req.bridge and req.raw is False and not network:
            plan.notes.append(f"{req.bridge} is not one of {target.runtime}'s networks: a plain veth")
    return _owned_by(plan, target)


def _owned_by(plan: Plan, target: Target) -> Plan:
    """Say who owns the target and whether a change made with netlink alone outlives a restart."""
    plan.owner = persist.owner_record(target)
    if not plan.persists:
        plan.persists = persist.raw(target)
    return plan


def plan_edit(
    server: Server, topology: Topology, req: SetRequest, extra_macs: Optional[dict[str, str]] = None
) -> Plan:
    facts = ServerFacts(topology, extra_macs or {})
    target = facts.target(req.target)
    adapter = facts.adapter(target, req.ifname)
    if policy.asked(req):
        return policy.plan_set(server, topology, target, adapter, req)
    if isinstance(target, VM) and adapter.kind == "vme" and (req.add_ips or req.del_ips) and req.end != "host":
        return guestaddr.plan_set(server, topology, target, adapter, req, facts)
    if isinstance(target, VM) and target.runtime == "libvirt" and req.mac and (req.end or "guest") == "guest" \
            and req.ifname != (adapter.vm_adapter.host_ifname if adapter.vm_adapter else None):
        owned.check_libvirt_edit(target)
    return _owned_by(edit.plan_set(facts, labels(server, topology), target, adapter, req), target)


def plan_delete(server: Server, topology: Topology, req: DelRequest) -> Plan:
    facts = ServerFacts(topology)
    target = facts.target(req.target)
    adapter = facts.adapter(target, req.ifname)
    lab = labels(server, topology)
    if isinstance(target, Container):
        assert adapter.guest and adapter.host
        network = None if req.raw else owned.engine_endpoint(target, adapter)
        if network:
            return owned.plan_engine_disconnect(target, adapter, network)
        plan = veth.plan_delete(lab, target, adapter.guest.ifname, adapter.host.ifname)
        return _owned_by(_policy_goes_too(server, plan, adapter), target)
    if target.runtime == "libvirt":
        return owned.plan_libvirt_delete(target, adapter, req)
    return _owned_by(_policy_goes_too(server, vme_remove.plan_delete(lab, target, adapter), adapter), target)


def _policy_goes_too(server: Server, plan: Plan, adapter: Adapter) -> Plan:
    """Removing an adapter removes its policy: the kernel drops its qdiscs, not our nftables chains."""
    if adapter.host is None:
        return plan
    host = adapter.host.ifname

    def run(step: Any) -> Any:
        def act(live: Any) -> None:
            with Port(server.host_netns, host, server.host_netns) as port:
                step.action(port)
        return act

    for st in policy.removal_steps(server, host):
        plan.add(st.command, run(st))
    return plan
