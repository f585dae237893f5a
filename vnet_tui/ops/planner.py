"""The operations the CLI verbs and TUI forms call: add, edit, delete an adapter.

Each builds a ``Plan`` from the discovered topology (validation first:
bad input raises ``InvalidInput`` before any netlink call), then — unless
it is a dry run — checks privilege and the SSH guard, removes stale
half-made adapters, executes the plan (rollback on failure), journals
it, and starts the revert timer when the change touches the session.

Use ``plan_add``/``plan_edit``/``plan_delete`` for previews (pure: no
kernel call), and ``add``/``edit``/``delete`` to apply.  All are blocking:
call them from a thread worker in the TUI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.errors import NotPermitted
from vnet_tui.core.model import VM, Adapter, Container, Topology
from vnet_tui.policy.port import Port
from vnet_tui.core.server import Server

from . import edit, owned, persist, policy, veth, vme, vme_remove
from .facts import Facts, Target
from .live import labels
from .plan import Plan
from .requests import AddRequest, DelRequest, SetRequest

CAP_NET_ADMIN = 12


@dataclass
class Result:
    """What a change did (or, for a dry run, would do)."""

    op: str
    target: str
    title: str
    commands: list[str]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    journal_id: Optional[str] = None
    confirm: Optional[dict[str, Any]] = None  # {"id", "deadline", "timeout", "protected"}
    pending: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    persists: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "op": self.op,
            "target": self.target,
            "title": self.title,
            "dry_run": self.dry_run,
            "commands": self.commands,
            "warnings": self.warnings,
            "notes": self.notes,
            "journal_id": self.journal_id,
            "confirm": self.confirm,
            "pending": self.pending,
            "persists": self.persists,
            "after": self.record.get("after"),
            "before": self.record.get("before"),
        }


def topology_of(server: Server) -> Topology:
    from vnet_tui.discovery.topology import discover
    from vnet_tui.safety.journal import generation

    gen = generation()  # read before discovery: a change executed since is seen under the lock
    topo = discover(server)
    topo._vnet_generation = gen  # type: ignore[attr-defined]
    return topo


# -- plans (pure) ---------------------------------------------------------------
def vm_nic_macs(topology: Topology) -> dict[str, str]:
    """Every guest NIC's MAC as QEMU reports it (hot-plugged ones included), for the duplicate rule.

    What discovery already knows (command-line NICs, with the MAC the guest
    used then from ``query-rx-filter``) is in the topology; QEMU is asked
    again only about VMs whose NICs it may not know: one with an adapter of
    unknown guest MAC (a hot-plugged tap), or whose process now holds a tap
    the topology does not list (hot-plugged since) — read from ``/proc``,
    cheaply.  One short ``query-rx-filter`` per such VM with a QMP socket;
    a VM that does not answer in time is skipped.
    """
    from vnet_tui.discovery.qmp import query_rx_filter_macs

    out: dict[str, str] = {}
    for vm in topology.vms:
        if vm.qmp and _may_hide_macs(vm):
            for nic, mac in query_rx_filter_macs(vm.qmp, timeout=1.0).items():
                out.setdefault(mac.lower(), f"{vm.name} NIC {nic} (guest)")
    return out


def _may_hide_macs(vm: VM) -> bool:
    """Whether ``vm`` may have a guest NIC whose MAC the topology does not hold."""
    from vnet_tui.discovery.qemu import tap_ifnames

    if any(not a.guest_mac for a in vm.adapters):
        return True
    known = {a.host_ifname for a in vm.adapters if a.host_ifname}
    try:
        taps = set(tap_ifnames(vm.pid).values())
    except OSError:
        return True
    return not taps <= known


def plan_add(
    server: Server, topology: Topology, req: AddRequest, extra_macs: Optional[dict[str, str]] = None
) -> Plan:
    facts = Facts(topology, extra_macs or {})
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
    facts = Facts(topology, extra_macs or {})
    target = facts.target(req.target)
    adapter = facts.adapter(target, req.ifname)
    if policy.asked(req):
        return policy.plan_set(server, topology, target, adapter, req)
    if isinstance(target, VM) and adapter.kind == "vme" and (req.add_ips or req.del_ips) and req.end != "host":
        from . import guestaddr  # the guest's own addresses, through its agent (ops/guestaddr.py)

        return guestaddr.plan_set(server, topology, target, adapter, req, facts)
    if isinstance(target, VM) and target.runtime == "libvirt" and req.mac and (req.end or "guest") == "guest" \
            and req.ifname != (adapter.vm_adapter.host_ifname if adapter.vm_adapter else None):
        owned.check_libvirt_edit(target)
    return _owned_by(edit.plan_set(facts, labels(server, topology), target, adapter, req), target)


def plan_delete(server: Server, topology: Topology, req: DelRequest) -> Plan:
    facts = Facts(topology)
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


# -- applying ---------------------------------------------------------------------
def has_net_admin() -> bool:
    """CAP_NET_ADMIN in the effective set (root normally has it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


CONFIRM_TIMEOUT_MIN, CONFIRM_TIMEOUT_MAX = 2.0, 3600.0  # seconds (NetworkManager 15, netplan 120, Junos 600)


def check_confirm_timeout(value: Any) -> float:
    """A revert timer's timeout: a finite number of seconds within 2–3600 (rule confirm-timeout)."""
    import math

    from vnet_tui.core.errors import InvalidInput

    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t) or not CONFIRM_TIMEOUT_MIN <= t <= CONFIRM_TIMEOUT_MAX:
        raise InvalidInput(
            f"confirm timeout {value!r}: give a number of seconds from {CONFIRM_TIMEOUT_MIN:g} to "
            f"{CONFIRM_TIMEOUT_MAX:g} (the change is reverted when it runs out unconfirmed)",
            rule="confirm-timeout",
        )
    return t


