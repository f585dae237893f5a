"""The spoof test for a VM adapter: the guest itself sends forged frames; its tap's filters drop and count them.

    result = run_pair_test(Server(lab="x"), "vm201", "net0", spoof="mac", frames=200)

A VM's guest end is a NIC inside the guest: nothing on the host can send
from it.  So the lab guest sends, through its QEMU guest agent
(guest-exec of a busybox ``sh`` script), N pings to an address no one
has (``TARGET``), with a neighbour entry of ours pointing it at the
tap's own MAC — a frame to the host end's own address goes up to the
lab bridge itself and is forwarded to no other port, filter or not:

- ``mac``: the guest's NIC takes the spoofed MAC (``ip link set … address``)
  for the pings, then its own again;
- ``ipv4``: the guest's NIC takes the spoofed address as a /32
  (``ip addr add``) and pings from it (``ping -I``), then drops it.

The same script restores the guest (its MAC, the /32, our neighbour
entry) whatever the pings did, so an agent that stops answering
midway leaves no forged state behind; afterwards the agent is asked
again, a restore that did not hold is tried once more, and the result
says so (``spoof.guest_restored``).  Only vnet-tui's own lab VMs' agents
are used (``runtime == "lab"``: rule ``guest-agent-not-ours`` otherwise).

Counts, each from the kernel: left the guest (the guest NIC's
``tx_packets`` delta, from the agent), dropped at the host end (the
tap's own nftables rule counter, policy.read) and got past (our pings,
told apart by their forged source and the unused target, captured where
they arrive past the tap's ingress hook: its bridge, which takes a frame
to the tap's own MAC for itself and forwards it to no other port).  ARP sender, IPv6 and NDP spoofing are not offered: busybox's
``arping`` sends one request a second and its ``ip`` has no IPv6 source
selection a ping could use — rule ``spoof-kind-needs-container``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotPermitted, VnetError
from vnet_tui.core.readable import readable
from vnet_tui.guest.qga import QGA, QGAError
from vnet_tui.ops.guestagent import guest_exec

from . import forge, sockets
from .counters import GuestNic, agent_nic, netlink_counters
from .ends import Pair
from .hostpolicy import read_host
from .result import OnTrace, TraceEvent, not_tested
from .spoof import forge_word, record_counts

VM_SPOOFS = ("mac", "ipv4")
TARGET = "198.18.255.67"  # an address no lab adapter has (forge.SPOOF_V4 is .66)
INTERVAL = 0.002  # s between two pings in the guest
AGENT_TIMEOUT = 20.0  # s for one agent answer (a TCG guest under load is slow)
SETTLE = 0.5  # s after the guest's script for the tap's socket to get what got past


def check_vm_kind(kind: str) -> None:
    if kind not in VM_SPOOFS:
        raise InvalidInput(
            f"--spoof {kind}: a VM's guest sends its own frames, and the lab guest's busybox can forge only "
            f"{' and '.join(VM_SPOOFS)} at a countable rate (arping sends one request a second; no IPv6 source "
            "a ping could pick): use a container adapter for it",
            rule="spoof-kind-needs-container")


def _script(kind: str, iface: str, mac: str, tap_mac: str, frames: int) -> str:
    """The guest's script: forge, ping, restore (whatever the ping did), say how the restore went."""
    deadline = int(30 + frames * INTERVAL * 20)
    unneigh = f"arp -i {iface} -d {TARGET}"
    if kind == "mac":
        forge_ = f"ip link set {iface} address {forge.SPOOF_MAC} || exit 91"
        ping = f"ping -q -c {frames} -i {INTERVAL} -W 1 -w {deadline} {TARGET}"
        undo = f"ip link set {iface} address {mac}"
    else:
        forge_ = (f"ip addr del {forge.SPOOF_V4}/32 dev {iface} 2>/dev/null; "
                  f"ip addr add {forge.SPOOF_V4}/32 dev {iface} || exit 91")
        ping = f"ping -q -c {frames} -i {INTERVAL} -W 1 -w {deadline} -I {forge.SPOOF_V4} {TARGET}"
        undo = f"ip addr del {forge.SPOOF_V4}/32 dev {iface}"
    neigh_or_undo = f"arp -i {iface} -s {TARGET} {tap_mac} || {{ {undo}; exit 90; }}"
    # the neighbour entry after the forging: a new MAC flushes the NIC's neighbours, permanent ones too
    return (f"{unneigh} 2>/dev/null; {forge_}; {neigh_or_undo}; {ping}; {undo}; r1=$?; {unneigh}; r2=$?; "
            "echo vnet-restore $r1 $r2")


