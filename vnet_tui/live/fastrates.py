"""RateTracker with a fast path for idle interfaces.

Most of a big server's interfaces are idle between two sweeps: their
counters did not move, so their rate is zero.  ``core.rates.RateTracker``
builds a new ``Rate`` and scans the counters for a reset on every key
(~8 µs); this subclass answers the unchanged case with one tuple compare
and a shared zero.  Anything else goes to the base class, so the rules
(measured time, new baseline on a reset, no negative rate) stay there;
tests/ui/test_fastrates.py checks both give the same rates and histories.
"""

from __future__ import annotations

from collections import deque
from typing import Hashable, Optional

from vnet_tui.core.rates import Rate, RateTracker

ZERO = Rate(0.0, 0.0, 0.0, 0.0)


class FastRateTracker(RateTracker):
    """Same results as RateTracker; cheaper when the counters did not move."""

    def update(self, key: Hashable, values: tuple[int, ...], now: float) -> Optional[Rate]:
        prev = self._last.get(key)
        if prev is None or now <= prev[0] or prev[1][:4] != values[:4]:
            return super().update(key, values, now)
        self._last[key] = (now, values)
        self.rates[key] = ZERO
        h = self.history.get(key)
        if h is None:
            h = self.history[key] = (deque(maxlen=self._size), deque(maxlen=self._size))
        h[0].append(0.0)
        h[1].append(0.0)
        return ZERO
