"""A feed that replays a recorded topology (``show --json``), frozen.

Used by snapshot tests (stable pictures) and to look at a recording.
Counters come from the recording; rates and 60-sample histories can be
given so that a picture shows moving parts without moving.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Optional

from vnet_tui.core.model import Topology
from vnet_tui.core.rates import Rate
from vnet_tui.net.rtnl import STATS_ORDER

from .feed import EndKey, OnError, OnSample, OnTopology, Sample


def end_keys(topo: Topology) -> dict[EndKey, tuple[int, ...]]:
    """Kernel-order counter tuples of every end, keyed like a live sweep."""
    out: dict[EndKey, tuple[int, ...]] = {}
    spaces = [(topo.host.inode, topo.host.interfaces)]
    spaces += [(c.netns.inode, c.interfaces) for c in topo.containers]
    for inode, ifaces in spaces:
        for i in ifaces:
            out[(inode, i.ifindex)] = tuple(getattr(i.stats, f) for f in STATS_ORDER)
    return out


class RecordedFeed:
    """A Feed over a fixed Topology: posts it once, then one frozen Sample."""

    def __init__(self, topo: Topology, label: Optional[str] = None,
                 rates: Optional[dict[EndKey, Rate]] = None,
                 history: Optional[dict[EndKey, tuple[list[float], list[float]]]] = None,
                 interval: float = 1.0) -> None:
        self.topo = topo
        self.label = label or topo.host.hostname or "recording"
        self.interval = interval
        self.paused = False
        self.rates = rates or {}
        self._history = history or {}
        self._stop = threading.Event()

    @classmethod
    def from_file(cls, path: "str | Path", **kw: object) -> "RecordedFeed":
        return cls(Topology.from_json(json.loads(Path(path).read_text())), **kw)  # type: ignore[arg-type]

    def run(self, on_topology: OnTopology, on_sample: OnSample, on_error: OnError) -> None:
        on_topology(self.topo)
        on_sample(Sample(0.0, end_keys(self.topo), dict(self.rates)))
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds

    def set_paused(self, paused: bool) -> None:
        self.paused = paused

    def resync(self) -> None:
        pass

    def history(self, key: EndKey) -> tuple[list[float], list[float]]:
        rx, tx = self._history.get(key, ([], []))
        return list(rx), list(tx)


__all__ = ["RecordedFeed", "end_keys"]
