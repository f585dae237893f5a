"""The mirror check: what one end transmitted against what the other end received.

A pair is a wire: every frame the guest end transmits is a frame the
host end receives, and back.  From two ends' counter deltas over the
same interval, each direction gives::

    transmitted (tx_packets of the sender) − received (rx_packets of the receiver) = difference

plus the drops either side counted (tx_dropped at the sender, rx_dropped
at the receiver).  The check holds when the difference is 0 and nothing
was dropped.  A veth's kernel counts both sides of one direction in one
place, so a difference there means drops; a VM's guest end is read
through its agent at a slightly different moment than its tap, so a
small difference can also be frames in flight between the two reads
(``skew`` says how far apart they were).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from vnet_tui.core.model import Counters


@dataclass(frozen=True)
class Direction:
    """One direction of a pair over one interval."""

    sender: str  # "guest" | "host"
    receiver: str
    transmitted: int  # packets
    received: int
    dropped: int  # tx_dropped at the sender + rx_dropped at the receiver
    transmitted_bytes: int
    received_bytes: int

    @property
    def difference(self) -> int:
        return self.transmitted - self.received

    @property
    def ok(self) -> bool:
        return self.difference == 0 and self.dropped == 0

    def to_json(self) -> dict[str, Any]:
        return {"from": self.sender, "to": self.receiver, "transmitted": self.transmitted,
                "received": self.received, "difference": self.difference, "dropped": self.dropped,
                "transmitted_bytes": self.transmitted_bytes, "received_bytes": self.received_bytes,
                "ok": self.ok}

    def text(self) -> str:
        """``guest → host: 1,000 sent = 1,000 received ✓`` (or the difference and the drops)."""
        head = f"{self.sender} → {self.receiver}: {self.transmitted:,} sent"
        if self.ok:
            return f"{head} = {self.received:,} received ✓"
        parts = [f"{head}, {self.received:,} received"]
        if self.difference:
            parts.append(f"{abs(self.difference):,} {'missing' if self.difference > 0 else 'extra'}")
        if self.dropped:
            parts.append(f"{self.dropped:,} dropped")
        return ", ".join(parts) + " ✗"


def direction(sender: str, tx: Counters, receiver: str, rx: Counters) -> Direction:
    """One direction from the sender's and the receiver's counter deltas."""
    return Direction(sender, receiver, tx.tx_packets, rx.rx_packets, tx.tx_dropped + rx.rx_dropped,
                     tx.tx_bytes, rx.rx_bytes)


def mirror(guest: Optional[Counters], host: Optional[Counters]) -> list[Direction]:
    """Both directions (guest → host, host → guest) from the two ends' deltas; [] if one is unknown."""
    if guest is None or host is None:
        return []
    return [direction("guest", guest, "host", host), direction("host", host, "guest", guest)]


def mirror_json(guest: Optional[Counters], host: Optional[Counters], skew_s: Optional[float] = None) -> dict[str, Any]:
    """The ``mirror`` block of a pair-test result."""
    dirs = mirror(guest, host)
    out: dict[str, Any] = {"ok": bool(dirs) and all(d.ok for d in dirs),
                           "directions": [d.to_json() for d in dirs]}
    if not dirs:
        out["why"] = "one end's counters are not observable"
    if skew_s is not None:
        out["skew_s"] = round(skew_s, 3)
    return out