def _restored(qga_path: str, kind: str, mac: str, iface: str) -> tuple[bool, str]:
    """Whether the guest is as it was (asked of the agent): (yes, what is still off)."""
    with QGA(qga_path, timeout=AGENT_TIMEOUT) as q:
        items = q.interfaces()
        _code, out = guest_exec(q, ["/bin/sh", "-c", f"arp -an -i {iface}"], timeout=AGENT_TIMEOUT)
    macs = {(i.get("hardware-address") or "").lower() for i in items}
    addrs = {a.get("ip-address") for i in items for a in i.get("ip-addresses", [])}
    off = []
    if mac.lower() not in macs:
        off.append(f"its NIC's MAC is not {mac}")
    if forge.SPOOF_V4 in addrs:
        off.append(f"it still has {forge.SPOOF_V4}")
    if f"({TARGET})" in out:
        off.append(f"its neighbour entry for {TARGET} is still there")
    return not off, "; ".join(off)


def _restore(qga_path: str, kind: str, mac: str, iface: str) -> None:
    undo = (f"ip link set {iface} address {mac}" if kind == "mac" else
            f"ip addr del {forge.SPOOF_V4}/32 dev {iface} 2>/dev/null")
    with QGA(qga_path, timeout=AGENT_TIMEOUT) as q:
        guest_exec(q, ["/bin/sh", "-c", f"{undo}; arp -i {iface} -d {TARGET} 2>/dev/null; true"],
                   timeout=AGENT_TIMEOUT)


def _ours(data: bytes, kind: str) -> bool:
    """A ping of this test that got past: its forged source, to the unused target."""
    if len(data) < 34 or data[12:14] != b"\x08\x00" or data[23] != 1:
        return False
    if data[30:34] != socket.inet_aton(TARGET):
        return False
    if kind == "mac":
        return data[6:12] == bytes.fromhex(forge.SPOOF_MAC.replace(":", ""))
    return data[26:30] == socket.inet_aton(forge.SPOOF_V4)


