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
(True, "") or (False, reason with its rule).  Nothing here imports Textual.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput, NotFound, NotPermitted, VnetError
from vnet_tui.core.model import VM, Adapter, Topology
from vnet_tui.core.server import Server
from vnet_tui.guest.qga import QGA, QGAError, QGATimeout

from . import persist, validate
from .facts import Facts
from .plan import Plan
from .requests import SetRequest

KIND = "guest-addr"  # the journal target's kind (ops/inverse.py routes it to ``inverse``)
NEEDED = ("guest-exec", "guest-exec-status", "guest-network-get-interfaces")
AGENT_TIMEOUT = 3.0  # seconds for one agent answer
EXEC_TIMEOUT = 10.0  # seconds for one guest-exec to finish (TCG guests are slow)


# -- the agent -----------------------------------------------------------------
def _connect(vm: VM, timeout: float = AGENT_TIMEOUT) -> Any:
    """A synced connection to ``vm``'s agent, or the refusal saying why there is none."""
    if vm.runtime != "lab":
        raise NotPermitted(
            f"{vm.owner_name} is run by {vm.runtime}, not by vnet-tui: its guest agent is not ours to talk to, "
            "so its guest addresses are set inside the VM",
            rule="guest-agent-not-ours",
        )
    if not vm.qga:
        raise InvalidInput(
            f"{vm.name} has no guest agent (a lab VM built with --no-boot runs no guest): its guest addresses "
            "cannot be changed from here",
            rule="guest-agent-unavailable",
        )
    if not vm.running:
        raise InvalidInput(
            f"{vm.name} is paused: its guest agent cannot answer, so its guest addresses cannot be changed now",
            rule="guest-agent-unavailable",
        )
    try:
        return QGA(vm.qga, timeout=timeout)
    except QGAError as e:
        raise InvalidInput(f"{vm.name}'s guest agent does not answer: {e}", rule="guest-agent-unavailable") from e


def _check_commands(vm: VM, qga: Any) -> None:
    """guest-exec and friends must be enabled (an agent started with ``-b guest-exec`` refuses them)."""
    try:
        info = qga.info()
    except QGAError as e:
        raise InvalidInput(f"{vm.name}'s guest agent does not answer guest-info: {e}",
                           rule="guest-agent-unavailable") from e
    enabled = {c.get("name") for c in info.get("supported_commands", []) if c.get("enabled", True)}
    missing = [c for c in NEEDED if c not in enabled]
    if missing:
        raise InvalidInput(
            f"{vm.name}'s guest agent has {', '.join(missing)} disabled: it cannot change the guest's addresses",
            rule="guest-exec-disabled",
        )


def agent_addresses(qga: Any, mac: str) -> Optional[tuple[str, list[str]]]:
    """(guest ifname, sorted ``address/prefix`` but link-local) of the guest NIC with ``mac``; None if none."""
    for item in qga.interfaces():
        if (item.get("hardware-address") or "").lower() != mac.lower():
            continue
        addrs = set()
        for a in item.get("ip-addresses", []):
            try:
                i = ipaddress.ip_interface(f"{a['ip-address']}/{a['prefix']}")
            except (KeyError, ValueError):
                continue
            if i.version == 6 and i.ip.is_link_local:
                continue
            addrs.add(i.with_prefixlen)
        return str(item.get("name")), sorted(addrs)
    return None


