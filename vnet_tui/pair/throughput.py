"""The throughput test: send through a container's pair for a while, as fast as the limit allows, and
measure what arrives at the other end against the host end's rate limit (read from the kernel).

    result = run_pair_test(Server(lab="x"), "ct101", "eth0", throughput=3.0)

The direction is the limit's, as the guest sees it: ``rate-out`` (what the
guest sends: the nftables policer at the host end's ingress) is tested
from the guest end, ``rate-in`` (what the guest receives: the tbf on the
host end) from the host end.  Full-size marked frames (framing.py, to
the never-forwarded nearest-bridge group: they stay on the pair) are
offered at ``OFFER`` times the limit; a socket on the receiving end
counts those that arrive, with the kernel's receive time, in one-second
bins.  The rate the limit holds is what arrived after the first second:
nftables' byte limit starts with a full bucket (a second's worth plus the
burst, policy/rate.py), so the first second may pass up to twice the rate,
and the result shows it on its own.

``status``: ``ok`` — held within ``BAND`` of the limit; ``over-limit`` or
``below-limit`` — outside it (below: something else, such as a busy CPU,
held it lower); ``limit-not-reached`` — the sender could not offer
enough to test the limit; ``no-limit`` — the port has no limit in that
direction (the throughput is still measured and shown).  Only ``ok``
exits 0 from the CLI.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Counters
from vnet_tui.core.readable import readable

from . import framing, sockets
from .counters import delta_json, netlink_counters
from .ends import Pair
from .hostpolicy import PolicyDrops, drops, read_host
from .mirror import mirror_json
from .result import OnTrace, TraceEvent

OFFER = 3.0  # the sender offers this many times the limit
BAND = 0.35  # "held near the limit": within ±35 %
MIN_OFFER = 1.5  # an offer below this many times the limit does not test it
SETTLE = 0.3  # s: what a tbf still holds (≤ 50 ms of it) drains
MAX_SECONDS = 60.0
BATCH = 16
CATCH_UP = 0.05  # s: a sender woken late sends what was due this long back at most, not a burst of more


def bits(bps: Optional[float]) -> str:
    """``9.6 Mbit/s``."""
    if bps is None:
        return "—"
    for unit, n in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= n:
            return f"{bps / n:.3g} {unit}"
    return f"{bps:.0f} bit/s"


def limit_of(pol: Optional[dict[str, Any]], direction: str) -> Optional[dict[str, Any]]:
    return (pol or {}).get(direction)


def pick_sender(pol: Optional[dict[str, Any]], from_end: Optional[str]) -> str:
    """The end that sends: as asked, else the guest when there is a rate-out (or no limit), the host for a
    rate-in alone."""
    if from_end in ("guest", "host"):
        return from_end
    if limit_of(pol, "rate_out") or not limit_of(pol, "rate_in"):
        return "guest"
    return "host"


@dataclass
class Offered:
    """What a paced sender put on the wire."""

    sent: int = 0
    sent_bytes: int = 0
    held_back: int = 0  # refused at send (ENOBUFS: a full tbf), counted as sent
    elapsed: float = 0.0


def send_paced(tx: socket.socket, frame: Callable[[int], bytes], interval: float, seconds: float, *,
               idle: Callable[[float], None], drain: Callable[[], None] = lambda: None,
               tick: Callable[[float, Offered], None] = lambda _t, _o: None,
               cancel: Optional[threading.Event] = None) -> Offered:
    """Send ``frame(seq)`` every ``interval`` s (0: as fast as the socket takes them) for ``seconds``, paced
    by what is due since the last look (a loaded machine wakes us late: at most BATCH frames, due up to
    CATCH_UP back); ``idle(timeout)`` waits between frames, ``drain()`` after a batch, ``tick`` every 0.5 s."""
    out = Offered()
    t0 = time.monotonic()
    end = t0 + seconds
    next_at = last_tick = t0
    with tx:
        while (now := time.monotonic()) < end and not (cancel is not None and cancel.is_set()):
            if interval and now < next_at:
                idle(min(next_at - now, 0.01))
                continue
            due = min(BATCH, int((now - next_at) / interval) + 1) if interval else BATCH
            for _ in range(due):
                data = frame(out.sent)
                try:
                    tx.send(data)
                except BlockingIOError:
                    time.sleep(0.0005)
                    break
                except OSError as e:
                    if e.errno != errno.ENOBUFS:  # a full tbf refuses the frame: held back, not an error
                        raise
                    out.held_back += 1
                out.sent += 1
                out.sent_bytes += len(data)
                if interval:
                    next_at = max(next_at + interval, now - CATCH_UP)
            drain()
            if now - last_tick >= 0.5:
                last_tick = now
                tick(now - t0, out)
    out.elapsed = time.monotonic() - t0
    return out


def frame_size(a: Optional[int], b: Optional[int]) -> int:
    """Full-size frames: the smaller MTU (at most 1500) and the Ethernet header."""
    return min(a or 1500, b or 1500, 1500) + 14


def start_text(a: str, b: str, size: int, seconds: float, direction: str, limit_bps: Optional[int]) -> str:
    word = direction.replace("_", "-")
    return (f"{a} → {b}: {size}-byte frames for {seconds:g} s against "
            + (f"the {word} limit of {bits(limit_bps)}" if limit_bps else f"no {word} limit"))


def run_throughput_test(pair: Pair, result: dict[str, Any], seconds: float, from_end: Optional[str], *,
                        on_trace: Optional[OnTrace] = None, cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    assert pair.guest is not None
    trace, h = on_trace or (lambda _e: None), pair.host
    pol0 = read_host(h.fd, h.ifname)
    sender = pick_sender(pol0, from_end)
    direction = "rate_out" if sender == "guest" else "rate_in"
    a, b = (pair.guest, pair.host) if sender == "guest" else (pair.host, pair.guest)
    result["from"] = sender
    lim = limit_of(pol0, direction)
    limit_bps = int(lim["rate_bps"]) if lim else None
    size = frame_size(a.iface.mtu, b.iface.mtu)
    run_id = framing.new_run_id()
    src = framing.mac_bytes(a.iface.mac or "02:00:00:00:00:00")
    pad = bytes(max(0, size - framing.MARKED_LEN))
    cap = sockets.packet_socket(b.fd, b.ifname, b.iface.ifindex, framing.marked_filter(), framing.ETHERTYPE)
    try:
        tx = sockets.packet_socket(a.fd, a.ifname, a.iface.ifindex)
    except BaseException:
        cap.close()
        raise
    c0 = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    trace(TraceEvent("start", text=start_text(a.label, b.label, size, seconds, direction, limit_bps)))
    arrivals: list[tuple[int, int]] = []  # (ns since the start, by the kernel's receive time; frame bytes)
    got = [0]  # bytes arrived
    t0_ns = time.time_ns()

    def drain() -> None:
        for data, ts in sockets.received(cap):
            if framing.parse_marked(data, run_id) is not None:
                arrivals.append(((ts or time.time_ns()) - t0_ns, len(data)))
                got[0] += len(data)

    def idle(timeout: float) -> None:
        if readable(cap, timeout):
            drain()

    def tick(t: float, o: Offered) -> None:
        trace(TraceEvent("note", text=f"{t:4.1f} s  offered {bits(o.sent_bytes * 8 / t)}  arrived "
                                      f"{bits(got[0] * 8 / t)}", sent=o.sent, received=len(arrivals)))

    try:
        off = send_paced(tx, lambda seq: framing.marked_frame(src, run_id, seq, time.time_ns()) + pad,
                         size * 8 / (OFFER * limit_bps) if limit_bps else 0.0, seconds, idle=idle, drain=drain,
                         tick=tick, cancel=cancel)
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            idle(0.05)
        drain()
        capture_drops = sockets.capture_drops(cap)
    except OSError as e:
        raise VnetError(f"sending on {a.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    finally:
        cap.close()
    c1 = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    dp = drops(pol0, read_host(h.fd, h.ifname))
    tp = throughput_json(direction, lim, off, size, arrivals, len(arrivals) + capture_drops, dp)
    conclude(result, tp, dp, (c0["guest"], c1["guest"]), (c0["host"], c1["host"]), h.ifname,
             method="throughput", frame_bytes=size, capture_drops=capture_drops, sender=a.label, receiver=b.label)
    trace(TraceEvent("done", -1, None, off.sent, len(arrivals), result["message"]))
    return result


def per_second(arrivals: list[tuple[int, int]], elapsed: float) -> list[int]:
    """Bits that arrived in each whole second from the start (``arrivals``: ns since the start, bytes)."""
    whole = max(1, int(elapsed))
    bins = [0] * whole
    for rel, n in arrivals:
        if 0 <= rel < whole * 1_000_000_000:
            bins[rel // 1_000_000_000] += n
    return [v * 8 for v in bins]


def held_rate(arrivals: list[tuple[int, int]], elapsed: float, limited: bool, skip: float = 1.0) -> float:
    """What the limit holds: bits/s that arrived from the end of the first second (``skip`` s) to the end of
    sending."""
    start_ns = int(skip * 1e9) if elapsed >= skip + 1.0 and limited else 0  # no limit: no bucket to empty first
    end_ns = int(elapsed * 1e9)
    steady = sum(n for rel, n in arrivals if start_ns <= rel < end_ns)
    return steady * 8 / ((end_ns - start_ns) / 1e9) if end_ns > start_ns else 0.0


def throughput_json(direction: str, lim: Optional[dict[str, Any]], off: Offered, size: int,
                    arrivals: list[tuple[int, int]], arrived: int, dp: PolicyDrops, *,
                    held: Optional[float] = None, seconds: Optional[list[int]] = None) -> dict[str, Any]:
    """The result's ``throughput`` block; ``held``/``seconds`` when measured otherwise than by ``arrivals``."""
    limit_bps = int(lim["rate_bps"]) if lim else None
    elapsed = off.elapsed
    if held is None:
        held = held_rate(arrivals, elapsed, bool(limit_bps))
    ps = per_second(arrivals, elapsed) if seconds is None else seconds
    return {
        "direction": direction, "mechanism": lim.get("mechanism") if lim else None, "limit_bps": limit_bps,
        "burst_bytes": lim.get("burst_bytes") if lim else None, "seconds": round(elapsed, 3), "frame_bytes": size,
        "offered_bps": round(off.sent_bytes * 8 / elapsed if elapsed else 0.0), "held_bps": round(held),
        "first_second_bps": ps[0] if ps else 0, "per_second_bps": ps,
        "ratio": round(held / limit_bps, 3) if limit_bps else None,
        "frames_sent": off.sent, "frames_arrived": arrived, "held_back": off.held_back, "drops": dp.to_json(),
    }


