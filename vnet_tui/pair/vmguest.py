"""What the lab guest runs for the VM throughput test (vmthroughput.py), and what its answers mean.

- host → guest: the frames the tap sends (IPv6, no next header, to the
  guest NIC's own MAC: taken quietly by its kernel) and the busybox loop
  that samples the NIC's receive counters, read back into rates;
- guest → host: the plan of pings that offers a rate in full-size IPv4
  fragments, the busybox script that sends them (and removes its
  neighbour entry), the filter that finds them at the tap, and when the
  policer's bucket, full at the start, is empty at the offer measured.
"""

from __future__ import annotations

import math
import re
import socket
import struct
from typing import Any, Optional

from . import framing

TARGET = "198.18.255.68"  # an address no lab adapter has (the spoof test's is .67)
SAMPLE = 0.1  # s between two samples of the guest's counters
PINGS_PER_S = 10  # fragments per ping are chosen for at least this many pings a second …
PER_PROCESS = 10  # … spread over processes of at most this many a second (each waits for its timer)
MAX_PROCESSES = 8
MAX_FRAGMENTS = 44  # 44 × 1,480 bytes: the largest ICMP payload an IPv4 datagram carries in full fragments


def sampler_script(iface: str, seconds: float) -> str:
    """Print ``uptime rx_bytes rx_packets`` every SAMPLE s for ``seconds`` (uptime > 1 s: no leading 0)."""
    s = f"/sys/class/net/{iface}/statistics"
    return (f"read u x </proc/uptime; end=$((${{u%.*}}${{u#*.}} + {int(seconds * 100)})); "
            f"while :; do read u x </proc/uptime; read b <{s}/rx_bytes; read p <{s}/rx_packets; echo \"$u $b $p\"; "
            f"[ ${{u%.*}}${{u#*.}} -ge $end ] && break; sleep {SAMPLE}; done")


def parse_samples(out: str) -> list[tuple[float, int, int]]:
    return [(float(m[1]), int(m[2]), int(m[3])) for m in re.finditer(r"^(\d+\.\d+) (\d+) (\d+)$", out, re.M)]


def _at(samples: list[tuple[float, int, int]], t: float) -> float:
    """The guest's byte counter at time ``t``, between the two samples around it."""
    for (u0, b0, _), (u1, b1, _) in zip(samples, samples[1:]):
        if u0 <= t <= u1:
            return b0 + (b1 - b0) * ((t - u0) / (u1 - u0) if u1 > u0 else 1.0)
    return float(samples[0][1] if t < samples[0][0] else samples[-1][1])


def guest_rates(samples: list[tuple[float, int, int]], elapsed: float, frame: int,
                limited: bool) -> Optional[tuple[float, list[int], int]]:
    """From the guest's samples: (bits/s held after the first second, bits each second, frames arrived);
    None when no traffic shows in them.  The start is the last sample before the counter rose by two frames
    (it rose within the next SAMPLE); the held rate is between two samples inside the sending."""
    if len(samples) < 3:
        return None
    k = next((i for i, s in enumerate(samples) if s[1] - samples[0][1] >= 2 * frame), None)
    if not k:
        return None
    start = samples[k - 1][0]
    i = next((n for n, s in enumerate(samples) if s[0] >= samples[k][0] + (1.0 if limited and elapsed >= 2 else 0)),
             k - 1)
    j = max((n for n, s in enumerate(samples) if s[0] <= start + elapsed), default=len(samples) - 1)
    if j <= i:
        i, j = k - 1, len(samples) - 1
    held = (samples[j][1] - samples[i][1]) * 8 / (samples[j][0] - samples[i][0]) if samples[j][0] > samples[i][0] else 0.0
    mid = (samples[k - 1][0] + samples[k][0]) / 2
    per_s = [round((_at(samples, mid + n + 1) - _at(samples, mid + n)) * 8) for n in range(max(1, int(elapsed)))]
    return held, per_s, samples[-1][2] - samples[k - 1][2]


def link_local(mac: str) -> str:
    """The EUI-64 link-local address a Linux NIC with ``mac`` takes."""
    b = bytearray(framing.mac_bytes(mac))
    b[0] ^= 2
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + bytes(6) + bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:]))


def to_guest_header(guest_mac: str, tap_mac: str, guest_ip6: str, size: int) -> bytes:
    """Ethernet and IPv6 headers of a ``size``-byte frame to the guest that its kernel discards quietly:
    next header 59 (no next header), from the tap's link-local address."""
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, size - 14 - 40, 59, 64,
                      socket.inet_pton(socket.AF_INET6, link_local(tap_mac)),
                      socket.inet_pton(socket.AF_INET6, guest_ip6))
    return framing.mac_bytes(guest_mac) + framing.mac_bytes(tap_mac) + b"\x86\xdd" + ip6


def ping_plan(rate_bps: float, frame: int, seconds: float) -> dict[str, Any]:
    """How the guest offers ``rate_bps`` in ``frame``-byte frames: pings of ``fragments`` full fragments
    (``size`` data bytes), ``processes`` pings at once, each every ``interval`` s, ``count`` each."""
    frag = frame - 14 - 20
    per_ping = frame * 8
    k = max(1, min(MAX_FRAGMENTS, math.ceil(rate_bps / (PINGS_PER_S * per_ping))))
    pings = rate_bps / (k * per_ping)
    n = max(1, min(MAX_PROCESSES, math.ceil(pings / PER_PROCESS)))
    interval = n / pings
    return {"fragments": k, "size": frag * k - 8, "processes": n, "interval": round(interval, 6),
            "count": max(1, math.ceil(seconds / interval)), "pings_per_s": pings}


def sender_script(iface: str, tap_mac: str, plan: dict[str, Any], seconds: float) -> str:
    """The guest's script: a neighbour entry for TARGET, the pings, the entry removed whatever they did."""
    ping = (f"ping -q -c {plan['count']} -i {plan['interval']} -s {plan['size']} -W 1 -w {math.ceil(seconds)} "
            f"{TARGET} >/dev/null 2>&1 &")
    return (f"arp -i {iface} -d {TARGET} 2>/dev/null; arp -i {iface} -s {TARGET} {tap_mac} || exit 90; "
            f"i=0; while [ $i -lt {plan['processes']} ]; do i=$((i+1)); {ping} done; wait; "
            f"arp -i {iface} -d {TARGET}; echo vnet-restore $?")


def bucket_seconds(lim: Optional[dict[str, Any]], offered_bps: float, elapsed: float) -> float:
    """When nftables' bucket (a second's worth and the burst, full at the start) is empty at this offer: at
    least a second; later when the guest offers less than 3× (then what arrives before is not the limit's)."""
    if not lim or lim.get("mechanism") != "nft-limit":
        return 1.0
    rate = int(lim["rate_bps"])
    over = offered_bps - rate
    drain = (rate + 8 * int(lim.get("burst_bytes") or 0)) / over if over > 0 else elapsed
    return max(1.0, min(math.ceil(drain * 10) / 10, elapsed - 1.0))


def ipv4_filter(dst: str) -> list[framing.Insn]:
    """Classic BPF: IPv4 frames to ``dst`` (every fragment carries it)."""
    return [(0x28, 0, 0, 12), (0x15, 0, 3, 0x0800), (0x20, 0, 0, 30),
            (0x15, 0, 1, int.from_bytes(socket.inet_aton(dst), "big")), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
