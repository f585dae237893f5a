"""A pair test's outcome (the ``pair-test --json`` shape) and the live trace events on the way.

    {"sent": 1000, "received": 1000, "lost": 0, "out_of_order": 0,
     "latency_ms": {"p50": 0.05, "p99": 0.2},
     "ends": {"guest": {counter deltas}, "host": {counter deltas}},
     "status": "ok", "message": "...", "mirror": {...}, ...}

``status``: ``ok`` (everything sent arrived), ``lost`` (some did not),
``guest-not-running`` (a paused VM: nothing behind the tap to answer),
``guest-not-observable`` (no guest agent, or it does not answer),
``end-down`` (an end is down: nothing can cross), ``no-carrier`` (the
guest end is up but has no carrier: its cable is unplugged — the host
end is down — distinct from the guest's own admin down).  The spoof
test adds ``got-past`` (spoofed frames got past the host end: no
filter, or one that does not cover them); the throughput test adds
``over-limit``, ``below-limit``, ``limit-not-reached`` and ``no-limit``
(pair/throughput.py).  ``end-down``, ``no-carrier`` and the guest
statuses sent nothing (``sent`` 0).  Numbers that could
not be measured — an end's counters, latencies — are null, never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

STATUSES = ("ok", "lost", "guest-not-running", "guest-not-observable", "end-down", "no-carrier", "got-past",
            "over-limit", "below-limit", "limit-not-reached", "no-limit")
NOT_TESTED = ("guest-not-running", "guest-not-observable", "end-down", "no-carrier")  # nothing was sent


@dataclass(frozen=True)
class TraceEvent:
    """One step of a running test, for a live trace.

    ``kind``: ``start`` (``text`` names the two ends), ``sent`` (frame
    ``seq`` left end A), ``arrived`` (it arrived at end B, ``latency_ms``),
    ``lost`` (it never did), ``note`` (``text``).  ``sent``/``received``
    are the running totals.
    """

    kind: str
    seq: int = -1
    latency_ms: Optional[float] = None
    sent: int = 0
    received: int = 0
    text: str = ""


OnTrace = Callable[[TraceEvent], None]


def percentile(sorted_values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_json(latencies_ms: list[float]) -> dict[str, Optional[float]]:
    vals = sorted(latencies_ms)
    out: dict[str, Optional[float]] = {}
    for name, p in (("p50", 50.0), ("p99", 99.0)):
        v = percentile(vals, p)
        out[name] = round(v, 3) if v is not None else None
    out["max"] = round(vals[-1], 3) if vals else None
    return out


def base_result(pair_name: str, kind: str, target: str, ifname: str, from_end: str, frames: int) -> dict[str, Any]:
    """A result with nothing sent yet (the shape every outcome shares)."""
    return {
        "sent": 0, "received": 0, "lost": 0, "out_of_order": 0,
        "latency_ms": {"p50": None, "p99": None, "max": None},
        "ends": {"guest": None, "host": None},
        "status": "ok", "message": "",
        "adapter": pair_name, "kind": kind, "target": target, "ifname": ifname,
        "from": from_end, "frames": frames, "mode": "frames",
    }


def not_tested(result: dict[str, Any], status: str, message: str) -> dict[str, Any]:
    """A result for a test that could not send anything (says why; numbers stay 0/null)."""
    assert status in STATUSES
    result.update(status=status, message=message)
    return result