def conclude(result: dict[str, Any], tp: dict[str, Any], dp: PolicyDrops,
             guest: tuple[Optional[Counters], Optional[Counters]], host: tuple[Optional[Counters], Optional[Counters]],
             host_ifname: str, vm: bool = False, **fields: Any) -> None:
    """Fill ``result`` with ``tp``, both ends' deltas (before, after) and the mirror, its message and status
    (``vm``: the guest's counters come from its agent, read a moment apart from the tap's)."""
    (g0, g1), (h0, h1) = guest, host
    gd = g1.minus(g0) if g1 and g0 else None
    hd = h1.minus(h0) if h1 and h0 else None
    pdrop, pby = (dp.guest_to_host() if tp["direction"] == "rate_out" else dp.host_to_guest())
    policy = {"guest" if tp["direction"] == "rate_out" else "host": (pdrop, pby)} if pdrop else None
    result.update(
        sent=tp["frames_sent"], received=tp["frames_arrived"], lost=0, out_of_order=0,
        ends={"guest": delta_json(g1, g0), "host": delta_json(h1, h0)},
        mirror=mirror_json(gd, hd, vm=vm, policy=policy), seconds=tp["seconds"], throughput=tp, **fields)
    result["message"] = message(tp, host_ifname)
    result["status"] = status(tp)


