"""Rates from counter samples, with measured time and honest baselines.

Rates divide by the *measured* monotonic time between two samples, never
the nominal interval.  A key seen for the first time, or a counter that
went backwards (interface recreated, counters reset), starts a new
baseline: no rate until the next sample, and never a negative one.
"""

from __future__ import annotations

from collections import deque
from typing import Hashable, NamedTuple, Optional

from .model import COUNTER_FIELDS

HISTORY = 60  # samples kept per key for sparklines


class Rate(NamedTuple):
    """Per-second rates between the last two samples of one interface.

    A named tuple: a thousand are made every second while ends move.
    """

    rx_bps: float
    tx_bps: float
    rx_pps: float
    tx_pps: float


# indices into the kernel-order tuple (rtnl.STATS_ORDER)
_RXP, _TXP, _RXB, _TXB = 0, 1, 2, 3


class RateTracker:
    """Keeps the last sample of each key and a short history of rates."""

    def __init__(self, history: int = HISTORY) -> None:
        self._last: dict[Hashable, tuple[float, tuple[int, ...]]] = {}
        self.rates: dict[Hashable, Rate] = {}
        self.history: dict[Hashable, tuple[deque[float], deque[float]]] = {}
        self._size = history

    def update(self, key: Hashable, values: tuple[int, ...], now: float) -> Optional[Rate]:
        """Record a sample (kernel-order tuple) taken at monotonic time ``now``."""
        prev = self._last.get(key)
        self._last[key] = (now, values)
        if prev is None:
            return None
        t0, v0 = prev
        dt = now - t0
        if dt <= 0 or any(a < b for a, b in zip(values[:4], v0[:4])):
            self.rates.pop(key, None)  # reset: new baseline
            return None
        r = Rate(
            (values[_RXB] - v0[_RXB]) / dt,
            (values[_TXB] - v0[_TXB]) / dt,
            (values[_RXP] - v0[_RXP]) / dt,
            (values[_TXP] - v0[_TXP]) / dt,
        )
        self.rates[key] = r
        h = self.history.get(key)
        if h is None:
            h = self.history[key] = (deque(maxlen=self._size), deque(maxlen=self._size))
        h[0].append(r.rx_bps)
        h[1].append(r.tx_bps)
        return r

    def history_of(self, key: Hashable) -> tuple[list[float], list[float]]:
        """The last rx and tx byte rates of ``key`` (oldest first)."""
        h = self.history.get(key)
        return (list(h[0]), list(h[1])) if h else ([], [])

    def forget(self, key: Hashable) -> None:
        """Drop a key (interface gone)."""
        self._last.pop(key, None)
        self.rates.pop(key, None)
        self.history.pop(key, None)

    def keep_only(self, keys: set) -> None:
        for k in [k for k in self._last if k not in keys]:
            self.forget(k)


__all__ = ["Rate", "RateTracker", "COUNTER_FIELDS"]
