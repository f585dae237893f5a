"""The host end's policy as the pair test and the pair view need it: read from the kernel, its counters as deltas.

``read_host`` reads the port's policy (``vnet_tui.policy.read``: tc,
nftables, the link) with its counters; ``drops`` names what the policy
dropped between two reads, per direction of the pair:

- guest → host (what the guest sends): the MAC and IP filters' rules and
  the rate-out policer, all at the host end's ingress.  The host end's
  ``rx_packets`` counts these frames *before* the hook drops them (a veth
  counts at the sender's transmit, a tap at QEMU's write), so the mirror
  check sees the wire in step and the policy explains what went no further;
- host → guest (what the guest receives): the rate-in tbf's drops, made
  before the host end transmits (so they never reach either end's counters).

``rates`` turns two readings into what passes the limits now, for a view
that shows the throughput against each limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Counters
from vnet_tui.policy import read as pread
from vnet_tui.policy.port import Port

from .counters import netlink_counters

ETH_HLEN = 14  # nft's byte counters at ingress count from the network header; interface counters from the MAC's
FILTER_WORDS = {"mac_filter": "mac filter", "ip_filter": "ip filter"}


def read_host(fd: int, ifname: str) -> Optional[dict[str, Any]]:
    """The policy of host end ``ifname`` in namespace ``fd`` (None: it cannot be read — gone, no nft)."""
    try:
        with Port(fd, ifname) as port:
            return pread.read(port)
    except (VnetError, OSError):
        return None


def rule_drops(pol: Optional[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Every filter rule's drop counter: ``{"mac": {"packets", "bytes", "filter": "mac_filter"}, …}``."""
    out: dict[str, dict[str, int]] = {}
    if not pol:
        return out
    for key in FILTER_WORDS:
        f = pol.get(key)
        for rule, c in ((f or {}).get("dropped") or {}).items():
            out[rule] = {"packets": int(c.get("packets", 0)), "bytes": int(c.get("bytes", 0)), "filter": key}
    return out


@dataclass(frozen=True)
class PolicyDrops:
    """What the host end's policy dropped between two reads, per rule and per limit."""

    rules: dict[str, int] = field(default_factory=dict)  # filter rule -> packets
    rate_out_packets: int = 0
    rate_out_bytes: int = 0
    rate_in_drops: int = 0
    rate_in_overlimits: int = 0

    @property
    def filtered(self) -> int:
        return sum(self.rules.values())

    def by_filter(self) -> dict[str, int]:
        """``{"mac filter": n, "ip filter": m}`` (only those that dropped)."""
        out: dict[str, int] = {}
        for rule, n in self.rules.items():
            if n:
                word = "mac filter" if rule in ("mac", "arp-mac") else "ip filter"
                out[word] = out.get(word, 0) + n
        return out

    def guest_to_host(self) -> tuple[int, str]:
        """Frames the guest sent that the host end's ingress policy dropped, and by what (for the mirror)."""
        parts = self.by_filter()
        if self.rate_out_packets:
            parts["rate-out policer"] = self.rate_out_packets
        return sum(parts.values()), " and ".join(parts)

    def host_to_guest(self) -> tuple[int, str]:
        """Frames for the guest that the host end's rate-in held back and dropped."""
        return self.rate_in_drops, "rate-in (tbf)" if self.rate_in_drops else ""

    def to_json(self) -> dict[str, Any]:
        return {"rules": dict(self.rules), "rate_out": {"packets": self.rate_out_packets, "bytes": self.rate_out_bytes},
                "rate_in": {"drops": self.rate_in_drops, "overlimits": self.rate_in_overlimits}}


def _ro(pol: Optional[dict[str, Any]]) -> tuple[int, int]:
    ro = (pol or {}).get("rate_out") or {}
    return int(ro.get("dropped_packets", ro.get("drops", 0)) or 0), int(ro.get("dropped_bytes", 0) or 0)


