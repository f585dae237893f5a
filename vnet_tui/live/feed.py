"""What a feed hands to its consumer, and the interface every feed offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from vnet_tui.core.model import Counters, Topology
from vnet_tui.core.rates import Rate
from vnet_tui.net.rtnl.stats import Counts, counter_values

EndKey = tuple[int, int]
"""One end of an adapter: (namespace inode, ifindex)."""

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
"""The refresh intervals ``+``/``-`` step through (seconds)."""


@dataclass(frozen=True)
class Sample:
    """Counters and rates of every watched interface at one sweep.

    ``counters`` holds each end's counters of the sweep (``Counts``: the
    kernel's 64 bytes, or numbers; ``counters_of`` reads either);
    ``rates`` only the ends that have a baseline (a new interface or a
    reset counter gets its first rate one sweep later).
    ``at`` is the monotonic time of the sweep.  ``changed`` names the ends
    whose rate differs from the sample before (None: treat all as changed),
    so a consumer of 1,000 idle containers touches only what moved.
    """

    at: float
    counters: dict[EndKey, Counts] = field(default_factory=dict)
    rates: dict[EndKey, Rate] = field(default_factory=dict)
    changed: Optional[frozenset[EndKey]] = None

    def after(self, older: "Sample") -> "Sample":
        """This sample standing in for ``older`` too (it was dropped unseen): changes add up."""
        if self.changed is None or older.changed is None:
            return Sample(self.at, self.counters, self.rates, None)
        return Sample(self.at, self.counters, self.rates, self.changed | older.changed)

    def counters_of(self, key: Optional[EndKey]) -> Optional[Counters]:
        """The model Counters of one end (None if it was not swept)."""
        v = self.counters.get(key) if key is not None else None
        if not v:
            return None
        rxp, txp, rxb, txb, rxe, txe, rxd, txd = counter_values(v)[:8]
        return Counters(rxb, txb, rxp, txp, rxe, txe, rxd, txd)


OnTopology = Callable[[Topology], None]
OnSample = Callable[[Sample], None]
OnError = Callable[[str], None]


class Feed(Protocol):
    """A source of live (or recorded) data for one server.

    ``run`` blocks (call it in a thread) until ``stop``; every other method
    is safe to call from another thread.
    """

    label: str  # the server as the header shows it
    interval: float
    paused: bool

    def run(self, on_topology: OnTopology, on_sample: OnSample, on_error: OnError) -> None: ...

    def stop(self) -> None: ...

    def set_interval(self, seconds: float) -> None: ...

    def set_paused(self, paused: bool) -> None: ...

    def resync(self) -> None: ...

    def history(self, key: EndKey) -> tuple[list[float], list[float]]:
        """The last 60 rx and tx byte rates of one end (oldest first)."""
        ...


def step_interval(current: float, direction: int) -> float:
    """The next interval up (+1) or down (-1) from ``current``."""
    if direction > 0:
        return next((i for i in INTERVALS if i > current + 1e-9), INTERVALS[-1])
    return next((i for i in reversed(INTERVALS) if i < current - 1e-9), INTERVALS[0])
