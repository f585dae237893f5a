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
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.readable import readable

from . import framing, sockets
from .counters import delta_json, netlink_counters
from .ends import Pair
from .hostpolicy import drops, read_host
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


def run_throughput_test(pair: Pair, result: dict[str, Any], seconds: float, from_end: Optional[str], *,
                        on_trace: Optional[OnTrace] = None, cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    assert pair.guest is not None
    trace = on_trace or (lambda _e: None)
    h = pair.host
    pol0 = read_host(h.fd, h.ifname)
    sender = pick_sender(pol0, from_end)
    direction = "rate_out" if sender == "guest" else "rate_in"
    a, b = (pair.guest, pair.host) if sender == "guest" else (pair.host, pair.guest)
    result["from"] = sender
    lim = limit_of(pol0, direction)
    limit_bps = int(lim["rate_bps"]) if lim else None
    size = min(a.iface.mtu or 1500, b.iface.mtu or 1500, 1500) + 14
    run_id = framing.new_run_id()
    src = framing.mac_bytes(a.iface.mac or "02:00:00:00:00:00")
    pad = bytes(max(0, size - framing.MARKED_LEN))
    interval = size * 8 / (OFFER * limit_bps) if limit_bps else 0.0
    cap = sockets.packet_socket(b.fd, b.ifname, b.iface.ifindex, framing.marked_filter(), framing.ETHERTYPE)
    try:
        tx = sockets.packet_socket(a.fd, a.ifname, a.iface.ifindex)
    except BaseException:
        cap.close()
        raise
    c0 = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    word = direction.replace("_", "-")
    trace(TraceEvent("start", text=f"{a.label} → {b.label}: {size}-byte frames for {seconds:g} s against "
                                   + (f"the {word} limit of {bits(limit_bps)}" if limit_bps else f"no {word} limit")))
    arrivals: list[tuple[int, int]] = []  # (ns since the start, by the kernel's receive time; frame bytes)
    arrived = arrived_bytes = sent = sent_bytes = held_back = 0
    t0_ns = time.time_ns()
    t0 = time.monotonic()
    end = t0 + seconds

    def drain() -> None:
        nonlocal arrived, arrived_bytes
        for data, ts in sockets.received(cap):
            if framing.parse_marked(data, run_id) is None:
                continue
            arrived += 1
            arrived_bytes += len(data)
            arrivals.append(((ts or time.time_ns()) - t0_ns, len(data)))

    try:
        next_at = t0
        last_trace = t0
        with tx:
            while (now := time.monotonic()) < end and not (cancel is not None and cancel.is_set()):
                if interval and now < next_at:
                    if readable(cap, min(next_at - now, 0.01)):
                        drain()
                    continue
                # paced: the frames due since the last look (a loaded machine wakes us late), at most BATCH
                due = min(BATCH, int((now - next_at) / interval) + 1) if interval else BATCH
                for _ in range(due):
                    frame = framing.marked_frame(src, run_id, sent, time.time_ns()) + pad
                    try:
                        tx.send(frame)
                        sent += 1
                        sent_bytes += len(frame)
                    except BlockingIOError:
                        time.sleep(0.0005)
                        break
                    except OSError as e:
                        if e.errno != errno.ENOBUFS:  # a full tbf refuses the frame: held back, not an error
                            raise
                        held_back += 1
                        sent += 1
                        sent_bytes += len(frame)
                    if interval:
                        next_at = max(next_at + interval, now - CATCH_UP)
                drain()
                if now - last_trace >= 0.5:
                    last_trace = now
                    trace(TraceEvent("note", text=f"{now - t0:4.1f} s  offered {bits(sent_bytes * 8 / (now - t0))}"
                                                  f"  arrived {bits(arrived_bytes * 8 / (now - t0))}",
                                     sent=sent, received=arrived))
        elapsed = time.monotonic() - t0
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            if readable(cap, 0.05):
                drain()
        drain()
        capture_drops = sockets.capture_drops(cap)
    except OSError as e:
        raise VnetError(f"sending on {a.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    finally:
        cap.close()
    c1 = {e.role: netlink_counters(e.fd, e.iface.ifindex) for e in (pair.guest, pair.host)}
    pol1 = read_host(h.fd, h.ifname)
    dp = drops(pol0, pol1)
    whole = max(1, int(elapsed))
    bins = [0] * whole
    for rel, n in arrivals:
        if 0 <= rel < whole * 1_000_000_000:
            bins[rel // 1_000_000_000] += n
    per_second = [v * 8 for v in bins]
    # what the limit holds: the bytes that arrived from the end of the first second to the end of sending
    start_ns = 1_000_000_000 if elapsed >= 2.0 and limit_bps else 0  # no limit: no bucket to empty first
    end_ns = int(elapsed * 1e9)
    steady = sum(n for rel, n in arrivals if start_ns <= rel < end_ns)
    held = steady * 8 / ((end_ns - start_ns) / 1e9) if end_ns > start_ns else 0.0
    offered = sent_bytes * 8 / elapsed if elapsed else 0.0
    gd = c1["guest"].minus(c0["guest"]) if c1["guest"] and c0["guest"] else None
    hd = c1["host"].minus(c0["host"]) if c1["host"] and c0["host"] else None
    pdrop, pby = (dp.guest_to_host() if direction == "rate_out" else dp.host_to_guest())
    policy = {"guest" if direction == "rate_out" else "host": (pdrop, pby)} if pdrop else None
    tp: dict[str, Any] = {
        "direction": direction, "mechanism": lim.get("mechanism") if lim else None, "limit_bps": limit_bps,
        "burst_bytes": lim.get("burst_bytes") if lim else None, "seconds": round(elapsed, 3), "frame_bytes": size,
        "offered_bps": round(offered), "held_bps": round(held), "first_second_bps": per_second[0] if per_second else 0,
        "per_second_bps": per_second, "ratio": round(held / limit_bps, 3) if limit_bps else None,
        "frames_sent": sent, "frames_arrived": arrived + capture_drops, "held_back": held_back,
        "drops": dp.to_json(),
    }
    result.update(
        sent=sent, received=arrived + capture_drops, lost=0, out_of_order=0,
        ends={"guest": delta_json(c1["guest"], c0["guest"]), "host": delta_json(c1["host"], c0["host"])},
        mirror=mirror_json(gd, hd, policy=policy), method="throughput", frame_bytes=size,
        capture_drops=capture_drops, seconds=round(elapsed, 3), sender=a.label, receiver=b.label,
        throughput=tp,
    )
    result["message"] = message(tp, h.ifname)
    result["status"] = status(tp)
    trace(TraceEvent("done", -1, None, sent, arrived, result["message"]))
    return result


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

