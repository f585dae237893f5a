"""The main screen's layout rules (ui/layout.py, panes.fit_columns) and how the panes follow them."""

from __future__ import annotations

import pytest

from vnet_tui.ui.layout import DETAIL_FULL, frame, plan, share
from vnet_tui.ui.panes import COLUMNS, fit_columns

from .pilot import loaded, pane_column, recorded_app, screen_text


def test_share_gives_small_panes_all_their_rows_and_splits_the_rest():
    assert share([10, 5, 4], 30) == [10, 5, 4]  # all fit
    assert share([40, 5, 4], 20) == [11, 5, 4]  # the big one is cut, the small ones are whole
    assert share([40, 40, 4], 20) == [8, 8, 4]
    assert sum(share([100, 50, 7], 33)) == 33


def test_plan_at_80x24_folds_the_detail_and_shows_every_row_of_the_small_lab():
    p = plan(80, 22, [7, 3, 2])  # the recorded lab: 7 host interfaces, 3 containers, 2 VMs
    assert p.compact and not p.detail_open
    assert [h - frame(True) for h in p.panes] == [7, 3, 2]  # nothing cut, no blank rows
    assert sum(p.panes) + p.detail == 22


def test_plan_opens_the_detail_when_there_is_room_and_shares_when_there_is_not():
    p = plan(200, 58, [7, 3, 2])
    assert p.detail_open and not p.compact and p.detail == 58 - sum(p.panes)
    assert [h - frame(False) for h in p.panes] == [7, 3, 2]
    big = plan(120, 38, [1000, 1000, 10])
    assert big.detail_open and big.detail == DETAIL_FULL  # all three cut: they share evenly
    assert max(big.panes) - min(big.panes) <= 1 and sum(big.panes) + big.detail == 38
    some = plan(120, 38, [1000, 1000, 2])
    assert some.panes[2] == frame(False) + 2  # a small pane keeps every row  # the small VM pane whole
    assert plan(80, 22, [7, 3, 2], detail=True).detail_open  # `i` wins over the height


@pytest.mark.parametrize("pane", list(COLUMNS))
def test_columns_drop_by_priority_and_the_name_and_rates_stay(pane):
    widths = {k: 12 for k, _ in COLUMNS[pane]}
    narrow = fit_columns(pane, widths, 20)
    assert narrow[-2:] == ["rx", "tx"] and COLUMNS[pane][0][0] in narrow
    assert fit_columns(pane, widths, 1000) == [k for k, _ in COLUMNS[pane]]


async def test_80x24_has_no_horizontal_scrollbar_and_every_row_on_screen():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        for p in ("host", "containers", "vms"):
            pane = app.main.pane(p)
            assert pane.virtual_size.width <= pane.size.width, p  # nothing to scroll sideways to
            assert pane.size.height - 1 >= pane.row_count, p  # every row shown
        assert "mac" not in app.main.pane("host").shown_cols  # in the detail instead
        text = screen_text(app)
        assert "vme0000c9a2.0" in text and "vm202" in text  # the VM taps, not cut
        assert "ct101:eth0 ⇄ veth101.0" in text  # the folded detail
        await pilot.press("i")
        assert not app.main.query_one("#detail").has_class("folded")
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert "mac" in app.main.pane("host").shown_cols


async def test_filter_keys_and_focus():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"vm201", "enter")  # only the VMs pane (and vm201's tap) match
        assert pane_column(app, "containers", "owner") == []
        assert "no matches for vm201" in screen_text(app)
        assert app.main.focused.row_count > 0  # focus left the empty pane
        await pilot.press("escape")  # a kept filter: esc on the panes clears it
        assert app.filter_text == ""
        await pilot.press("slash", *"paused", "enter")  # a state column
        assert pane_column(app, "vms", "owner") == ["vm201", "vm202"]
        await pilot.press("escape")
        await pilot.press("slash", *"down", "enter")
        assert pane_column(app, "host", "name") == ["vme0000c9a2.0"]
        await pilot.press("escape")
        assert app.filter_text == "" and len(pane_column(app, "containers", "owner")) == 3
        host = app.main.pane("host")
        host.focus()
        await pilot.press("G")
        assert host.current.name == "vme0000c9a2.0"
        await pilot.press("g")
        assert host.current.name == "br0"
        await pilot.press("end")
        assert host.current.name == "vme0000c9a2.0"
        await pilot.press("home", "j", "j")
        assert host.current.name == "veth101.0"
        await pilot.press("k")
        assert host.current.name == "lo"


async def test_read_only_footer_hides_the_change_keys_and_read_write_shows_undo_at_120():
    from vnet_tui.core.server import Server

    for caps, shown in ((0, False), ((1 << 64) - 1, True)):
        app = recorded_app(caps=caps, server=Server(lab="demo"))
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            await pilot.pause(0.1)
            footer = [k.description for k in app.main.query("FooterKey")]
            assert ("undo" in footer) is shown and ("add" in footer) is shown, footer
            assert "help" in footer and "quit" in footer
            await pilot.press("question_mark")
            await pilot.pause(0.1)
            assert ("(off: read-only)" in screen_text(app)) is not shown  # help says why a/e/d/u do nothing


async def test_late_feed_messages_after_the_panes_are_gone_are_ignored():
    """A sample or topology that arrives while the screens are torn down (issue 11: NoMatches '#host')."""
    from vnet_tui.live.feed import Sample
    from vnet_tui.ui.messages import CountersUpdated, FeedFailed, TopologyChanged

    from .pilot import small_topology

    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await app.main.query_one("#panes").remove()  # as at exit: the panes are unmounted first
        app.post_message(TopologyChanged(small_topology()))
        app.post_message(CountersUpdated(Sample(9.0, {}, {}, None)))
        app.post_message(FeedFailed("late"))
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None  # no NoMatches: the app is still up


async def test_the_header_follows_columns_widened_by_new_rows():
    """A row wider than its column arrives, then only rates move: header and rows stay aligned."""
    from vnet_tui.core.model import VM, VMNic
    from vnet_tui.ui.messages import TopologyChanged

    from .pilot import small_topology

    app = recorded_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await loaded(pilot)
        topo = small_topology()
        topo.vms.append(VM("a-much-longer-vm-name", 7777, True, None,
                           [VMNic("net0", "c4:37:72:00:03:c9", "vme0000c9a3.0")]))
        app.post_message(TopologyChanged(topo))
        await pilot.pause(0.3)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "VM state" in line)
        row = next(line for line in lines if "a-much-longer-vm-name" in line)
        assert header.index("VM state") == row.index("running"), (header, row)


async def test_a_small_detail_pane_keeps_the_counters_instead_of_sparklines():
    app = recorded_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        detail = app.main.query_one("#detail")
        assert not detail.has_class("folded") and detail.has_class("short")
        text = screen_text(app)
        assert "90 pkt" in text and "120 pkt" in text  # both ends' rx and tx lines
        assert "fd00:5654::1:1/64" in text