def guest_exec(qga: Any, argv: list[str], timeout: float = EXEC_TIMEOUT) -> tuple[int, str]:
    """Run ``argv`` in the guest (guest-exec, then guest-exec-status until it exits): (exit code, output)."""
    pid = qga.execute("guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        st = qga.execute("guest-exec-status", {"pid": pid})
        if st.get("exited"):
            break
        if time.monotonic() > deadline:
            raise QGATimeout(f"{' '.join(argv)} did not finish in the guest within {timeout:g} s")
        time.sleep(0.02)
    text = ""
    for key in ("err-data", "out-data"):
        if st.get(key):
            text += base64.b64decode(st[key]).decode(errors="replace")
    code = st.get("exitcode")
    if code is None:
        code = 128 + int(st.get("signal") or 0)
    return int(code), text.strip()


def _mac_of(adapter: Adapter) -> str:
    va = adapter.vm_adapter
    if va is None or not va.guest_mac:
        raise InvalidInput(f"{adapter.key}: the guest NIC's MAC is not known, so the guest's interface cannot "
                           "be found", rule="guest-nic-absent")
    return va.guest_mac.lower()


def _nic(vm: VM, qga: Any, mac: str) -> tuple[str, list[str]]:
    try:
        found = agent_addresses(qga, mac)
    except QGAError as e:
        raise InvalidInput(f"{vm.name}'s guest agent does not list its interfaces: {e}",
                           rule="guest-agent-unavailable") from e
    if found is None:
        raise InvalidInput(f"{vm.name}'s guest shows no interface with MAC {mac} (driver not loaded?)",
                           rule="guest-nic-absent")
    return found


def guest_addresses_possible(vm: VM, adapter: Optional[Adapter] = None,
                             timeout: float = 1.0) -> tuple[bool, str]:
    """Whether ``vm``'s guest addresses (of ``adapter``'s NIC, if given) can be changed here: (ok, why not).

    Asks the agent (a second or so at most); never raises.  The reason ends
    with the rule in brackets, e.g. ``… [guest-agent-unavailable]``.
    """
    try:
        qga = _connect(vm, timeout)
        try:
            _check_commands(vm, qga)
            if adapter is not None:
                _nic(vm, qga, _mac_of(adapter))
        finally:
            qga.close()
    except VnetError as e:
        return False, f"{e} [{e.rule}]"
    except Exception as e:  # anything else from the socket: not possible, say why
        return False, f"{vm.name}'s guest agent: {e} [guest-agent-unavailable]"
    return True, ""


# -- the plan ------------------------------------------------------------------
def _cmd(vm: VM, verb: str, addr: str, ifname: str) -> tuple[str, list[str]]:
    argv = ["ip", "addr", verb, addr, "dev", ifname]
    return f"qga {vm.name} guest-exec {' '.join(argv)}", argv


def _build(vm: VM, adapter: Adapter, mac: str, ifname: str, before: list[str], add: list[str],
           delete: list[str], title: str, target: dict[str, Any]) -> Plan:
    """Steps (adds first, then deletes), rollback, verify, record for one guest NIC."""
    plan = Plan("set", vm.name, title)
    done: list[tuple[str, str]] = []  # (verb, address) of the steps started (one may have half-failed)
    state: dict[str, Any] = {"ifname": ifname, "before": list(before)}

    def agent() -> Any:
        """A connection for one use (``with agent() as q``): the agent's socket takes one client at a
        time, so none is held between steps (nor left open when something between them fails)."""
        return _connect(vm)

    def run(verb: str, addr: str) -> None:
        _, argv = _cmd(vm, verb, addr, state["ifname"])
        done.append((verb, addr))  # before it runs: a guest-exec that timed out may still have done it
        with agent() as q:
            code, out = guest_exec(q, argv)
        if code != 0:
            raise ChangeFailed(f"in {vm.name}'s guest, {' '.join(argv)} exited {code}: {out or 'no output'}",
                               rule="guest-exec")

    def step(verb: str, addr: str) -> Any:
        return lambda live: run(verb, addr)

    def refresh(add_: list[str], del_: list[str]) -> None:
        plan.steps = []
        for a in add_:
            plan.add(_cmd(vm, "add", a, state["ifname"])[0], step("add", a))
        for d in del_:
            plan.add(_cmd(vm, "del", d, state["ifname"])[0], step("del", d))

    refresh(add, delete)
    want = sorted((set(before) - set(delete)) | set(add))
    state["want"] = want

    def prepare(live: Any) -> None:
        with agent() as q:
            name, now = _nic(vm, q, mac)
        if name != ifname or now != sorted(before):
            raise InvalidInput(f"{vm.name}'s guest NIC {mac} changed since it was read ({name}: "
                               f"{', '.join(now) or 'no address'}); look again", rule="stale-view")

    def verify(live: Any) -> list[str]:
        with agent() as q:
            _, now = _nic(vm, q, mac)
        state["after"] = now
        if now == state["want"]:
            return []
        missing = sorted(set(state["want"]) - set(now))
        extra = sorted(set(now) - set(state["want"]))
        return [f"the guest agent shows {ifname} " + "; ".join(
            ([f"without {', '.join(missing)}"] if missing else []) + ([f"still with {', '.join(extra)}"] if extra
                                                                      else []))]

    def rollback(live: Any) -> list[str]:
        """The inverse of each step done, newest first; then the NIC must show the addresses before."""
        left: list[str] = []
        try:
            with agent() as q:
                _, now = _nic(vm, q, mac)
                for verb, addr in reversed(done):
                    if (addr in now) != (verb == "add"):
                        continue  # the step started but did not happen (it failed): nothing to undo
                    _, argv = _cmd(vm, "del" if verb == "add" else "add", addr, state["ifname"])
                    try:
                        code, out = guest_exec(q, argv)
                        if code != 0:
                            left.append(f"{' '.join(argv)} in the guest: exit {code} {out}")
                    except Exception as e:
                        left.append(f"{' '.join(argv)} in the guest: {e}")
                _, now = _nic(vm, q, mac)
            if now != sorted(state["before"]):
                left.append(f"the guest's {state['ifname']} has {', '.join(now) or 'no address'}, "
                            f"not {', '.join(state['before']) or 'no address'} as before")
        except Exception as e:
            left.append(f"{vm.name}'s guest agent: {e}")
        return left

    def record(live: Any) -> dict[str, Any]:
        after = state.get("after")
        if after is None:  # before the steps (the journal's write-ahead line): what is planned
            after = state["want"]
        return {"target": target, "before": {"ifname": ifname, "mac": mac, "addresses": sorted(before)},
                "after": {"ifname": ifname, "mac": mac, "addresses": after}}

    plan.prepare, plan.verify, plan.rollback, plan.record = prepare, verify, rollback, record
    plan.persists = ("the guest's addresses last until the guest reboots (the lab guest takes its address "
                     "from its kernel command line at boot)")
    plan.owner = persist.owner_record(vm)
    return plan


def _guest_addresses(qga: Any, vm_name: str, skip_mac: Optional[str] = None) -> list[tuple[str, str]]:
    """(address, where) of a guest's interfaces as its agent lists them, but ``skip_mac``'s, lo and link-local."""
    out = []
    for item in qga.interfaces():
        hw = (item.get("hardware-address") or "").lower()
        if item.get("name") == "lo" or (skip_mac and hw == skip_mac.lower()):
            continue
        for a in item.get("ip-addresses", []):
            try:
                ip = ipaddress.ip_address(a["ip-address"])
            except (KeyError, ValueError):
                continue
            if not (ip.is_link_local or ip.is_loopback):
                out.append((str(ip), f"{vm_name}'s guest interface {item.get('name')}"))
    return out


def _other_guests(topology: Topology, vm: VM, warnings: list[str]) -> list[tuple[str, str]]:
    """The addresses of the other lab VMs' guests, asked of their agents (a second each at most)."""
    out: list[tuple[str, str]] = []
    for other in topology.vms:
        if other is vm or other.runtime != "lab" or not other.qga or not other.running:
            continue
        try:
            qga = _connect(other, timeout=1.0)
            try:
                out += _guest_addresses(qga, other.name)
            finally:
                qga.close()
        except Exception as e:
            warnings.append(f"{other.name}'s guest addresses are not known (its agent: {e}): "
                            "not checked for duplicates [guest-agent-unavailable]")
    return out


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
             facts: Optional[Facts] = None) -> Plan:
    """``adapter set VM NIC --add-ip … --del-ip …`` on the guest's interface, through the agent.

    Input rules first (no agent needed for them), then whether the agent can
    (its refusal rules), then the guest's current addresses decide
    ip-exists / ip-absent / nothing-to-change.
    """
    facts = facts or Facts(topology)
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
        validate.ips_to_add(add, now, Facts(topology).address_book(), warnings, ns=f"vm:{vm.name}")
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
