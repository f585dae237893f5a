"""The pair test for a VM adapter: ARP probes into the tap that the guest answers.

A VM's guest end is a NIC inside the guest: nothing on the host can send
from it.  So the host end (the tap) asks and the guest answers — every
probe crosses the pair host → guest and its answer guest → host — one
at a time (an ARP answer carries no id of ours, so only stop-and-wait
gives each probe its own latency).  The guest's address and its NIC's
counters come from its QEMU guest agent; the tap's from netlink.

Honest outcomes when that is impossible, with nothing sent:
a paused VM → ``guest-not-running``; no agent channel, an agent that
does not answer, or a NIC the guest does not list (or without IPv4) →
``guest-not-observable``; the VM's cable unplugged (``adapter set …
--cable unplugged``: the NIC's link down through QMP) → ``no-carrier``,
read inside the guest — its NIC's ``/sys/class/net/IFACE`` carrier and
operstate through the agent's guest-exec, asked of vnet-tui's own lab
VMs only (``runtime == "lab"``, as discovery.guestips.askable).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Counters
from vnet_tui.core.readable import readable
from vnet_tui.guest.qga import QGA, QGADisconnected, QGAError, QGATimeout
from vnet_tui.ops.guestagent import guest_exec

from . import framing, sockets
from .counters import GuestNic, agent_nic, delta_json, netlink_counters
from .ends import Pair
from .mirror import mirror_json
from .result import OnTrace, TraceEvent, latency_json, not_tested
from .vmspoof import run_vm_spoof_test
from .vmthroughput import run_vm_throughput_test

PROBE_TIMEOUT = 0.5  # s: an answer later than this counts the probe as lost
LATE_GRACE = 0.05  # s: after a lost probe, wait this long so a late answer is not taken for the next one's
SNAPSHOT_TRIES = 3
CARRIER_TIMEOUT = 10.0  # s for the guest to read its NIC's state (a TCG guest under load is slow)


def guest_link(vm_qga: str, iface: str) -> Optional[dict[str, Any]]:
    """The guest NIC ``iface``'s link as the guest's kernel sees it, through the agent's guest-exec:
    ``{"carrier": bool|None, "admin_up": bool, "operstate": str}``; None when the guest cannot say
    (guest-exec refused, or the answer not understood).  Raises QGAError when the agent does not answer."""
    if not iface or "/" in iface or iface in (".", ".."):
        return None
    d = f"/sys/class/net/{iface}"
    script = f"cat {d}/flags {d}/operstate; cat {d}/carrier 2>/dev/null || echo -"
    try:
        with QGA(vm_qga, timeout=CARRIER_TIMEOUT) as q:
            code, out = guest_exec(q, ["/bin/sh", "-c", script], timeout=CARRIER_TIMEOUT)
    except (QGATimeout, QGADisconnected):
        raise
    except QGAError:  # the agent answered with an error (guest-exec disabled, no /bin/sh): it cannot say
        return None
    words = out.split()
    if code != 0 or len(words) != 3:
        return None
    try:
        flags = int(words[0], 16)
    except ValueError:
        return None
    return {"carrier": {"1": True, "0": False}.get(words[2]), "admin_up": bool(flags & 1), "operstate": words[1]}


def _snapshot(pair: Pair, qga: str, mac: Optional[str]) -> tuple[Optional[GuestNic], Optional[Counters], float]:
    """The guest NIC (agent) and the tap's counters, read as close together as possible.

    The tap is read before and after the agent; when it did not move in
    between, both sides describe the same moment.  Returns the skew (s).
    """
    tap = pair.host
    nic: Optional[GuestNic] = None
    host: Optional[Counters] = None
    skew = 0.0
    for _ in range(SNAPSHOT_TRIES):
        t0 = time.monotonic()
        h0 = netlink_counters(tap.fd, tap.iface.ifindex)
        nic = agent_nic(qga, mac)
        host = netlink_counters(tap.fd, tap.iface.ifindex)
        skew = time.monotonic() - t0
        if h0 == host:
            break
    return nic, host, skew


def run_vm_test(pair: Pair, result: dict[str, Any], frames: int, *, on_trace: Optional[OnTrace] = None,
                rate: Optional[float] = None, cancel: Optional[threading.Event] = None,
                spoof: Optional[str] = None, throughput: Optional[float] = None,
                from_end: Optional[str] = None) -> dict[str, Any]:
    """Probe the guest through the VM adapter's tap; see the module docstring.  ``spoof``: the guest
    sends forged pings instead (vmspoof.py); ``throughput``: traffic against the tap's rate limit for that
    many seconds, from ``from_end`` (vmthroughput.py); both after the same checks."""
    vm, va, tap = pair.vm, pair.vm_adapter, pair.host
    assert vm is not None and va is not None
    trace = on_trace or (lambda _e: None)
    result["method"] = "arp-probes"
    if not vm.running:
        return not_tested(result, "guest-not-running",
                          f"{vm.name} is paused: no guest runs behind {tap.ifname}, so nothing can answer "
                          "(nothing was sent)")
    if not vm.qga:
        return not_tested(result, "guest-not-observable",
                          f"{vm.name} has no guest agent channel (virtserialport org.qemu.guest_agent.0): the "
                          "guest side is not observable (nothing was sent)")
    if not tap.iface.admin_up and tap.iface.state == "down":
        return not_tested(result, "end-down", f"{tap.label} is down: nothing can cross the pair")
    try:
        nic, host0, skew0 = _snapshot(pair, vm.qga, va.guest_mac)
    except QGAError as e:
        return not_tested(result, "guest-not-observable",
                          f"{vm.name}'s guest agent does not answer ({e}); is the guest still booting? "
                          "(nothing was sent)")
    if nic is None:
        return not_tested(result, "guest-not-observable",
                          f"the guest agent of {vm.name} lists no NIC with MAC {va.guest_mac} (nothing was sent)")
    result["guest_nic"] = {"name": nic.name, "mac": nic.mac, "addresses": nic.addresses}
    if vm.runtime == "lab":  # only our own lab VMs' agents run commands for us
        try:
            link = guest_link(vm.qga, nic.name)
        except QGAError as e:
            return not_tested(result, "guest-not-observable",
                              f"{vm.name}'s guest agent does not answer ({e}) (nothing was sent)")
        if link is not None and link["admin_up"] and link["carrier"] is False:
            result["cable"] = {"state": "unplugged", "guest_carrier": False, "guest_admin_up": True,
                               "guest_operstate": link["operstate"]}
            return not_tested(result, "no-carrier",
                              f"{nic.name} in {vm.name} (guest end) is up but has no carrier: its cable is "
                              f"unplugged (the NIC's link is down in QEMU; adapter set {vm.name} {va.id} "
                              "--cable plugged plugs it back). Nothing was sent")
    if throughput is not None:
        result.update(mode="throughput", frames=0)
        return run_vm_throughput_test(pair, result, nic, throughput, from_end, on_trace=on_trace, cancel=cancel)
    if spoof is not None:
        result.update(mode="spoof", method="guest-pings")
        return run_vm_spoof_test(pair, result, nic, spoof, frames, on_trace=on_trace, cancel=cancel)
    if not nic.ipv4:
        return not_tested(result, "guest-not-observable",
                          f"{vm.name}'s {nic.name} has no IPv4 address: nothing to ask with ARP (nothing was sent)")
    target_ip = nic.ipv4[0]
    tip = socket.inet_aton(target_ip)
    sock = sockets.packet_socket(tap.fd, tap.ifname, tap.iface.ifindex, framing.arp_reply_filter(tip),
                                 framing.ETH_P_ARP)
    probe = framing.arp_probe(framing.mac_bytes(tap.iface.mac or "02:00:00:00:00:00"), tip,
                              framing.mac_bytes(va.guest_mac) if va.guest_mac else None)
    guest_label = f"{nic.name} ({vm.name}, guest end, {target_ip})"
    trace(TraceEvent("start", text=f"{tap.label} → {guest_label}: {frames:,} ARP probes, each answered back"))
    latencies: list[float] = []
    lost: list[int] = []
    late = sent = 0
    t0 = time.monotonic()
    next_at = t0
    interval = 1.0 / rate if rate else 0.0
    try:
        with sock:
            for seq in range(frames):
                if cancel is not None and cancel.is_set():
                    break
                if interval and (wait := next_at - time.monotonic()) > 0:
                    time.sleep(wait)
                next_at = max(next_at + interval, time.monotonic()) if interval else 0.0
                sent_ns = time.time_ns()
                sock.send(probe)
                sent += 1
                trace(TraceEvent("sent", seq, None, sent, len(latencies)))
                answered = False
                deadline = time.monotonic() + PROBE_TIMEOUT
                while not answered and (left := deadline - time.monotonic()) > 0:
                    if not readable(sock, left):
                        continue
                    for data, ts in sockets.received(sock):
                        if not framing.is_probe_answer(data, tip):
                            continue
                        if answered:
                            late += 1
                            continue
                        answered = True
                        latencies.append(max(0.0, ((ts or time.time_ns()) - sent_ns) / 1e6))
                        trace(TraceEvent("arrived", seq, latencies[-1], sent, len(latencies)))
                if not answered:
                    lost.append(seq)
                    trace(TraceEvent("lost", seq, None, sent, len(latencies)))
                    time.sleep(LATE_GRACE)
                    late += sum(1 for data, _ in sockets.received(sock) if framing.is_probe_answer(data, tip))
            capture_drops = sockets.capture_drops(sock)
    except OSError as e:
        raise VnetError(f"sending on {tap.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    try:
        nic1, host1, skew1 = _snapshot(pair, vm.qga, va.guest_mac)
    except QGAError:
        nic1, host1, skew1 = None, netlink_counters(tap.fd, tap.iface.ifindex), 0.0
    g0, g1 = nic.counters, nic1.counters if nic1 else None
    gd = g1.minus(g0) if g1 and g0 else None
    hd = host1.minus(host0) if host1 and host0 else None
    result.update(
        sent=sent, received=len(latencies), lost=len(lost), out_of_order=0,
        latency_ms=latency_json(latencies),
        ends={"guest": delta_json(g1, g0), "host": delta_json(host1, host0)},
        mirror=mirror_json(gd, hd, max(skew0, skew1)), late=late, capture_drops=capture_drops,
        seconds=round(time.monotonic() - t0, 3), sender=tap.label, receiver=guest_label,
        lost_seqs=lost[:100], guest_counters="guest agent" if g1 else None,
    )
    if result["ends"]["guest"] is None:
        result["message"] = "the guest agent stopped answering: its counters are not known"
    if lost:
        result["status"] = "lost"
        result["message"] = (result["message"] + "; " if result["message"] else "") + (
            f"{len(lost):,} of {sent:,} probes got no answer from {guest_label}")
    elif not result["message"]:
        result["message"] = f"{vm.name}'s guest answered all {sent:,} probes sent from {tap.label}"
    if cancel is not None and cancel.is_set() and sent < frames:
        result["message"] += f" (stopped after {sent:,} of {frames:,})"
    trace(TraceEvent("done", -1, None, sent, len(latencies), result["message"]))
    return result
