"""A lab VM's QEMU guest agent, as the guest-address plans use it: connect, check, read, exec.

Only VMs vnet-tui made (``runtime == "lab"``) have their agent socket
opened; each refusal names its rule (``guest-agent-not-ours``,
``guest-agent-unavailable``, ``guest-exec-disabled``, ``guest-nic-absent``).
``guest_addresses_possible`` asks the same of a form, without raising.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotPermitted, VnetError
from vnet_tui.core.model import VM, Adapter, Topology
from vnet_tui.guest.nicaddrs import nic_addresses
from vnet_tui.guest.qga import QGA, QGAError, QGATimeout

NEEDED = ("guest-exec", "guest-exec-status", "guest-network-get-interfaces")
AGENT_TIMEOUT = 3.0  # seconds for one agent answer
EXEC_TIMEOUT = 10.0  # seconds for one guest-exec to finish (TCG guests are slow)


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
        return str(item.get("name")), nic_addresses(item)
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