def run_vm_spoof_test(pair: Pair, result: dict[str, Any], nic: GuestNic, kind: str, frames: int, *,
                      on_trace: Optional[OnTrace] = None,
                      cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    """The lab guest sends ``frames`` forged pings of ``kind``; count them at both ends (see above)."""
    vm, va, tap = pair.vm, pair.vm_adapter, pair.host
    assert vm is not None and va is not None and vm.qga
    if vm.runtime != "lab":
        raise NotPermitted(f"{vm.owner_name} is run by {vm.runtime}, not by vnet-tui: its guest agent is not ours "
                           "to run commands with", rule="guest-agent-not-ours")
    check_vm_kind(kind)
    spoof = forge.SPOOFS[kind]
    trace = on_trace or (lambda _e: None)
    mac = (va.guest_mac or nic.mac or "").lower()
    script = _script(kind, nic.name, mac, tap.iface.mac or "", frames)
    pol0 = read_host(tap.fd, tap.ifname)
    filter_on = (pol0 or {}).get(spoof.policy) is not None
    what = "its " + forge_word(spoof.policy) + (" is on" if filter_on else " is OFF")
    guest_label = f"{nic.name} ({vm.name}, guest end)"
    # past the tap's ingress hook, a frame to the tap's own MAC goes up to its bridge: a socket there sees
    # it (one on the tap for IPv4 alone would not: the bridge takes the frame first); no bridge, the tap
    cap_if, cap_ix = ((tap.iface.master, tap.iface.master_ifindex) if tap.iface.master and tap.iface.master_ifindex
                      else (tap.ifname, tap.iface.ifindex))
    cap = sockets.packet_socket(tap.fd, cap_if, cap_ix, forge.proto_filter(forge.ETH_P_IP), forge.ETH_P_IP)
    h0 = netlink_counters(tap.fd, tap.iface.ifindex)
    g0 = nic.counters
    trace(TraceEvent("start", text=f"{guest_label} → {tap.label}: the guest sends {frames:,} pings with a spoofed "
                                   f"{spoof.forged} ({what})"))
    passed = 0
    outcome: dict[str, Any] = {}

    def in_guest() -> None:
        try:
            with QGA(vm.qga or "", timeout=AGENT_TIMEOUT) as q:
                outcome["answer"] = guest_exec(q, ["/bin/sh", "-c", script],
                                               timeout=AGENT_TIMEOUT + frames * INTERVAL * 20)
        except QGAError as e:
            outcome["error"] = e

    t0 = time.monotonic()
    worker = threading.Thread(target=in_guest, name="vm-spoof", daemon=True)
    try:
        with cap:
            worker.start()
            while worker.is_alive() or time.monotonic() - t0 < 0.1:
                if readable(cap, 0.05):
                    for data, _ts in sockets.received(cap):
                        if _ours(data, kind):
                            passed += 1
                            trace(TraceEvent("arrived", -1, None, 0, passed))
                worker.join(0)
            deadline = time.monotonic() + SETTLE
            while time.monotonic() < deadline:
                if readable(cap, 0.05):
                    passed += sum(1 for data, _ in sockets.received(cap) if _ours(data, kind))
            capture_drops = sockets.capture_drops(cap)
    except OSError as e:
        raise VnetError(f"capturing on {tap.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    code, out = outcome.get("answer", (None, ""))
    # the guest is checked (and restored once more when it must be) whatever happened above
    try:
        restored, off = _restored(vm.qga, kind, mac, nic.name)
        if not restored:
            _restore(vm.qga, kind, mac, nic.name)
            restored, off = _restored(vm.qga, kind, mac, nic.name)
    except QGAError as e:
        restored, off = False, f"the guest agent does not answer ({e})"
    try:
        nic1 = agent_nic(vm.qga, mac, timeout=AGENT_TIMEOUT)
    except QGAError:
        nic1 = None
    h1 = netlink_counters(tap.fd, tap.iface.ifindex)
    pol1 = read_host(tap.fd, tap.ifname)
    g1 = nic1.counters if nic1 else None
    m = re.search(r"(\d+) packets transmitted", out)
    sent = int(m.group(1)) if m else 0
    restore_note = "" if restored else f"; THE GUEST WAS NOT RESTORED: {off}"
    if "error" in outcome or code is None or code >= 90 or not m:
        why = (f"the guest agent failed ({outcome['error']})" if "error" in outcome else
               f"the guest could not forge its {spoof.forged} (exit {code}: {out[-200:]})")
        not_tested(result, "guest-not-observable", f"{why}{restore_note}")
        result["spoof"] = {"kind": kind, "forged": spoof.forged, "sender": "guest", "guest_restored": restored}
        return result
    left, dropped, lost = record_counts(
        result, kind, sent, passed, filter_on, forge.SPOOF_MAC if kind == "mac" else forge.SPOOF_V4, pol0, pol1,
        (g0, g1), (h0, h1), {"sender": "guest", "guest_restored": restored}, method="guest-pings",
        capture_drops=capture_drops, seconds=round(time.monotonic() - t0, 3), sender=guest_label, receiver=tap.label,
        guest_counters="guest agent" if g1 else None)
    counted = f"tx +{left:,}" if left is not None else "its counters not readable"
    by_ = (f"by its {forge_word(spoof.policy)} (rule {spoof.rule})" if filter_on else
           f"(it has no {forge_word(spoof.policy)})")
    base = (f"{vm.name}'s guest sent {sent:,} pings with a spoofed {spoof.forged} ({counted} on its {nic.name}); "
            f"{dropped:,} dropped at the host end {by_}; {passed:,} got past; the guest's "
            + ("MAC" if kind == "mac" else "address") + (" is restored" if restored else " is NOT restored"))
    if left is not None and left < sent:
        result["status"] = "lost"
        result["message"] = f"{base}; the guest's NIC counted only {left:,} leaving"
    elif passed:
        result["status"] = "got-past"
        why = (f"{tap.ifname} has no {forge_word(spoof.policy)}" if not filter_on else
               f"{tap.ifname}'s {forge_word(spoof.policy)} let them through")
        allow = ",".join(a.split("/")[0] for a in nic.addresses if not a.lower().startswith("fe80"))
        setting = "--mac-filter on" if spoof.policy == "mac_filter" else f"--ip-filter {allow or 'ADDRESSES'}"
        result["message"] = f"{base} — {why} (adapter set {result['target']} {result['ifname']} {setting})"
    elif lost:
        result["status"] = "lost"
        result["message"] = f"{base}; {lost:,} neither counted dropped nor seen past the host end"
    else:
        result["message"] = base
    result["message"] += restore_note
    if cancel is not None and cancel.is_set():
        result["message"] += " (cancel asked: the guest's script runs to its end)"
    trace(TraceEvent("done", -1, None, sent, passed, result["message"]))
    return result