def apply(
    server: Server,
    topology: Topology,
    plan: Plan,
    *,
    dry_run: bool = False,
    confirm: bool = False,
    confirm_timeout: float = 60.0,
    ssh_connection: Optional[str] = None,
    journal_op: Optional[str] = None,
    ref: Optional[str] = None,
    guard: bool = True,
    lock: bool = True,
    replan: Optional[Any] = None,
) -> Result:
    """Guard, then run a plan as a transaction (safety/txn.py): lock, validate again, journal ahead,
    arm the revert timer of a protected change, execute, complete the journal.

    ``journal_op``/``ref``: how undo and the revert timer journal their
    inverse plans ("undo"/"revert" naming the change); they skip the
    guard (restoring is what it asks for) and, holding the journal lock,
    ``lock``.  ``replan(topology) -> Plan`` makes the plan again when
    another change was executed since it was made (else: rule stale-view).
    """
    from vnet_tui.safety import journal

    generation = journal.generation() if topology is not None else None
    stamped = getattr(topology, "_vnet_generation", None)
    if isinstance(stamped, int):
        generation = stamped
    result = Result(
        plan.op,
        plan.target,
        plan.title,
        plan.commands(),
        plan.warnings,
        plan.notes,
        dry_run=dry_run,
        pending=plan.pending,
        persists=plan.persists,
    )
    if confirm or journal_op is None and guard and confirm_timeout != 60.0:
        check_confirm_timeout(confirm_timeout)  # validated before anything, dry run or not
    if dry_run:
        return result
    if not has_net_admin():
        raise NotPermitted(
            "changing adapters needs root / CAP_NET_ADMIN (running read-only)", rule="privilege"
        )
    from vnet_tui.safety import sshguard, txn

    from . import unplug

    def reguard(topo: Topology, p: Plan) -> list[str]:
        if not guard:
            return []
        found = sshguard.protected(server, topo, ssh_connection).hits(p.touched, p.route_dsts)
        if found and not confirm:
            raise NotPermitted(
                f"{p.title} touches what carries your SSH session: {', '.join(found)}. "
                "Confirm it (CLI: --confirm; TUI: type the interface name) to run it commit-confirmed: "
                f"it is reverted after {confirm_timeout:g} s unless you confirm in time.",
                rule="ssh-guard",
            )
        if found:
            check_confirm_timeout(confirm_timeout)
        return found

    hits = reguard(topology, plan)
    plan, record, entry, notes, armed, hits = txn.run(
        server,
        topology,
        plan,
        hits=hits,
        confirm_timeout=confirm_timeout,
        journal_op=journal_op,
        ref=ref,
        lock=lock,
        replan=replan,
        generation=generation if journal_op is None else None,
        reguard=reguard,
    )
    result.title = plan.title
    result.record = record
    result.pending = plan.pending
    result.warnings = notes + plan.warnings
    result.notes = plan.notes
    result.commands = plan.commands()
    result.persists = plan.persists
    result.journal_id = entry["id"]
    if plan.pending:
        unplug.spawn_finisher(entry["id"])
        result.notes.append(
            f"unplug pending: {plan.target}'s guest has not released the NIC yet; the tap is "
            "removed when it does (a background finisher watches)"
        )
    if armed:
        result.confirm = {**armed, "protected": hits}
    return result


def add(server: Server, req: AddRequest, *, topology: Optional[Topology] = None, **kw: Any) -> Result:
    topo = topology or topology_of(server)
    kw.setdefault("replan", lambda t: plan_add(server, t, req, vm_nic_macs(t)))
    return apply(server, topo, plan_add(server, topo, req, vm_nic_macs(topo)), **kw)


def edit_adapter(
    server: Server, req: SetRequest, *, topology: Optional[Topology] = None, **kw: Any
) -> Result:
    topo = topology or topology_of(server)
    extra = vm_nic_macs(topo) if req.mac else {}
    kw.setdefault("replan", lambda t: plan_edit(server, t, req, vm_nic_macs(t) if req.mac else {}))
    return apply(server, topo, plan_edit(server, topo, req, extra), **kw)


def delete(server: Server, req: DelRequest, *, topology: Optional[Topology] = None, **kw: Any) -> Result:
    topo = topology or topology_of(server)
    kw.setdefault("replan", lambda t: plan_delete(server, t, req))
    return apply(server, topo, plan_delete(server, topo, req), **kw)
