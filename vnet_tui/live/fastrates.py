"""The watcher's rate tracker: RateTracker's rates, cheap for a whole sweep.

A sweep hands over every end at once (``update_many``), each end's
counters as the kernel wrote them (``Counts``' bytes).  Most of a big
server's ends are idle between two sweeps: their bytes did not change,
so their rate is the shared zero and no number is made; the moving ones
get RateTracker's rule (measured time, a new baseline on a reset, never
a negative rate).

Histories (the sparklines of the selected end) are not kept per end:
each sweep's rates are one snapshot in a ring of the last HISTORY, and
``history_of`` reads one end's values out of it when asked — the UI
asks for one or two ends a second, while every end moves through
``update_many``.  ``update_many`` returns the ends whose rate changed,
so the UI touches only those.  tests/ui/test_fastrates.py checks rates
and histories against RateTracker.
"""

from __future__ import annotations

from collections import deque
from typing import Hashable

from vnet_tui.core.rates import HISTORY, Rate, RateTracker
from vnet_tui.net.rtnl.stats import Counts, counter_values

ZERO = Rate(0.0, 0.0, 0.0, 0.0)


class FastRateTracker(RateTracker):
    """RateTracker's rates from whole sweeps; histories from a ring of per-sweep snapshots."""

    def __init__(self, history: int = HISTORY) -> None:
        super().__init__(history)
        self._ring: deque[dict[Hashable, Rate]] = deque(maxlen=history)

    def update_many(self, swept: dict[Hashable, Counts], now: float) -> set[Hashable]:
        """Record one sweep (each key's ``Counts`` at monotonic time ``now``); the keys whose rate changed."""
        last, rates = self._last, self.rates
        values = counter_values
        got: dict[Hashable, Rate] = {}  # the rates this sweep computed: this sweep's history
        changed: set[Hashable] = set()
        for key, v in swept.items():
            prev = last.get(key)
            last[key] = (now, v)
            if prev is None:
                continue
            t0, p = prev
            if p == v and now > t0:  # idle: nothing moved
                if rates.get(key) is not ZERO:
                    rates[key] = ZERO
                    changed.add(key)
                got[key] = ZERO
                continue
            dt = now - t0
            p, v = values(p), values(v)  # numbers only for an end that moved
            if dt <= 0 or v[0] < p[0] or v[1] < p[1] or v[2] < p[2] or v[3] < p[3]:
                if rates.pop(key, None) is not None:  # a new baseline
                    changed.add(key)
                continue
            r = Rate((v[2] - p[2]) / dt, (v[3] - p[3]) / dt, (v[0] - p[0]) / dt, (v[1] - p[1]) / dt)
            if r == ZERO:
                r = ZERO
            if rates.get(key) != r:
                changed.add(key)
            rates[key] = r
            got[key] = r
        self._ring.append(got)
        return changed

    def history_of(self, key: Hashable) -> tuple[list[float], list[float]]:
        """The last HISTORY rx and tx byte rates of ``key`` (oldest first), from the snapshots.

        Safe to call from another thread while a sweep records: the ring is
        copied in one step (``tuple`` of a deque holds the GIL throughout),
        a snapshot is never changed once in the ring but for ``forget``'s
        single-key pops, and a dict's ``get`` is one step too."""
        rx: list[float] = []
        tx: list[float] = []
        for snap in tuple(self._ring):
            r = snap.get(key)
            if r is not None:
                rx.append(r.rx_bps)
                tx.append(r.tx_bps)
        hr, ht = super().history_of(key)  # any single-key updates (RateTracker.update)
        return (hr + rx)[-self._size:], (ht + tx)[-self._size:]

    def forget(self, key: Hashable) -> None:
        super().forget(key)
        for snap in self._ring:
            snap.pop(key, None)
