"""Adapter policy as a change: cable, rate limits, anti-spoofing, isolation, VLANs on the host end.

The settings themselves are vnet_tui/policy/ (kernel mechanisms, their
commands, inverses and read-back); this turns one ``adapter set`` into a
Plan like every other change: validated and planned before anything
changes (a missing kernel feature is refused there), steps that render
as ``tc``/``nft``/``bridge``/``ip``/QMP/virsh commands, the inverses of
the steps done when one fails, a re-read that must show what was asked,
and the port's settings before and after in the journal, which is what
undo goes back to.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from vnet_tui.core.errors import InvalidInput, NotPermitted
from vnet_tui.core.model import VM, Adapter, Container, Topology
from vnet_tui.core.server import Server
from vnet_tui.owners.libvirt_change import set_link
from vnet_tui.policy import plan as pplan, read as pread, remove as premove
from vnet_tui.policy.cable import qmp_cable
from vnet_tui.policy.port import Port
from vnet_tui.policy.steps import Step

from . import persist
from .plan import Plan
from .requests import SetRequest

Target = Union[Container, VM]
FIELDS = ("cable", "rate_in", "rate_out", "mac_filter", "ip_filter", "isolated", "vlan", "trunk")


def asked(req: SetRequest) -> bool:
    return any(getattr(req, f, None) is not None for f in FIELDS)


def _onoff(text: str, what: str) -> bool:
    t = text.strip().lower()
    if t in ("on", "yes", "true", "1"):
        return True
    if t in ("off", "no", "false", "0"):
        return False
    raise InvalidInput(f"{what}: say on or off, not {text!r}", rule="policy-onoff")


def _rate(text: str) -> Any:
    if text.strip().lower() in ("off", "none"):
        return None
    rate, _, burst = text.partition("/")
    return {"rate": rate.strip(), "burst": burst.strip() or None}


def want_of(req: SetRequest, adapter: Adapter) -> dict[str, Any]:
    """The policy request of ``adapter set`` as vnet_tui.policy.plan takes it."""
    want: dict[str, Any] = {}
    guest = adapter.guest
    if req.cable is not None:
        t = req.cable.strip().lower()
        if t not in ("plugged", "unplugged", "on", "off"):
            raise InvalidInput(f"--cable: plugged or unplugged, not {req.cable!r}", rule="policy-cable")
        want["cable"] = t in ("plugged", "on")
    for key in ("rate_in", "rate_out"):
        v = getattr(req, key)
        if v is not None:
            want[key] = _rate(v)
    if req.mac_filter is not None:
        t = req.mac_filter.strip().lower()
        if t == "off":
            want["mac_filter"] = None
        elif t == "on":
            mac = guest.mac if guest else (adapter.vm_adapter.guest_mac if adapter.vm_adapter else None)
            if not mac:
                raise InvalidInput("--mac-filter on: the guest end's MAC is not known: give it", rule="policy-mac")
            want["mac_filter"] = mac
        else:
            want["mac_filter"] = req.mac_filter
    if req.ip_filter is not None:
        t = req.ip_filter.strip().lower()
        if t == "off":
            want["ip_filter"] = None
        elif t == "on":
            addrs = [a.partition("/")[0] for a in (guest.addresses if guest else [])
                     if not a.lower().startswith("fe80:")]
            if not addrs:
                raise InvalidInput("--ip-filter on: the guest end has no address to allow: list them "
                                   "(--ip-filter 198.18.5.1,fd00::5)", rule="ip-filter-empty")
            want["ip_filter"] = addrs
        else:
            want["ip_filter"] = [a.strip() for a in req.ip_filter.split(",") if a.strip()]
    if req.isolated is not None:
        want["isolated"] = _onoff(req.isolated, "--isolated")
    if req.vlan is not None or req.trunk is not None:
        access = None if req.vlan in (None, "off") else req.vlan
        trunk = None if req.trunk in (None, "off") else req.trunk
        want["vlan"] = {"access": int(access) if access and str(access).isdigit() else access, "trunk": trunk}
    return want


def _vm_cable(vm: VM, adapter: Adapter, up: bool) -> Step:
    """A VM's cable is its NIC's link in QEMU: the lab's QMP, or the owner (libvirt domif-setlink)."""
    va = adapter.vm_adapter
    assert va is not None
    if vm.runtime == "lab" and vm.qmp:
        return qmp_cable(vm.qmp, va.netdev or va.id, up)
    if vm.runtime == "libvirt" and vm.owner is not None:
        control, dom, tap = vm.owner.control, vm.owner.name, va.host_ifname or va.guest_mac or va.id

        def setter(state: bool) -> Any:
            return lambda _port: set_link(control, dom, target_or_mac=tap, up=state)

        return Step("cable", f"virsh domif-setlink {dom} {tap} {'up' if up else 'down'}", setter(up),
                    setter(not up), f"virsh domif-setlink {dom} {tap} {'down' if up else 'up'}")
    raise NotPermitted(f"{vm.name}'s NIC link belongs to whoever runs its QEMU: vnet-tui does not talk on its "
                       "monitor", rule="qmp-not-ours")