def status(tp: dict[str, Any]) -> str:
    limit = tp["limit_bps"]
    if not limit:
        return "no-limit"
    if tp["offered_bps"] < MIN_OFFER * limit:
        return "limit-not-reached"
    r = tp["held_bps"] / limit
    return "ok" if 1 - BAND <= r <= 1 + BAND else "over-limit" if r > 1 else "below-limit"


def _drops_text(tp: dict[str, Any]) -> str:
    d = tp["drops"]
    if tp["direction"] == "rate_out":
        ro = d["rate_out"]
        return f"the policer dropped {ro['packets']:,} frames ({ro['bytes']:,} bytes)"
    ri = d["rate_in"]
    return f"the tbf dropped {ri['drops']:,} frames (overlimits {ri['overlimits']:,})"


def message(tp: dict[str, Any], host_ifname: str) -> str:
    """``held at 9.6 Mbit/s against a limit of 10 Mbit/s …``."""
    word = tp["direction"].replace("_", "-")
    offered = f"offered {bits(tp['offered_bps'])} for {tp['seconds']:.1f} s"
    if not tp["limit_bps"]:
        return (f"{bits(tp['held_bps'])} arrived ({offered}): {host_ifname} has no {word} limit, nothing to hold "
                f"(adapter set … --{word} RATE)")
    how = ("the nftables policer at its ingress" if tp["mechanism"] == "nft-limit" else
           "its tbf" if tp["mechanism"] == "tbf" else tp["mechanism"] or "?")
    head = (f"held at {bits(tp['held_bps'])} against a limit of {bits(tp['limit_bps'])} ({word} on {host_ifname}: "
            f"{how}); {offered}; {_drops_text(tp)}")
    if tp["direction"] == "rate_out" and tp["mechanism"] == "nft-limit" and tp["per_second_bps"][1:]:
        head += f"; first second {bits(tp['first_second_bps'])} (nftables' bucket starts a second's worth full)"
    st = status(tp)
    if st == "limit-not-reached":
        head += f" — the sender offered too little to test the limit (needs {MIN_OFFER:g}× it)"
    elif st == "over-limit":
        head += f" — more than {1 + BAND:.0%} of the limit passed"
    elif st == "below-limit":
        head += f" — less than {1 - BAND:.0%} of the limit passed: something else held it (a busy CPU?)"
    return head

