"""The spoof test: forged frames leave a container's guest end; its host end's filters drop and count them.

    result = run_pair_test(Server(lab="x"), "ct101", "eth0", spoof="mac", frames=1000)

N frames of one kind of spoofing (``forge.SPOOFS``: a source MAC, an ARP
sender MAC, an IPv4/IPv6 source, an ARP sender IP, an NDP target that
are not the adapter's) are sent from the guest end, inside the
container's namespace.  Three counts, each from the kernel:

- **left the guest end**: the guest end's ``tx_packets`` delta;
- **dropped at the host end**: the delta of the drop counter of the
  rule for that kind in the host end's own nftables table (policy.read);
- **got past**: our frames (told apart by the run's tag) that a socket
  on the host end received — they went through the ingress hook.  Their
  destination is the nearest-bridge group, which a bridge passes up the
  port instead of forwarding: nothing reaches any other port, filter or
  no filter.

``status``: ``ok`` when every frame sent was dropped by the filter and
none got past; ``got-past`` when some got past (no filter set, or one
that does not cover this kind) — the honest result, exit 1 from the
CLI; ``lost`` when frames are neither counted dropped nor seen past.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Counters
from vnet_tui.core.readable import readable

from . import forge, framing, sockets
from .counters import delta_json, netlink_counters
from .ends import Pair
from .hostpolicy import drops, read_host
from .mirror import mirror_json
from .result import OnTrace, TraceEvent

SETTLE = 0.5  # s after the last frame for the host end's socket to get what got past
BATCH = 64  # frames sent between two looks at the host end's socket
RETRIES, RETRY_WAIT = 100, 0.002  # a full backlog is waited out for up to 0.2 s per frame


def _guest_v4(pair: Pair) -> str:
    assert pair.guest is not None
    for a in pair.guest.iface.addresses:
        if ":" not in a:
            return a.split("/")[0]
    return "198.18.255.1"


def run_spoof_test(pair: Pair, result: dict[str, Any], kind: str, frames: int, *,
                   on_trace: Optional[OnTrace] = None, cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    """Send ``frames`` spoofed frames of ``kind`` from the guest end; count them at both ends (see above)."""
    assert pair.guest is not None
    spoof = forge.SPOOFS[kind]
    g, h = pair.guest, pair.host
    trace = on_trace or (lambda _e: None)
    tag = b"VNSP" + framing.new_run_id()
    frame = forge.spoofed(kind, g.iface.mac or "02:00:00:00:00:01", _guest_v4(pair), tag)
    pol0 = read_host(h.fd, h.ifname)
    f = (pol0 or {}).get(spoof.policy)
    filter_on = f is not None
    cap = sockets.packet_socket(h.fd, h.ifname, h.iface.ifindex, forge.proto_filter(spoof.ethertype),
                                spoof.ethertype)
    try:
        tx = sockets.packet_socket(g.fd, g.ifname, g.iface.ifindex)
    except BaseException:
        cap.close()
        raise
    g0, h0 = netlink_counters(g.fd, g.iface.ifindex), netlink_counters(h.fd, h.iface.ifindex)
    what = "its " + forge_word(spoof.policy) + (" is on" if filter_on else " is OFF")
    trace(TraceEvent("start", text=f"{g.label} → {h.label}: {frames:,} frames with a spoofed {spoof.forged} "
                                   f"({what})"))
    passed = sent = 0
    t0 = time.monotonic()

    def drain() -> None:
        nonlocal passed
        for data, _ts in sockets.received(cap):
            if tag in data:
                passed += 1
                trace(TraceEvent("arrived", -1, None, sent, passed))

    try:
        with tx:
            while sent < frames and not (cancel is not None and cancel.is_set()):
                for _ in range(min(BATCH, frames - sent)):
                    _send(tx, frame)
                    sent += 1
                trace(TraceEvent("sent", sent - 1, None, sent, passed))
                drain()
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            if readable(cap, 0.05):
                drain()
        drain()
        capture_drops = sockets.capture_drops(cap)
    except OSError as e:
        raise VnetError(f"sending on {g.label} failed: {e.strerror or e}", rule="pair-send", code=1) from e
    finally:
        cap.close()
    g1, h1 = netlink_counters(g.fd, g.iface.ifindex), netlink_counters(h.fd, h.iface.ifindex)
    source = (forge.SPOOF_MAC if kind in ("mac", "arp-mac") else forge.SPOOF_V6 if kind in ("ipv6", "nd") else
              forge.SPOOF_V4)
    left, dropped, lost = record_counts(result, kind, sent, passed, filter_on, source, pol0, read_host(h.fd, h.ifname),
                                        (g0, g1), (h0, h1), method="spoofed-frames", frame_bytes=len(frame),
                                        capture_drops=capture_drops, seconds=round(time.monotonic() - t0, 3),
                                        sender=g.label, receiver=h.label)
    counted = f"tx +{left:,}" if left is not None else "its counters not readable"
    by = (f"by its {forge_word(spoof.policy)} (rule {spoof.rule})" if filter_on else
          f"(it has no {forge_word(spoof.policy)})")
    base = (f"{sent:,} spoofed frames ({spoof.forged}) left the guest end ({counted}); {dropped:,} dropped at the "
            f"host end {by}; {passed:,} got past")
    if left is not None and left < sent:
        result["status"] = "lost"
        result["message"] = f"{base}; the guest end counted only {left:,} leaving"
    elif passed:
        result["status"] = "got-past"
        why = (f"{h.ifname} has no {forge_word(spoof.policy)}" if not filter_on else
               f"{h.ifname}'s {forge_word(spoof.policy)} let them through")
        result["message"] = f"{base} — {why} (adapter set {result['target']} {result['ifname']} " \
                            f"--{spoof.policy.replace('_', '-')} on)"
    elif lost:
        result["status"] = "lost"
        result["message"] = f"{base}; {lost:,} neither counted dropped nor seen past the host end"
    else:
        result["message"] = base
    if cancel is not None and cancel.is_set() and sent < frames:
        result["message"] += f" (stopped after {sent:,} of {frames:,})"
    trace(TraceEvent("done", -1, None, sent, passed, result["message"]))
    return result


def record_counts(result: dict[str, Any], kind: str, sent: int, passed: int, filter_on: bool, source: str,
                  pol0: Optional[dict[str, Any]], pol1: Optional[dict[str, Any]],
                  guest: tuple[Optional[Counters], Optional[Counters]], host: tuple[Optional[Counters], Optional[Counters]],
                  spoof_extra: Optional[dict[str, Any]] = None, **fields: Any) -> tuple[Optional[int], int, int]:
    """Fill ``result`` with a spoof test's counts: both ends' deltas (before, after), the mirror with what the
    host end's policy dropped, the ``spoof`` block (and ``spoof_extra`` in it), ``fields``; returns (frames
    that left the guest end, or None; dropped at the host end by the kind's rule; neither dropped nor past)."""
    spoof = forge.SPOOFS[kind]
    (g0, g1), (h0, h1) = guest, host
    dp = drops(pol0, pol1)
    dropped = dp.rules.get(spoof.rule, 0)
    gd = g1.minus(g0) if g1 and g0 else None
    hd = h1.minus(h0) if h1 and h0 else None
    left = gd.tx_packets if gd is not None else None
    n, by = dp.guest_to_host()
    lost = max(0, sent - dropped - passed)
    result.update(
        sent=sent, received=passed, lost=lost, out_of_order=0,
        ends={"guest": delta_json(g1, g0), "host": delta_json(h1, h0)},
        mirror=mirror_json(gd, hd, policy={"guest": (n, by)} if n else None), dropped_by_policy=dropped,
        spoof={"kind": kind, "forged": spoof.forged, "filter": spoof.policy, "rule": spoof.rule,
               "filter_set": filter_on, "left_guest": left, "dropped_at_host": dropped, "got_past": passed,
               "source": source, **(spoof_extra or {}), "drops": dp.to_json()},
        **fields)
    return left, dropped, lost


def _send(tx: Any, frame: bytes) -> None:
    """Send one frame; a full receive backlog on a loaded machine (ENOBUFS: the kernel dropped it, and
    counted it in tx_dropped) or a full socket buffer is waited out and the frame sent again."""
    for _ in range(RETRIES):
        try:
            tx.send(frame)
            return
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
        time.sleep(RETRY_WAIT)
    tx.send(frame)  # the last try: its error is the test's


def forge_word(policy: str) -> str:
    return policy.replace("_", " ")
