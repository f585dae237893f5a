"""The isolation test's kinds of frames (pair/isolation.py has the why): built, recognised, and judged.

Each kind is sent from one of two probe ports to one destination and is
held back by exactly one of the host end's flags (or none: the control).
Frames are EtherType 0x88b5, tagged with the run and the kind::

    dst | src <probe's MAC> | 0x88b5 | "VNIS" | run id (8) | kind (1) | sequence (u32) | padding

``judge`` turns the counts into the result (``pair-test --json``'s
``isolation`` block, the status and the message).
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any, Optional

from . import framing
from .counters import delta_json
from .ends import Pair
from .mirror import mirror_json
from .result import OnTrace, TraceEvent

MAGIC = b"VNIS"
BROADCAST = b"\xff" * 6
_HEAD = struct.Struct("!6s6sH4s8sBI")  # dst, src, type, magic, run id, kind, sequence


@dataclass(frozen=True)
class Kind:
    name: str
    code: int
    probe: str  # "open" | "isolated"
    to: str  # "unknown" | "guest" | "broadcast"
    flag: Optional[str]  # the host end's flag that holds it back (None: the control)
    why: str


KINDS = (
    Kind("unknown-unicast", 1, "open", "unknown", "unicast_flood",
         "to a MAC no FDB knows, from a non-isolated port: only flood off holds it back"),
    Kind("isolated-unicast", 2, "isolated", "guest", "isolated",
         "to the guest's MAC (known to the FDB), from an isolated port: only isolated holds it back"),
    Kind("isolated-broadcast", 3, "isolated", "broadcast", "isolated",
         "broadcast from an isolated port: only isolated holds it back"),
    Kind("open-broadcast", 4, "open", "broadcast", None,
         "broadcast from a non-isolated port: nothing holds it back (the control)"),
)
LEARN_CODE = 0xFF


def frame(dst: bytes, src: bytes, run: bytes, code: int, seq: int) -> bytes:
    f = _HEAD.pack(dst, src, framing.ETHERTYPE, MAGIC, run, code, seq)
    return f + bytes(framing.ETH_ZLEN - len(f))


def capture_filter() -> list[framing.Insn]:
    """Classic BPF: EtherType 0x88b5 frames that start with our magic."""
    return [(0x28, 0, 0, 12), (0x15, 0, 3, framing.ETHERTYPE), (0x20, 0, 0, 14),
            (0x15, 0, 1, int.from_bytes(MAGIC, "big")), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]


def parse(data: bytes, run: bytes) -> Optional[tuple[int, int]]:
    """(kind code, sequence) of one of this run's frames, None for anything else."""
    if len(data) < _HEAD.size:
        return None
    _d, _s, etype, magic, rid, code, seq = _HEAD.unpack_from(data)
    return (code, seq) if etype == framing.ETHERTYPE and magic == MAGIC and rid == run else None


