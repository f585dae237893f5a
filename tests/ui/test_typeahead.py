"""Keys typed ahead reach the widget the earlier keys sent them to (an operator's report, issue 12).

``/ct102`` then enter, typed right after start, opened ct101's detail: the
terminal delivers keys typed while the app is busy as one burst, all
queued before the first is handled; ``/`` opened the filter bar but its
focus came after the burst (``Widget.focus`` is deferred), so ``ct102``
went to the pane and enter opened the row under its cursor.  And a first
topology that arrived while the operator typed in the filter took the
keyboard away to the Containers pane.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import events

from vnet_tui.live.recorded import RecordedFeed
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.filter import FilterBar
from vnet_tui.ui.main import MainScreen

from .pilot import FROZEN_HISTORY, FROZEN_RATES, SIZE, loaded, recorded_app, small_topology, wait_for

TYPED = [("slash", "/"), ("c", "c"), ("t", "t"), ("1", "1"), ("0", "0"), ("2", "2"), ("enter", "\r")]


def burst(app: Any, keys: list[tuple[str, str]]) -> None:
    """Queue every key before any is handled, as a terminal's read of a busy app's input does."""
    for key, char in keys:
        app.post_message(events.Key(key, char))


def container_keys(app: Any) -> list[str]:
    return [r.name for r in app.main.pane("containers").rows_by_key.values()]


async def test_a_burst_after_slash_filters_instead_of_opening_the_row_under_the_cursor():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.main.focused is app.main.pane("containers")  # the cursor is on ct101's row
        burst(app, TYPED)
        await wait_for(pilot, lambda: app.filter_text == "ct102", timeout=10, what="the filter holds ct102")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen), app.screen  # no detail screen opened
        assert container_keys(app) == ["ct102/eth0"]
        assert not isinstance(app.main.focused, FilterBar)  # enter kept the filter and went back to the rows


class LateFeed(RecordedFeed):
    """A recording whose first topology waits until the test lets it go."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.go = threading.Event()

    def run(self, on_topology: Any, on_sample: Any, on_error: Any) -> None:
        self.go.wait(30)
        super().run(on_topology, on_sample, on_error)

    def stop(self) -> None:
        self.go.set()
        super().stop()


async def test_the_first_topology_leaves_the_keyboard_in_the_filter_bar():
    feed = LateFeed(small_topology(), rates=FROZEN_RATES, history=FROZEN_HISTORY)
    app = VnetApp(feed, caps=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        burst(app, TYPED[:3])  # "/ct", before any row is there
        await wait_for(pilot, lambda: app.filter_text == "ct", timeout=10, what="the filter holds ct")
        feed.go.set()
        await loaded(pilot)
        assert isinstance(app.main.focused, FilterBar)  # still typing
        burst(app, TYPED[3:])  # "102", enter
        await wait_for(pilot, lambda: app.filter_text == "ct102", timeout=10, what="the filter holds ct102")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen), app.screen
        assert container_keys(app) == ["ct102/eth0"]
