"""Helpers for pilot tests: build apps on recorded topologies, wait for conditions, read the screen."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console

from vnet_tui.core.model import Topology
from vnet_tui.core.rates import Rate
from vnet_tui.live.recorded import RecordedFeed
from vnet_tui.ui.app import VnetApp

DATA = Path(__file__).resolve().parent.parent / "data"
SIZE = (120, 40)


def small_topology() -> Topology:
    return Topology.from_json(json.loads((DATA / "topology_small.json").read_text()))


# frozen rates and histories so pictures show moving parts without moving
FROZEN_RATES = {
    (0, 3): Rate(1234.0, 20480.0, 12.0, 20.0),  # veth101.0
    (0, 4): Rate(512.0, 256.0, 4.0, 2.0),  # veth102.0
    (4026532300, 2): Rate(20480.0, 1234.0, 20.0, 12.0),  # ct101 eth0
    (4026532301, 2): Rate(256.0, 512.0, 2.0, 4.0),  # ct102 eth0
    (0, 6): Rate(99.0, 5000.0, 1.0, 5.0),  # vm201's tap
}
FROZEN_HISTORY = {
    key: ([r.rx_bps * (1 + (i % 7) / 7) for i in range(60)], [r.tx_bps * (1 + (i % 5) / 5) for i in range(60)])
    for key, r in FROZEN_RATES.items()
}


def recorded_app(topo: Optional[Topology] = None, **kw: Any) -> VnetApp:
    """An app on a recorded topology with frozen rates (read-only: no capabilities)."""
    feed = RecordedFeed(topo or small_topology(), rates=FROZEN_RATES, history=FROZEN_HISTORY)
    kw.setdefault("caps", 0)
    return VnetApp(feed, **kw)


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Let the app run until ``cond()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        await pilot.pause(0.02)


async def loaded(pilot: Any) -> None:
    # generous: on a loaded machine (or one with thousands of namespaces) discovery takes seconds
    await wait_for(pilot, lambda: pilot.app.loaded, timeout=60, what="first topology and sample")
    await pilot.pause()


def screen_text(app: VnetApp) -> str:
    """What the terminal shows, as plain text."""
    w, h = app.size
    c = Console(width=w, height=h, record=True, file=open("/dev/null", "w"), color_system=None)
    c.print(app.screen._compositor.render_update(full=True))
    return c.export_text()


def pane_column(app: VnetApp, pane: str, column: str) -> list[str]:
    """The plain text of one column of a pane, top to bottom."""
    t = app.main.pane(pane)
    if column not in t.shown_cols:  # left out at this width: the row still knows it
        return [t.rows_by_key[row.key.value].cells[column].plain for row in t.ordered_rows]
    return [t.get_cell(row.key, column).plain for row in t.ordered_rows]