def judge(pair: Pair, result: dict[str, Any], flags: dict[str, Any], kinds: list[Kind], sent: dict[str, int],
           arrived: dict[str, int], known: bool, unknown: bytes, probes: list[dict[str, Any]], removed: list[str],
           bridge_before: tuple[str, int], bridge_after: tuple[str, int], counters: tuple[Any, Any, Any, Any],
           capture_drops: int, seconds: float, frames: int, cancel: Optional[threading.Event],
           trace: OnTrace) -> dict[str, Any]:
    g0, g1, h0, h1 = counters
    h = pair.host
    per: dict[str, Any] = {}
    for k in KINDS:
        if k not in kinds:
            per[k.name] = {"from": f"{k.probe} probe", "to": "the guest's MAC", "flag": k.flag, "why": k.why,
                           "held_by_flags": None,
                           "sent": 0, "arrived": 0, "held_back": 0, "lost": 0, "skipped":
                           "the bridge's FDB does not know the guest's MAC on the host end's port (learning off?): "
                           "a frame to it would be flooded, and flood would judge it too"}
            continue
        held_by = bool(k.flag) and (not flags.get(k.flag) if k.flag == "unicast_flood" else bool(flags.get(k.flag)))
        per[k.name] = {"from": f"{k.probe} probe", "to": {"unknown": framing.mac_text(unknown),
                                                          "guest": pair.guest.iface.mac if pair.guest else None,
                                                          "broadcast": "ff:ff:ff:ff:ff:ff"}[k.to],
                       "flag": k.flag, "why": k.why, "held_by_flags": held_by, "sent": sent[k.name],
                       "arrived": arrived[k.name], "held_back": max(0, sent[k.name] - arrived[k.name]) if held_by else 0,
                       "lost": 0 if held_by else max(0, sent[k.name] - arrived[k.name]), "skipped": None}
    tested = [k for k in kinds if k.flag]
    got_past = sum(arrived[k.name] for k in tested)
    held = sum(per[k.name]["held_back"] for k in tested)
    by_flags = sum(per[k.name]["held_back"] for k in tested if per[k.name]["held_by_flags"])
    ctl = per["open-broadcast"]
    lost = sum(per[k.name]["lost"] for k in kinds)
    hend, gend = delta_json(h1, h0) or {}, delta_json(g1, g0) or {}
    # frames the kernel dropped between the bridge and our socket (a full receive backlog, a full buffer):
    # what is lost on the way and not held back by a flag is explained by these, or it is a loss
    on_the_way = capture_drops + hend.get("tx_dropped", 0) + gend.get("rx_dropped", 0)
    gd = g1.minus(g0) if g1 and g0 else None
    hd = h1.minus(h0) if h1 and h0 else None
    why = "bridge port flags (" + ", ".join(
        w for w, on in (("isolated", flags.get("isolated")), ("flood off", flags.get("unicast_flood") is False)) if on
    ) + ")"
    result.update(
        sent=sum(sent.values()), received=sum(arrived.values()), lost=lost, out_of_order=0,
        ends={"guest": delta_json(g1, g0), "host": delta_json(h1, h0)},
        mirror=mirror_json(gd, hd, policy={"host": (by_flags, why)} if by_flags else None),
        method="probe-ports", frame_bytes=framing.ETH_ZLEN, capture_drops=capture_drops, seconds=round(seconds, 3),
        sender="probe ports on " + (flags.get("master") or "the bridge"), receiver=pair.guest.label if pair.guest else "",
        dropped_by_policy=by_flags, dropped_on_the_way=on_the_way,
        isolation={"flags": flags, "kinds": per, "probes": probes, "guest_mac_known": known,
                   "probes_removed": removed,
                   "bridge_unchanged": bridge_before == bridge_after,
                   "bridge": {"mac": bridge_after[0], "mtu": bridge_after[1]}},
    )
    on = "isolated " + ("on" if flags.get("isolated") else "OFF") + ", flood " + \
        ("off" if flags.get("unicast_flood") is False else "ON")
    base = (f"{h.ifname} ({on}): {held:,} of {held + got_past:,} frames from the probe ports that isolation holds "
            f"back were held back, {got_past:,} got past; {ctl['arrived']:,} of {ctl['sent']:,} control broadcasts "
            "arrived")
    if not known:
        base += "; isolated-unicast skipped (the bridge's FDB does not know the guest's MAC: learning off?)"
    if got_past:
        result["status"] = "got-past"
        kinds_past = ", ".join(f"{k.name} {arrived[k.name]:,}" for k in tested if arrived[k.name])
        cause = (f"{h.ifname} is not isolated" if not flags.get("isolated") and flags.get("unicast_flood")
                 else f"{h.ifname}'s isolation is partial" if not (flags.get("isolated") and
                                                                  flags.get("unicast_flood") is False)
                 else f"{h.ifname}'s flags let them through")
        result["message"] = (f"{base} — {kinds_past} reached the guest end: {cause} "
                             f"(adapter set {result['target']} {result['ifname']} --isolated on)")
    elif not ctl["arrived"] or lost > on_the_way:
        result["status"] = "lost"
        drops = [f"{w} {n:,}" for w, n in (("capture socket", capture_drops), ("host end tx", hend.get("tx_dropped", 0)),
                                            ("guest end rx", gend.get("rx_dropped", 0))) if n]
        result["message"] = (f"{base}: {lost:,} frames nothing holds back did not arrive (control sequence "
                             f"{', '.join(map(str, result.get('lost_seqs', [])[:10])) or 'none'}; the kernel counted "
                             f"{', '.join(drops) or 'no drops'}), so what the other kinds lack proves nothing")
    else:
        result["message"] = base + (f"; {lost:,} frames nothing holds back were dropped on the way, as the kernel "
                                    f"counted ({on_the_way:,}: a full receive backlog on a busy machine)" if lost else "")
    if cancel is not None and cancel.is_set() and sent["open-broadcast"] < frames:
        result["message"] += f" (stopped after {sent['open-broadcast']:,} of {frames:,} rounds)"
    trace(TraceEvent("done", -1, None, result["sent"], result["received"], result["message"]))
    return result
