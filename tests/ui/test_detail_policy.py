"""The detail shows the selected adapter's host-end policy as the kernel has it, read in a worker."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers import unique
from vnet_tui.core.server import Server
from vnet_tui.live.watcher import Watcher
from vnet_tui.txn import api
from vnet_tui.ops.requests import SetRequest
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.detail import summary_line

from .pilot import SIZE, loaded, screen_text, wait_for


def policy_shown(app: VnetApp) -> str:
    text = screen_text(app)
    return next((line for line in text.splitlines() if "policy " in line), "")


@pytest.mark.live
async def test_detail_shows_the_policy_and_follows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vnet_tui.lab import lab
    from vnet_tui.policy import read as pread

    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    threads: list[str] = []
    real = pread.read_many

    def spy(where, names):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(where, names)

    monkeypatch.setattr(pread, "read_many", spy)
    with lab(unique("dp"), containers=2, vms=0, seed=9) as info:
        server = Server(lab=info.name)
        api.edit_adapter(server, SetRequest("ct101", "eth0", rate_in="10mbit/64k"))
        feed = Watcher(server, interval=1.0)
        app = VnetApp(feed)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot)
                pane = app.main.pane("containers")
                keys = {r.name: r.key for r in pane.rows_by_key.values()}
                k101 = next(k for n, k in keys.items() if n.startswith("ct101") and n.endswith("eth0"))
                k102 = next(k for n, k in keys.items() if n.startswith("ct102") and n.endswith("eth0"))
                app.go_to("containers", k101)
                await wait_for(pilot, lambda: "rate-in 10mbit" in policy_shown(app), timeout=10, what="rate-in")
                assert "mac-filter" not in policy_shown(app)
                # changed by someone else while shown: the detail follows within a few seconds
                api.edit_adapter(server, SetRequest("ct101", "eth0", mac_filter="on"))
                await wait_for(pilot, lambda: "mac-filter" in policy_shown(app), timeout=15, what="mac-filter")
                # an adapter without a policy: no policy line at all
                app.go_to("containers", k102)
                await wait_for(pilot, lambda: app.policy_asked and "102" in app.policy_asked, what="ct102 asked")
                await wait_for(pilot, lambda: not policy_shown(app), timeout=10, what="no policy line")
                # the full-size detail shows it too
                app.go_to("containers", k101)
                await wait_for(pilot, lambda: "rate-in" in policy_shown(app), timeout=10, what="back on ct101")
                await pilot.press("enter")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "DetailScreen", what="detail screen")
                await wait_for(pilot, lambda: "rate-in 10mbit" in policy_shown(app), timeout=10, what="big detail")
        finally:
            feed.stop()
            feed.join(5)
    assert threads and threading.main_thread().name not in threads, threads


def test_summary_line_shows_policy_words_as_text_not_markup() -> None:
    from .pilot import small_topology
    from vnet_tui.ui.rowbuild import RowCache, all_rows

    rows = all_rows(small_topology(), RowCache())
    row = next(r for r in rows["containers"] if r.guest is not None and r.host is not None)
    t = summary_line(row, None, ["rate-in 10mbit", "[bold]via x[/bold]"])
    assert "policy rate-in 10mbit · [bold]via x[/bold]" in t.plain
    assert "policy" not in summary_line(row, None, []).plain


async def test_edit_form_says_the_policy_the_detail_read() -> None:
    from vnet_tui.ui.forms import open_edit_form

    from .pilot import small_topology
    from .test_forms import DEMO, Harness, mounted

    from textual.widgets import Input, Static

    app = Harness(lambda a: open_edit_form(a, DEMO, small_topology(), "ct101", "veth101.0"))
    app.policy_words = {"veth101.0": ["rate-in 10mbit", "[red]x"]}  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        await mounted(pilot, "#edit-rate-in", Input)
        await pilot.pause()
        texts = [str(s.render()) for s in app.screen.query(Static)]
        assert any(t == "now: rate-in 10mbit · [red]x" for t in texts), texts
