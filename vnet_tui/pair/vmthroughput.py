"""The throughput test on a lab VM's adapter: traffic at 3× the tap's rate limit, measured where it arrives.

    result = run_pair_test(Server(lab="x"), "vm201", "net0", throughput=4.0, from_end="host")

A VM's guest end is a NIC inside the guest, so one side of each
direction is reached through the guest's QEMU guest agent (vnet-tui's
own lab VMs only: ``runtime == "lab"``, else ``guest-agent-not-ours``):

- ``rate-in`` (the tbf on the tap: what the guest receives), ``--from
  host``: the tap sends full-size frames paced at ``OFFER`` times the
  limit exactly as for a container (throughput.send_paced), but to the
  guest NIC's own MAC — QEMU's virtio-net receive filter drops the
  nearest-bridge group a container's pair uses — as IPv6 packets with
  "no next header" (59) from the tap's link-local address to the guest's
  (the marked frame's tag after the header).  Sent on the tap, they go
  nowhere but into the guest, whose kernel counts them (``rx_bytes``) and
  discards them quietly (no answer, no ``rx_dropped``, unlike 0x88b5
  frames, which have no handler there).  A busybox loop
  in the guest, started through the agent before the first frame, prints
  its uptime and the NIC's ``rx_bytes``/``rx_packets`` every ``SAMPLE``
  seconds; its output, read when it ends, gives what arrived each second
  and the rate held after the first second (between two samples, on the
  guest's own clock; ``method`` ``"guest-counters"``).
- ``rate-out`` (the nftables policer at the tap's ingress: what the
  guest sends), from the guest: busybox has no UDP sender, but its
  ``ping`` takes a size and a fractional interval.  ``pings`` pings
  (``ping_plan``) of ``k`` full 1,500-byte IP fragments each are paced at
  3× the limit in all, to ``TARGET`` (an address no one has) with a
  neighbour entry pointing at the tap's own MAC: past the tap they go up
  to the lab bridge itself and to no other port.  The same script removes
  the entry; the agent is asked again afterwards.  Two sockets in the
  tap's namespace count them with the kernel's receive time: an
  ``ETH_P_ALL`` one on the tap, which the kernel serves before the
  ingress hook (what the guest offered), and one on the tap's bridge (no
  bridge: the tap, for IPv4), served after it (what the policer let past;
  ``method`` ``"guest-pings"``).  A guest too slow to offer 1.5× the limit
  gets ``limit-not-reached``, as the offer is measured, not assumed.

The result has the container's shape (docs/CLI.md); the statuses are
throughput.py's.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import NotPermitted, VnetError
from vnet_tui.core.readable import readable
from vnet_tui.guest.qga import QGA, QGAError
from vnet_tui.ops.guestagent import guest_exec

from . import framing, sockets
from .counters import GuestNic, agent_nic, netlink_counters
from .ends import Pair
from .hostpolicy import drops, read_host
from .result import OnTrace, TraceEvent, not_tested
from .throughput import (OFFER, SETTLE, Offered, bits, conclude, frame_size, held_rate, limit_of, per_second,
                         pick_sender, send_paced, start_text, throughput_json)
from .vmguest import (TARGET, bucket_seconds, guest_rates, ipv4_filter, link_local, parse_samples, ping_plan,
                      sampler_script, sender_script, to_guest_header)

LEAD = 0.5  # s between the guest's sampler starting and the first frame
TAIL = 1.0  # s the sampler goes on after the last frame
AGENT_TIMEOUT = 20.0  # s for one agent answer (a TCG guest under load is slow)
NO_LIMIT_BPS = 10_000_000  # without a limit the guest offers 3× this


def run_vm_throughput_test(pair: Pair, result: dict[str, Any], nic: GuestNic, seconds: float,
                           from_end: Optional[str], *, on_trace: Optional[OnTrace] = None,
                           cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    vm = pair.vm
    assert vm is not None and vm.qga
    if vm.runtime != "lab":
        raise NotPermitted(f"{vm.owner_name} is run by {vm.runtime}, not by vnet-tui: its guest agent is not ours "
                           "to run the guest's side of a throughput test with", rule="guest-agent-not-ours")
    pol0 = read_host(pair.host.fd, pair.host.ifname)
    sender = pick_sender(pol0, from_end)
    result["from"] = sender
    trace = on_trace or (lambda _e: None)
    if sender == "host":
        return _to_guest(pair, result, nic, seconds, pol0, trace, cancel)
    if not nic.ipv4:
        return not_tested(result, "guest-not-observable", f"{vm.name}'s {nic.name} has no IPv4 address: its "
                                                          "guest has nothing to send with (nothing was sent)")
    return _from_guest(pair, result, nic, seconds, pol0, trace, cancel)


# -- host → guest: the tbf --------------------------------------------------------------------------------


def _to_guest(pair: Pair, result: dict[str, Any], nic: GuestNic, seconds: float, pol0: Optional[dict[str, Any]],
              trace: OnTrace, cancel: Optional[threading.Event]) -> dict[str, Any]:
    vm, va, tap = pair.vm, pair.vm_adapter, pair.host
    assert vm is not None and vm.qga and va is not None
    lim = limit_of(pol0, "rate_in")
    limit_bps = int(lim["rate_bps"]) if lim else None
    size = frame_size(tap.iface.mtu, None)
    run_id = framing.new_run_id()
    mac = va.guest_mac or nic.mac or ""
    v6 = [a.split("/")[0] for a in nic.addresses if ":" in a]
    head = to_guest_header(mac, tap.iface.mac or "02:00:00:00:00:00",
                           next((a for a in v6 if a.lower().startswith("fe80")), v6[0] if v6 else link_local(mac)),
                           size)
    pad = bytes(max(0, size - len(head) - (framing.MARKED_LEN - 14)))
    guest_label = f"{nic.name} ({vm.name}, guest end)"
    tx = sockets.packet_socket(tap.fd, tap.ifname, tap.iface.ifindex)
    h0 = netlink_counters(tap.fd, tap.iface.ifindex)
    outcome: dict[str, Any] = {}
    script = sampler_script(nic.name, LEAD + seconds + TAIL)
    try:
        with QGA(vm.qga, timeout=AGENT_TIMEOUT) as q:
            pid = q.execute("guest-exec", {"path": "/bin/sh", "arg": ["-c", script], "capture-output": True})["pid"]
    except QGAError as e:
        tx.close()
        return not_tested(result, "guest-not-observable", f"{vm.name}'s guest agent did not start the guest's "
                                                          f"counter sampler ({e}) (nothing was sent)")
    trace(TraceEvent("start", text=start_text(tap.label, guest_label, size, seconds, "rate_in", limit_bps)
                     + "; the guest counts what arrives"))
    time.sleep(LEAD)

    def tick(t: float, o: Offered) -> None:
        trace(TraceEvent("note", text=f"{t:4.1f} s  offered {bits(o.sent_bytes * 8 / t)}", sent=o.sent))

    try:
        off = send_paced(tx, lambda seq: head + framing.marked_frame(b"", run_id, seq, time.time_ns())[14:] + pad,
                         size * 8 / (OFFER * limit_bps) if limit_bps else 0.0, seconds, idle=time.sleep, tick=tick,
                         cancel=cancel)
    except OSError as e:
        raise VnetError(f"sending on {tap.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    try:
        with QGA(vm.qga, timeout=AGENT_TIMEOUT) as q:
            outcome["answer"] = _exec_status(q, pid, LEAD + seconds + TAIL + AGENT_TIMEOUT)
        g1 = agent_nic(vm.qga, va.guest_mac, timeout=AGENT_TIMEOUT)
    except QGAError as e:
        outcome["error"], g1 = e, None
    h1 = netlink_counters(tap.fd, tap.iface.ifindex)  # after the sampler's tail: the tbf has drained
    pol1 = read_host(tap.fd, tap.ifname)
    samples = parse_samples(outcome.get("answer", (1, ""))[1])
    rates = guest_rates(samples, off.elapsed, size, bool(limit_bps)) if samples else None
    dp = drops(pol0, pol1)
    if rates is None:
        why = (f"the guest agent failed ({outcome['error']})" if "error" in outcome else
               f"the guest's samples show no traffic arriving ({len(samples)} samples)")
        # sent stays 0 with this status (the result shape's rule): the message says what was sent
        not_tested(result, "guest-not-observable", f"{off.sent:,} frames were sent from {tap.label}, but {why}: "
                                                   "what arrived is not known")
        result["method"] = "guest-counters"
        return result
    held, per_s, arrived = rates
    tp = throughput_json("rate_in", lim, off, size, [], arrived, dp, held=held, seconds=per_s)
    g0 = nic.counters
    conclude(result, tp, dp, (g0, g1.counters if g1 else None), (h0, h1), tap.ifname, vm=True,
             method="guest-counters", frame_bytes=size, capture_drops=0, sender=tap.label, receiver=guest_label,
             guest_counters="guest agent", guest_samples=len(samples))
    trace(TraceEvent("done", -1, None, off.sent, arrived, result["message"]))
    return result


def _exec_status(q: QGA, pid: int, timeout: float) -> tuple[int, str]:
    """Wait for the guest-exec ``pid`` started earlier (guest_exec starts and waits in one): (exit code, output)."""
    deadline = time.monotonic() + timeout
    while not (st := q.execute("guest-exec-status", {"pid": pid})).get("exited"):
        if time.monotonic() > deadline:
            raise QGAError(f"the guest's sampler did not end within {timeout:g} s")
        time.sleep(0.05)
    out = base64.b64decode(st.get("out-data") or "").decode(errors="replace")
    return int(st.get("exitcode", 1) or 0), out


# -- guest → host: the policer ----------------------------------------------------------------------------


def _neighbour_left(qga_path: str, iface: str) -> bool:
    """Whether the guest still has our neighbour entry (removed once more when it has)."""
    with QGA(qga_path, timeout=AGENT_TIMEOUT) as q:
        _c, out = guest_exec(q, ["/bin/sh", "-c", f"arp -an -i {iface}"], timeout=AGENT_TIMEOUT)
        if f"({TARGET})" not in out:
            return False
        guest_exec(q, ["/bin/sh", "-c", f"arp -i {iface} -d {TARGET}"], timeout=AGENT_TIMEOUT)
        _c, out = guest_exec(q, ["/bin/sh", "-c", f"arp -an -i {iface}"], timeout=AGENT_TIMEOUT)
    return f"({TARGET})" in out


def _from_guest(pair: Pair, result: dict[str, Any], nic: GuestNic, seconds: float, pol0: Optional[dict[str, Any]],
                trace: OnTrace, cancel: Optional[threading.Event]) -> dict[str, Any]:
    vm, va, tap = pair.vm, pair.vm_adapter, pair.host
    assert vm is not None and vm.qga and va is not None
    lim = limit_of(pol0, "rate_out")
    limit_bps = int(lim["rate_bps"]) if lim else None
    size = frame_size(tap.iface.mtu, None)
    plan = ping_plan(OFFER * (limit_bps or NO_LIMIT_BPS), size, seconds)
    script = sender_script(nic.name, tap.iface.mac or "", plan, seconds)
    guest_label = f"{nic.name} ({vm.name}, guest end)"
    flt = ipv4_filter(TARGET)
    # the tap's ETH_P_ALL socket is served before its ingress hook; past it, a frame to the tap's own MAC goes
    # up to its bridge (a protocol socket there sees it; no bridge: one on the tap)
    pre = sockets.packet_socket(tap.fd, tap.ifname, tap.iface.ifindex, flt, sockets.ETH_P_ALL)
    cap_if, cap_ix = ((tap.iface.master, tap.iface.master_ifindex) if tap.iface.master and tap.iface.master_ifindex
                      else (tap.ifname, tap.iface.ifindex))
    try:
        post = sockets.packet_socket(tap.fd, cap_if, cap_ix, flt, 0x0800)
    except BaseException:
        pre.close()
        raise
    h0 = netlink_counters(tap.fd, tap.iface.ifindex)
    trace(TraceEvent("start", text=start_text(guest_label, tap.label, size, seconds, "rate_out", limit_bps)
                     + f"; the guest sends {plan['processes']} × {plan['count']:,} pings of {plan['fragments']} "
                       f"fragments through its agent"))
    offered: list[tuple[int, int]] = []
    passed: list[tuple[int, int]] = []
    outcome: dict[str, Any] = {}

    def in_guest() -> None:
        try:
            with QGA(vm.qga or "", timeout=AGENT_TIMEOUT) as q:
                outcome["answer"] = guest_exec(q, ["/bin/sh", "-c", script], timeout=AGENT_TIMEOUT + seconds * 3)
        except QGAError as e:
            outcome["error"] = e

    def drain() -> None:
        for sock, into in ((pre, offered), (post, passed)):
            for data, ts in sockets.received(sock):
                into.append((ts or time.time_ns(), len(data)))

    worker = threading.Thread(target=in_guest, name="vm-throughput", daemon=True)
    last = time.monotonic()
    try:
        with pre, post:
            worker.start()
            while worker.is_alive():
                if readable(pre, 0.05) or readable(post, 0):
                    drain()
                if time.monotonic() - last >= 0.5 and offered:
                    last = time.monotonic()
                    t = max(1e-3, (offered[-1][0] - offered[0][0]) / 1e9)
                    trace(TraceEvent("note", text=f"{t:4.1f} s  offered {bits(sum(n for _, n in offered) * 8 / t)}"
                                                  f"  past the policer {bits(sum(n for _, n in passed) * 8 / t)}",
                                     sent=len(offered), received=len(passed)))
                worker.join(0)
            deadline = time.monotonic() + SETTLE
            while time.monotonic() < deadline:
                if readable(pre, 0.05) or readable(post, 0):
                    drain()
            drain()
            drops_pre, drops_post = sockets.capture_drops(pre), sockets.capture_drops(post)
    except OSError as e:
        raise VnetError(f"capturing on {tap.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    h1 = netlink_counters(tap.fd, tap.iface.ifindex)
    pol1 = read_host(tap.fd, tap.ifname)
    try:
        left = _neighbour_left(vm.qga, nic.name)
        g1 = agent_nic(vm.qga, va.guest_mac, timeout=AGENT_TIMEOUT)
    except QGAError as e:
        left, g1 = True, None
        outcome.setdefault("error", e)
    code, out = outcome.get("answer", (None, ""))
    restore_note = f"; THE GUEST KEEPS ITS NEIGHBOUR ENTRY FOR {TARGET}" if left else ""
    if "error" in outcome or code is None or code >= 90 or "vnet-restore" not in out or not offered:
        why = (f"the guest agent failed ({outcome['error']})" if "error" in outcome else
               f"the guest could not send (exit {code}: {out[-200:]})" if not offered or code is None or code >= 90
               else "nothing the guest sent reached the tap")
        not_tested(result, "guest-not-observable", f"{why}{restore_note}")
        result["method"] = "guest-pings"
        return result
    t0 = offered[0][0]
    elapsed = (offered[-1][0] - t0) / 1e9 + 1 / plan["pings_per_s"]  # the last ping's period with it
    off = Offered(len(offered) + drops_pre, sum(n for _, n in offered), 0, elapsed)
    dp = drops(pol0, pol1)
    rel = [(ts - t0, n) for ts, n in passed]
    skip = bucket_seconds(lim, off.sent_bytes * 8 / elapsed, elapsed)
    tp = throughput_json("rate_out", lim, off, size, rel, len(passed) + drops_post, dp,
                         held=held_rate(rel, elapsed, bool(limit_bps), skip), seconds=per_second(rel, elapsed + 0.5))
    conclude(result, tp, dp, (nic.counters, g1.counters if g1 else None), (h0, h1), tap.ifname, vm=True,
             method="guest-pings", frame_bytes=size, capture_drops=drops_pre + drops_post, sender=guest_label,
             receiver=tap.label, guest_counters="guest agent" if g1 else None,
             pings={k: plan[k] for k in ("processes", "count", "interval", "size", "fragments")},
             guest_restored=not left, held_from_s=round(skip, 2) if limit_bps else 0)
    result["message"] += restore_note
    if cancel is not None and cancel.is_set():
        result["message"] += " (cancel asked: the guest's pings run to their end)"
    trace(TraceEvent("done", -1, None, off.sent, len(passed), result["message"]))
    return result
