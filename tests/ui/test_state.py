"""The screens follow the app's state (issue 12): the app sets it, never a screen's widgets."""

from __future__ import annotations

from vnet_tui.ui.detail import DetailScreen, DetailView
from vnet_tui.ui.header import StatusHeader

from .pilot import SIZE, loaded, recorded_app, screen_text, wait_for


async def test_the_header_and_panes_follow_the_operators_choices_and_the_feeds_problem():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        header = app.main.query_one(StatusHeader)
        app.paused = True
        app.interval = 5.0
        app.sort_mode = "rx"
        await pilot.pause()
        assert (header.paused, header.interval, header.sort) == (True, 5.0, "rx")
        assert app.main.pane("containers").sort_mode == "rx"
        assert "❚❚ paused" in screen_text(app) and "every 5 s" in screen_text(app)
        app.problem = "netlink socket closed"
        await pilot.pause()
        assert "■ stopped: netlink socket closed" in screen_text(app)


async def test_the_big_detail_follows_the_sample():
    from vnet_tui.live.feed import Sample

    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        await pilot.pause(0.1)
        before = str(app.screen.query_one(DetailView).query_one("#guest-end .end-info").render())
        assert "(no counters yet)" not in before
        app.sample = Sample(1.0, {}, {})  # no counters for any end now
        await pilot.pause()
        after = str(app.screen.query_one(DetailView).query_one("#guest-end .end-info").render())
        assert "(no counters yet)" in after
