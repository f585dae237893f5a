"""The pair test: send marked frames into one end of an adapter and count them at the other.

    result = run_pair_test(Server(lab="demo"), "ct101", "eth0", from_end="guest", frames=1000)

Container adapters (veth): a packet socket on the sending end (inside
its namespace) sends ``frames`` marked frames (framing.py); a capture
socket on the other end counts those of this run, with the kernel's
receive time.  At most ``WINDOW`` frames are in flight, so neither the
backlog nor the capture buffer overflows; ``rate`` (frames/s) paces the
burst for a trace people can watch.  Both ends' counters are read before
and after: their deltas, and the mirror check over them, are part of
the result.

VM adapters go to ``vm.run_vm_test`` (ARP probes the guest answers).

Two demo modes show a container adapter's policy at work:
``spoof=KIND`` (spoof.py: forged frames from the guest end, dropped and
counted by the host end's filters) and ``throughput=SECONDS``
(throughput.py: traffic held at the host end's rate limit).  A lab VM's
adapter takes ``spoof`` ``mac``/``ipv4``, sent by its guest (vmspoof.py),
and ``throughput`` (vmthroughput.py: the guest's side through its agent);
its no-carrier is read inside the guest (vm.py).  Before
anything is sent, a guest end without carrier — the cable unplugged at
the host end — is reported as ``no-carrier``, apart from an end that is
administratively down (``end-down``).

Nothing is sent anywhere but the two ends of the pair (see framing.py).
Blocking: the TUI runs it in a thread worker.  ``on_trace`` is called
from the calling thread for every frame; ``cancel`` stops it early.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal, Optional

from vnet_tui.core.errors import InvalidInput, NotPermitted, VnetError
from vnet_tui.core.model import Topology
from vnet_tui.core.readable import readable
from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import discover

from . import forge, framing, sockets
from .counters import delta_json, netlink_counters
from .ends import End, Pair, resolve
from .mirror import mirror_json
from .result import OnTrace, TraceEvent, base_result, latency_json, not_tested
from .isolation import check_isolation_target, run_isolation_test
from .spoof import run_spoof_test
from .throughput import MAX_SECONDS, run_throughput_test
from .vm import run_vm_test
from .vmspoof import check_vm_kind

MAX_FRAMES = 100_000
WINDOW = 256  # frames in flight at most
SETTLE = 1.0  # s: how long to wait for stragglers after the last frame
STALL = 0.2  # s: with the window full and nothing arriving, send on anyway (frames are being lost)
TRACE_LOST_MAX = 100  # lost frames named one by one in the trace

FromEnd = Literal["guest", "host"]


def check_frames(frames: int) -> int:
    if not 1 <= frames <= MAX_FRAMES:
        raise InvalidInput(f"--frames {frames}: send 1–{MAX_FRAMES:,} frames", rule="frames")
    return frames


def check_modes(spoof: Optional[str], throughput: Optional[float]) -> None:
    if spoof is not None and throughput is not None:
        raise InvalidInput("--spoof and --throughput are two tests: run one at a time", rule="pair-mode")
    if spoof is not None and spoof not in forge.SPOOFS:
        raise InvalidInput(f"--spoof {spoof!r}: one of {', '.join(forge.SPOOFS)}", rule="spoof")
    if throughput is not None and not 1.0 <= throughput <= MAX_SECONDS:
        raise InvalidInput(f"--throughput {throughput:g}: 1–{MAX_SECONDS:g} seconds", rule="throughput")


def run_pair_test(server: Server, target: str, ifname: str, from_end: Optional[FromEnd] = None,
                  frames: int = 1000, *,
                  topology: Optional[Topology] = None, on_trace: Optional[OnTrace] = None,
                  rate: Optional[float] = None, cancel: Optional[threading.Event] = None,
                  spoof: Optional[str] = None, throughput: Optional[float] = None,
                  isolation: bool = False) -> dict[str, Any]:
    """Test the adapter TARGET IFNAME end to end; returns the result dict (result.py).

    ``from_end``: which end sends (default: a container's guest end; a
    VM's host end always asks and its guest answers).  Raises NotFound
    (no such target/adapter), NotPermitted (it carries the SSH session),
    InvalidInput (bad ``frames``/``from_end``/mode).
    ``topology``: a discovered topology to use (default: discover now).
    ``spoof``: a kind of spoofing (forge.SPOOFS) to send from the guest end instead of marked frames;
    ``throughput``: seconds to send for, measured against the host end's rate limit.  A VM: lab VMs only.
    ``isolation``: frames from temporary probe ports on the host end's bridge (isolation.py; lab containers).
    """
    check_frames(frames)
    check_modes(spoof, throughput)
    if isolation and (spoof is not None or throughput is not None or from_end is not None):
        raise InvalidInput("--isolation sends from probe ports on the host end's bridge, not from either end: "
                           "no --from, --spoof or --throughput with it", rule="pair-mode")
    if from_end not in (None, "guest", "host"):
        raise InvalidInput(f"--from {from_end!r}: guest or host", rule="from")
    if spoof is not None and from_end == "host":
        raise InvalidInput("--spoof sends from the guest end (the host end's filters judge what the guest sends)",
                           rule="pair-mode")
    if topology is None:
        topology = discover(server)
    with resolve(server, topology, target, ifname) as pair:
        if isolation:
            check_isolation_target(pair, server.lab)
        if pair.kind == "vme" and spoof is not None:
            check_vm_kind(spoof)
        if pair.kind == "vme" and (spoof is not None or throughput is not None) and pair.vm is not None \
                and pair.vm.runtime != "lab":
            raise NotPermitted(f"{pair.vm.owner_name} is run by {pair.vm.runtime}, not by vnet-tui: its guest "
                               "agent is not ours to " + ("make the guest send forged frames with" if spoof else
                                                          "run the guest's side of a throughput test with"),
                               rule="guest-agent-not-ours")
        if pair.kind == "vme":
            result = base_result(pair.name, pair.kind, target, ifname, "guest" if spoof else "host", frames)
            if from_end == "guest" and spoof is None and throughput is None:
                result["note"] = ("a VM's guest end sends only what its guest decides to: the host end asks "
                                  "(ARP probes) and the guest answers, so both directions cross the pair")
            return run_vm_test(pair, result, frames, on_trace=on_trace, rate=rate, cancel=cancel, spoof=spoof,
                               throughput=throughput, from_end=from_end)
        result = base_result(pair.name, pair.kind, target, ifname, from_end or "guest", frames)
        unplugged = _no_carrier(pair)
        if unplugged:
            result["cable"] = {"state": "unplugged", "guest_carrier": False, "guest_admin_up": True,
                               "guest_operstate": pair.guest.iface.state if pair.guest else None}
            return not_tested(result, "no-carrier", unplugged)
        for end in (pair.guest, pair.host):
            assert end is not None
            if _down(end):
                return not_tested(result, "end-down", f"{end.label} is down: nothing can cross the pair")
        if isolation:
            result.update(mode="isolation", frames=frames, **{"from": "probe"})
            return run_isolation_test(pair, result, frames, server.lab, on_trace=on_trace, cancel=cancel)
        if spoof is not None:
            result.update(mode="spoof", frames=frames)
            return run_spoof_test(pair, result, spoof, frames, on_trace=on_trace, cancel=cancel)
        if throughput is not None:
            result.update(mode="throughput", frames=0)
            return run_throughput_test(pair, result, throughput, from_end, on_trace=on_trace, cancel=cancel)
        return _run_veth(pair, result, from_end or "guest", frames, on_trace, rate, cancel)


def _down(end: End) -> bool:
    return not end.iface.admin_up and end.iface.state == "down"


def _no_carrier(pair: Pair) -> str:
    """Why the guest end has no carrier when its cable is unplugged ("" when it has, or is down itself)."""
    g, h = pair.guest, pair.host
    if g is None or not g.iface.admin_up or h.iface.admin_up:
        return ""
    return (f"{g.label} is up but has no carrier: its cable is unplugged (the host end {h.ifname} is down; "
            f"adapter set {pair.name.split(':')[0]} {g.ifname} --cable plugged plugs it back). Nothing was sent")


def _run_veth(pair: Pair, result: dict[str, Any], from_end: FromEnd, frames: int, on_trace: Optional[OnTrace],
              rate: Optional[float], cancel: Optional[threading.Event]) -> dict[str, Any]:
    assert pair.guest is not None
    a, b = (pair.guest, pair.host) if from_end == "guest" else (pair.host, pair.guest)
    for end in (a, b):
        if _down(end):
            return not_tested(result, "end-down", f"{end.label} is down: nothing can cross the pair")
    trace = on_trace or (lambda _e: None)
    run_id = framing.new_run_id()
    src = framing.mac_bytes(a.iface.mac or "02:00:00:00:00:00")
    cap = sockets.packet_socket(b.fd, b.ifname, b.iface.ifindex, framing.marked_filter(), framing.ETHERTYPE)
    try:
        tx = sockets.packet_socket(a.fd, a.ifname, a.iface.ifindex)
    except BaseException:
        cap.close()
        raise
    before = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    trace(TraceEvent("start", text=f"{a.label} → {b.label}: {frames:,} marked frames, run "
                                   f"{run_id.hex()[:8]}"))
    arrived: dict[int, float] = {}
    out_of_order = duplicates = 0
    highest = -1
    sent = 0
    t0 = time.monotonic()

    def drain() -> bool:
        nonlocal out_of_order, highest, duplicates
        got = False
        for data, ts in sockets.received(cap):
            m = framing.parse_marked(data, run_id)
            if m is None or m.seq >= sent:
                continue
            if m.seq in arrived:
                duplicates += 1
                continue
            got = True
            latency = max(0.0, ((ts or time.time_ns()) - m.sent_ns) / 1e6)
            arrived[m.seq] = latency
            if m.seq < highest:
                out_of_order += 1
            highest = max(highest, m.seq)
            trace(TraceEvent("arrived", m.seq, latency, sent, len(arrived)))
        return got

    try:
        last_progress = next_at = time.monotonic()
        interval = 1.0 / rate if rate else 0.0
        written_off = 0  # frames given up on when the window stalled
        with tx:
            while sent < frames and not (cancel is not None and cancel.is_set()):
                now = time.monotonic()
                in_flight = sent - len(arrived) - written_off
                if in_flight >= WINDOW and now - last_progress >= STALL:
                    written_off, last_progress = sent - len(arrived), now  # they are lost: send on
                    in_flight = 0
                if in_flight < WINDOW and now >= next_at:
                    tx.send(framing.marked_frame(src, run_id, sent, time.time_ns()))
                    sent += 1
                    trace(TraceEvent("sent", sent - 1, None, sent, len(arrived)))
                    next_at = next_at + interval if interval else now
                    if (interval or sent % 32 == 0) and drain():
                        last_progress = time.monotonic()
                    continue
                wait = 0.01 if in_flight >= WINDOW else max(0.0, min(next_at - now, 0.01))
                if readable(cap, wait) and drain():
                    last_progress = time.monotonic()
        deadline = time.monotonic() + SETTLE
        while len(arrived) < sent and time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                break
            if readable(cap, 0.05):
                drain()
        drain()
        capture_drops = sockets.capture_drops(cap)
    except OSError as e:  # the end vanished or went down under us
        raise VnetError(f"sending on {a.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    finally:
        cap.close()
    after = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    lost = [s for s in range(sent) if s not in arrived]
    for s in lost[:TRACE_LOST_MAX]:
        trace(TraceEvent("lost", s, None, sent, len(arrived)))
    g0, h0, g1, h1 = before["guest"], before["host"], after["guest"], after["host"]
    gd = g1.minus(g0) if g1 and g0 else None
    hd = h1.minus(h0) if h1 and h0 else None
    result.update(
        sent=sent, received=len(arrived), lost=len(lost), out_of_order=out_of_order,
        latency_ms=latency_json(list(arrived.values())),
        ends={"guest": delta_json(g1, g0), "host": delta_json(h1, h0)},
        mirror=mirror_json(gd, hd), method="marked-frames", ethertype=f"{framing.ETHERTYPE:#06x}",
        frame_bytes=framing.MARKED_LEN, duplicates=duplicates, capture_drops=capture_drops,
        seconds=round(time.monotonic() - t0, 3), sender=a.label, receiver=b.label,
        lost_seqs=lost[:TRACE_LOST_MAX],
    )
    if cancel is not None and cancel.is_set() and sent < frames:
        result["message"] = f"stopped after {sent:,} of {frames:,} frames"
    if lost:
        result["status"] = "lost"
        where = f"; the capture socket dropped {capture_drops:,}" if capture_drops else ""
        result["message"] = (result["message"] + "; " if result["message"] else "") + (
            f"{len(lost):,} of {sent:,} frames did not arrive at {b.label}{where}")
    elif not result["message"]:
        result["message"] = f"all {sent:,} frames sent from {a.label} arrived at {b.label}"
    trace(TraceEvent("done", -1, None, sent, len(arrived), result["message"]))
    return result