def plan_set(server: Server, topology: Topology, target: Target, adapter: Adapter, req: SetRequest) -> Plan:
    """One ``adapter set … --cable/--rate-in/…`` as a Plan on the adapter's host end."""
    others = [f for f, v in (("--mac", req.mac), ("--add-ip", req.add_ips), ("--del-ip", req.del_ips),
                             ("--mtu", req.mtu), ("--up", req.up is True), ("--down", req.up is False),
                             ("--bridge", req.bridge), ("--no-bridge", req.no_bridge)) if v]
    if others:
        raise InvalidInput(f"policy settings go in a command of their own, not with {', '.join(others)}",
                           rule="policy-with-edit")
    host = adapter.host
    if host is None:
        raise InvalidInput(f"{target.name}/{req.ifname} has no host end here to set a policy on",
                           rule="policy-no-host-end")
    want = want_of(req, adapter)
    label = server.host_netns
    with Port(server.host_netns, host.ifname, label) as port:
        current = pread.read(port)
        before = pread.settings(current)
        vm_cable: Optional[Step] = None
        if isinstance(target, VM) and "cable" in want:
            vm_cable = _vm_cable(target, adapter, want.pop("cable"))
        steps = pplan.plan(port, want, current, mtu=host.mtu) if want else []
    if vm_cable is not None:
        steps.append(vm_cable)
    what = ", ".join(f"{k.replace('_', '-')}" for k in [*want, *(["cable"] if vm_cable else [])])
    plan = Plan("set", target.name, f"set {what} on {host.ifname} ({target.name}'s adapter)")
    plan.touched = [("host", host.ifname)]
    if not steps:
        plan.notes.append("the port already has that policy: nothing to do")
    done: list[Step] = []
    opened: dict[str, Port] = {}

    def port_now() -> Port:
        if "p" not in opened:
            opened["p"] = Port(server.host_netns, host.ifname, label)
        return opened["p"]

    def run(step: Step) -> Any:
        def act(live: Any) -> None:
            step.action(port_now())
            done.append(step)
        return act

    for st in steps:
        plan.add(st.command, run(st))

    def close() -> None:
        p = opened.pop("p", None)
        if p is not None:
            p.close()

    def rollback(live: Any) -> list[str]:
        left: list[str] = []
        for st in reversed(done):
            try:
                st.inverse(port_now())
            except Exception as e:
                left.append(f"{st.inverse_command}: {e}")
        close()
        return left

    def verify(live: Any) -> list[str]:
        now = pread.settings(pread.read(port_now()))
        problems = []
        for key in ("mac_filter", "ip_filter"):
            if key in want and bool(now[key]) != bool(want[key]):
                problems.append(f"{key.replace('_', '-')} is {'set' if now[key] else 'not set'} after the change")
        for key in ("rate_in", "rate_out"):
            if key in want and bool(now[key]) != bool(want[key]):
                problems.append(f"{key.replace('_', '-')} is {'set' if now[key] else 'not set'} after the change")
        if "isolated" in want and now["isolated"] and now["isolated"]["isolated"] != want["isolated"]:
            problems.append("isolation is not as asked")
        if "cable" in want and now["cable"] is not None and now["cable"] != want["cable"]:
            problems.append("the cable is not as asked")
        return problems

    def record(live: Any) -> dict[str, Any]:
        after = pread.settings(pread.read(port_now()))
        close()
        t = {"kind": "policy", "owner": target.name, "host": host.ifname, "ns": "host", "end": "host",
             "adapter": adapter.key}
        return {"target": t, "before": before, "after": after}

    plan.rollback, plan.verify, plan.record = rollback, verify, record
    plan.persists = persist.raw(target).replace("lost when", "the policy is lost when", 1) \
        if not (isinstance(target, VM) and target.runtime == "lab") else persist.raw(target)
    plan.owner = persist.owner_record(target)
    return plan


def inverse(entry: dict[str, Any], server: Server, topology: Topology) -> Plan:
    """Undo of a policy change: the port back to the settings journaled before it."""
    t, before = entry["target"], entry["before"]
    plan = Plan("set", t["owner"], f"restore the policy of {t['host']}")
    plan.touched = [("host", t["host"])]
    with Port(server.host_netns, t["host"], server.host_netns) as port:
        steps = pplan.undo_plan(port, before)
    done: list[Step] = []
    opened: dict[str, Port] = {}

    def port_now() -> Port:
        if "p" not in opened:
            opened["p"] = Port(server.host_netns, t["host"], server.host_netns)
        return opened["p"]

    for st in steps:
        plan.add(st.command, (lambda s: lambda live: (s.action(port_now()), done.append(s)))(st))

    def close() -> None:
        p = opened.pop("p", None)
        if p is not None:
            p.close()

    def rollback(live: Any) -> list[str]:
        left = []
        for st in reversed(done):
            try:
                st.inverse(port_now())
            except Exception as e:
                left.append(f"{st.inverse_command}: {e}")
        close()
        return left

    def record(live: Any) -> dict[str, Any]:
        after = pread.settings(pread.read(port_now()))
        close()
        return {"target": t, "before": entry.get("after"), "after": after}

    plan.rollback, plan.record = rollback, record
    return plan


def removal_steps(server: Server, host_ifname: str) -> list[Step]:
    """Our nftables chains of a host end that is being deleted (the kernel keeps them by name)."""
    try:
        with Port(server.host_netns, host_ifname, server.host_netns) as port:
            return premove.remove(port)
    except Exception:  # no nftables, no table of ours: nothing to remove
        return []