def _ri(pol: Optional[dict[str, Any]]) -> tuple[int, int, int]:
    ri = (pol or {}).get("rate_in") or {}
    return int(ri.get("drops", 0) or 0), int(ri.get("overlimits", 0) or 0), int(ri.get("bytes", 0) or 0)


def drops(before: Optional[dict[str, Any]], after: Optional[dict[str, Any]]) -> PolicyDrops:
    """What was dropped between reads ``before`` and ``after`` (a counter that went back — a rule made
    again — counts from 0)."""
    b, a = rule_drops(before), rule_drops(after)
    rules = {}
    for rule, c in a.items():
        was = b.get(rule, {}).get("packets", 0)
        rules[rule] = c["packets"] - was if c["packets"] >= was else c["packets"]
    (bp, bb), (ap, ab) = _ro(before), _ro(after)
    (bd, bo, _), (ad, ao, _) = _ri(before), _ri(after)

    def d(x: int, y: int) -> int:
        return y - x if y >= x else y

    return PolicyDrops(rules, d(bp, ap), d(bb, ab), d(bd, ad), d(bo, ao))


@dataclass(frozen=True)
class PolicyReading:
    """One read of the host end: its policy and its counters, at one moment."""

    policy: Optional[dict[str, Any]]
    counters: Optional[Counters]
    at: float


def reading(fd: int, ifname: str, ifindex: int) -> PolicyReading:
    pol = read_host(fd, ifname)
    try:
        c = netlink_counters(fd, ifindex)
    except OSError:
        c = None
    return PolicyReading(pol, c, time.monotonic())


@dataclass(frozen=True)
class LimitNow:
    """One rate limit and what passes it now (bits per second; None: not known yet)."""

    direction: str  # "rate_in" | "rate_out"
    mechanism: str
    limit_bps: int
    passing_bps: Optional[float]
    dropped: int  # packets dropped by it since the first reading
    overlimits: int = 0


def rates(first: PolicyReading, prev: Optional[PolicyReading], cur: PolicyReading) -> list[LimitNow]:
    """Each rate limit on the port with the throughput through it between ``prev`` and ``cur``.

    rate-in: the tbf's own byte counter (what it let out to the guest).
    rate-out: what the host end received minus what the policer dropped.
    """
    out: list[LimitNow] = []
    pol = cur.policy or {}
    since = drops(first.policy, cur.policy)
    dt = cur.at - prev.at if prev is not None else 0.0
    ri, ro = pol.get("rate_in"), pol.get("rate_out")
    if ri:
        passing = None
        if prev is not None and dt > 0:
            passing = max(0, _ri(cur.policy)[2] - _ri(prev.policy)[2]) * 8 / dt
        out.append(LimitNow("rate_in", ri.get("mechanism", "?"), int(ri["rate_bps"]), passing, since.rate_in_drops,
                            since.rate_in_overlimits))
    if ro:
        passing = None
        if prev is not None and dt > 0 and cur.counters is not None and prev.counters is not None:
            got = cur.counters.rx_bytes - prev.counters.rx_bytes
            dp = drops(prev.policy, cur.policy)
            passing = max(0, got - dp.rate_out_bytes - ETH_HLEN * dp.rate_out_packets - _filtered_bytes(dp, prev, cur)) \
                * 8 / dt
        out.append(LimitNow("rate_out", ro.get("mechanism", "?"), int(ro["rate_bps"]), passing,
                            since.rate_out_packets))
    return out


def _filtered_bytes(dp: PolicyDrops, prev: PolicyReading, cur: PolicyReading) -> int:
    """Bytes the filters (before the policer) dropped between two reads, with their MAC headers."""
    b, a = rule_drops(prev.policy), rule_drops(cur.policy)
    return sum(max(0, c["bytes"] - b.get(r, {}).get("bytes", 0)) + ETH_HLEN * dp.rules.get(r, 0) for r, c in a.items())
