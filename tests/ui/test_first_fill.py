"""A big server's panes show a screenful first and fill in the rest once the first sample is drawn
(ui/main.py): a fill step before it held the first screen's sample back (issue 14, 5,000 containers).
A feed that brings no sample (stopped, paused) still gets every row, FILL_WAIT after the first ones."""

from __future__ import annotations

import gc
import threading
from dataclasses import replace
from typing import Any

import pytest

from vnet_tui.core import gcsteady
from vnet_tui.core.model import Interface, Topology
from vnet_tui.live.recorded import RecordedFeed
from vnet_tui.ui import main as ui_main
from vnet_tui.ui.app import VnetApp

from .pilot import FROZEN_HISTORY, FROZEN_RATES, small_topology, wait_for

EXTRA = 400  # plain host links: more rows than FIRST_ROWS


def big_topology() -> Topology:
    t = small_topology()
    extra = [Interface(f"zz{i:03d}", 1000 + i, "veth", None, 1500, "down") for i in range(EXTRA)]
    return Topology(replace(t.host, interfaces=[*t.host.interfaces, *extra]), t.containers, t.vms)


class SampleLater(RecordedFeed):
    """The topology at once; its sample only when the test says (never, if it does not)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.go = threading.Event()

    def run(self, on_topology: Any, on_sample: Any, on_error: Any) -> None:
        on_topology(self.topo)
        self.go.wait(30)
        if not self._stop.is_set():
            super().run(lambda _t: None, on_sample, on_error)

    def stop(self) -> None:
        super().stop()
        self.go.set()


def host_rows(app: VnetApp) -> int:
    return app.main.pane("host").row_count


async def test_the_rest_fills_in_after_the_first_sample() -> None:
    topo = big_topology()
    feed = SampleLater(topo, rates=FROZEN_RATES, history=FROZEN_HISTORY)
    app = VnetApp(feed, caps=0)
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], 10)  # (Python's default)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: host_rows(app), timeout=20, what="the first rows")
            await pilot.pause(0.5)
            assert host_rows(app) == ui_main.FIRST_ROWS  # a screenful (and more), waiting for the sample
            feed.go.set()
            await wait_for(pilot, lambda: app.loaded, timeout=10, what="the first sample")
            await wait_for(pilot, lambda: host_rows(app) == len(topo.host.interfaces), timeout=10,
                           what="every row")
            # all in: the GC back on, its full collections rare (core/gcsteady.py)
            await wait_for(pilot, gc.isenabled, timeout=5, what="the GC on")
            assert gc.get_threshold()[2] == gcsteady.FULL_EVERY
    finally:
        gc.set_threshold(*threshold)
        gc.enable()


async def test_without_a_sample_every_row_still_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_main, "FILL_WAIT", 0.3)
    topo = big_topology()
    feed = SampleLater(topo, rates=FROZEN_RATES, history=FROZEN_HISTORY)  # never let go
    app = VnetApp(feed, caps=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: host_rows(app) == len(topo.host.interfaces), timeout=10, what="every row")
        assert not app.loaded
