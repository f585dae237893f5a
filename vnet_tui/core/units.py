"""Human units for counters and rates."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1536 -> '1.5K' (binary prefixes, compact)."""
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}P"


def human_rate(bps: float) -> str:
    """Bytes per second -> '12.3K/s'."""
    return human_bytes(bps) + "/s"
