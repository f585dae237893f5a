"""The mirror check: what one end transmitted against what the other end received.

A pair is a wire: every frame the guest end transmits is a frame the
host end receives, and back.  From two ends' counter deltas over the
same interval, each direction gives::

    transmitted (tx_packets of the sender) − received (rx_packets of the receiver) = difference

plus the drops either side counted (tx_dropped at the sender, rx_dropped
at the receiver).  Each direction gets a verdict:

- ``equal``: the difference is 0 and nothing was dropped (✓);
- ``in-flight``: a difference that the two reads explain — the ends are
  read a moment apart (a VM's guest through its agent, a veth's two
  namespaces in one sweep), so a frame can be counted by one and not
  yet by the other.  The live check (``MirrorWatch``) gives such a
  difference ``GRACE`` seconds to close before it calls it loss;
- ``filtered``: frames a VM's host tap sent that the guest never
  counted because its NIC's receive filter dropped them (multicast the
  guest did not join, flooded to every bridge port) — not a loss;
- ``policy``: the host end's own policy dropped frames of this direction
  (an anti-spoofing filter, a rate limit: read from its nftables counters
  and its tbf), so what crossed the wire went no further — by design,
  not a loss.  The wire itself is in step (a host end counts a frame
  before its ingress hook drops it), or differs by no more than the
  policy dropped;
- ``loss``: drops counted by the kernel, or a difference that stayed
  (✗).  Only this fails the check, and a traffic test that saw every
  frame arrive turns a lasting difference into "≈ in step": the check
  never contradicts the test result shown below it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from vnet_tui.core.model import Counters

GRACE = 3.0  # seconds a difference may last before the live check calls it loss
IN_FLIGHT = 2  # frames a one-shot check (after a test) attributes to two reads a moment apart


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
    verdict: str = ""  # equal | in-flight | filtered | policy | loss ("" : not judged yet, by difference alone)
    policy_dropped: int = 0  # frames the host end's policy dropped in this direction over the interval
    policy_by: str = ""  # what dropped them: "mac filter", "ip filter", "rate-out policer", "rate-in (tbf)"

    @property
    def difference(self) -> int:
        return self.transmitted - self.received

    @property
    def ok(self) -> bool:
        """True unless frames were lost (a difference that is explained is not a failure)."""
        if self.verdict:
            return self.verdict != "loss"
        return self.difference == 0 and self.dropped == 0

    @property
    def equal(self) -> bool:
        return self.difference == 0 and self.dropped == 0

    def to_json(self) -> dict[str, Any]:
        return {"from": self.sender, "to": self.receiver, "transmitted": self.transmitted,
                "received": self.received, "difference": self.difference, "dropped": self.dropped,
                "transmitted_bytes": self.transmitted_bytes, "received_bytes": self.received_bytes,
                "ok": self.ok, "verdict": self.verdict or ("equal" if self.equal else "loss"),
                "policy": {"dropped": self.policy_dropped, "by": self.policy_by} if self.policy_dropped else None}

    def text(self) -> str:
        """``guest → host: 1,000 sent = 1,000 received ✓`` (or ≈ with why, or ✗ with what is missing)."""
        head = f"{self.sender} → {self.receiver}: {self.transmitted:,} sent"
        if self.verdict == "policy":
            why = (f"{self.policy_dropped:,} dropped by the host end's {self.policy_by} (policy, not loss)")
            if self.equal:
                return f"{head} = {self.received:,} received ✓; {why}"
            return f"{head}, {self.received:,} received ≈ {why}"
        if self.equal:
            return f"{head} = {self.received:,} received ✓"
        head = f"{head}, {self.received:,} received"
        n = abs(self.difference)
        if self.verdict == "in-flight":
            return f"{head} ≈ in step ({n:,} {'in flight' if self.difference > 0 else 'counted early'}: " \
                   "the ends are read a moment apart)"
        if self.verdict == "filtered":
            return f"{head} ≈ in step ({n:,} filtered by the guest NIC: multicast it did not join)"
        if self.verdict == "explained":
            return f"{head} ≈ in step (the traffic test saw every frame arrive)"
        parts = [head]
        if self.difference:
            parts.append(f"{n:,} {'missing' if self.difference > 0 else 'extra'}")
        if self.dropped:
            parts.append(f"{self.dropped:,} dropped")
        tail = f" (besides {self.policy_dropped:,} dropped by the host end's {self.policy_by}: policy)" \
            if self.policy_dropped else ""
        return ", ".join(parts) + " ✗" + tail


def direction(sender: str, tx: Counters, receiver: str, rx: Counters) -> Direction:
    """One direction from the sender's and the receiver's counter deltas."""
    return Direction(sender, receiver, tx.tx_packets, rx.rx_packets, tx.tx_dropped + rx.rx_dropped,
                     tx.tx_bytes, rx.rx_bytes)


def judge(d: Direction, vm: bool, settled: bool, test_ok: Optional[bool] = None) -> Direction:
    """``d`` with its verdict.

    ``vm``: the guest end is a VM's NIC read through its agent (its
    receive filter drops multicast; its reads are a moment off the tap's).
    ``settled``: the difference has had time to close (the live check's
    grace is over).  ``test_ok``: a traffic test through this pair saw
    every frame arrive (None: no test yet).
    """
    if d.policy_dropped and not d.dropped and d.difference <= d.policy_dropped:
        return replace(d, verdict="policy")
    if d.equal:
        return replace(d, verdict="equal")
    if d.dropped:
        return replace(d, verdict="loss")
    if d.difference < 0:  # received more than was sent in the interval: the reads, never a loss
        return replace(d, verdict="in-flight")
    if vm and d.sender == "host":
        return replace(d, verdict="filtered")
    if not settled:
        return replace(d, verdict="in-flight")
    if test_ok:
        return replace(d, verdict="explained")
    return replace(d, verdict="loss")


Policy = dict[str, tuple[int, str]]  # sender -> (frames the host end's policy dropped, by what)


def mirror(guest: Optional[Counters], host: Optional[Counters], policy: Optional[Policy] = None) -> list[Direction]:
    """Both directions (guest → host, host → guest) from the two ends' deltas; [] if one is unknown.

    ``policy``: per sender, what the host end's policy dropped of that direction's frames (hostpolicy).
    """
    if guest is None or host is None:
        return []
    out = [direction("guest", guest, "host", host), direction("host", host, "guest", guest)]
    if policy:
        out = [replace(d, policy_dropped=policy[d.sender][0], policy_by=policy[d.sender][1])
               if policy.get(d.sender, (0, ""))[0] else d for d in out]
    return out


def mirror_json(guest: Optional[Counters], host: Optional[Counters], skew_s: Optional[float] = None,
                vm: Optional[bool] = None, policy: Optional[Policy] = None) -> dict[str, Any]:
    """The ``mirror`` block of a pair-test result (the counters read once, after the test).

    ``vm`` (default: whether a ``skew_s`` between the guest's and the tap's reads is given)
    lets a VM's receive filter and a couple of frames between the two reads pass.
    """
    vm = skew_s is not None if vm is None else vm
    dirs = [judge(d, vm, settled=not vm or abs(d.difference) > IN_FLIGHT) for d in mirror(guest, host, policy)]
    out: dict[str, Any] = {"ok": bool(dirs) and all(d.ok for d in dirs),
                           "directions": [d.to_json() for d in dirs]}
    if not dirs:
        out["why"] = "one end's counters are not observable"
    if skew_s is not None:
        out["skew_s"] = round(skew_s, 3)
    return out


class MirrorWatch:
    """The live mirror check: judges each direction, giving a difference ``grace`` seconds to close.

    ``update`` takes both ends' deltas over the same interval (since the
    view opened) each time they are read.  A difference is "in flight"
    until it has stood unchanged for ``grace`` seconds; only then, and only
    if no traffic test saw every frame arrive, is it loss.
    """

    def __init__(self, vm: bool = False, grace: float = GRACE, clock: Callable[[], float] = time.monotonic) -> None:
        self.vm = vm
        self.grace = grace
        self.clock = clock
        self._since: dict[str, tuple[int, float]] = {}  # sender -> (difference, when it was first seen)
        self.test_ok: Optional[bool] = None

    def update(self, guest: Optional[Counters], host: Optional[Counters],
               policy: Optional[Policy] = None) -> list[Direction]:
        now = self.clock()
        out = []
        for d in mirror(guest, host, policy):
            diff = d.difference
            seen = self._since.get(d.sender)
            if seen is None or seen[0] != diff:
                seen = self._since[d.sender] = (diff, now)
            settled = now - seen[1] >= self.grace
            out.append(judge(d, self.vm, settled, self.test_ok))
        return out
