"""The pair view's `i`: the isolation test (pair-test --isolation) from the keyboard, on a real lab.

ct101 with `--isolated on`: `i` shows every kind its isolation holds back held back and the control
arriving; with isolation off, the frames get past and the view names the setting that stops them.  The
probe ports are gone afterwards, as the kernel (`ip -j`) has it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ip_json, unique
from vnet_tui.core.server import Server
from vnet_tui.lab import lab
from vnet_tui.live.watcher import Watcher
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.pair import PairScreen
from vnet_tui.ui.pair.policy import ISOLATION_FRAMES

from .pilot import SIZE, loaded, recorded_app, screen_text, wait_for


def set_isolated(lab_name: str, on: str) -> None:
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "adapter", "set", "ct101", "eth0", "--lab", lab_name,
                        "--isolated", on], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


async def _run_i(app: VnetApp, pilot: Any, screen: PairScreen) -> dict[str, Any]:
    screen.result = None
    await pilot.press("i")
    await wait_for(pilot, lambda: screen.result is not None or "could not run" in screen_text(app), timeout=120,
                   what="the isolation test's result")
    assert screen.result is not None, screen_text(app)
    return screen.result


async def test_i_in_a_recording_sends_nothing():
    topo_app = recorded_app()
    async with topo_app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        topo_app.go_to("containers", topo_app.main.pane("containers").ordered_rows[0].key)
        await pilot.press("p")
        assert isinstance(topo_app.screen, PairScreen)
        await pilot.press("i")
        assert any("recording" in n.message for n in topo_app._notifications)
        assert topo_app.screen.result is None


@pytest.mark.live
@pytest.mark.timeout(300)
async def test_i_shows_what_isolation_holds_back_and_what_gets_past():
    with lab(unique("w"), containers=1, vms=0, seed=12) as info:
        set_isolated(info.name, "on")
        feed = Watcher(Server(lab=info.name), interval=0.5)
        app = VnetApp(feed)
        n = ISOLATION_FRAMES
        try:
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot)
                await wait_for(pilot, lambda: app.main.pane("containers").ordered_rows, what="rows in containers")
                app.go_to("containers", app.main.pane("containers").ordered_rows[0].key)
                await pilot.press("p")
                screen = app.screen
                assert isinstance(screen, PairScreen)
                r = await _run_i(app, pilot, screen)
                assert r["mode"] == "isolation" and r["status"] == "ok", r["message"]
                assert all(r["isolation"]["kinds"][k]["arrived"] == 0 for k in
                           ("unknown-unicast", "isolated-unicast", "isolated-broadcast"))
                await pilot.pause(0.2)
                text = screen_text(app)
                assert "✓" in text and f"{3 * n:,} of {3 * n:,} frames from the probe ports" in text, text
                assert f"isolated-broadcast arrived 0/{n:,}" in text
                set_isolated(info.name, "off")
                r = await _run_i(app, pilot, screen)
                assert r["status"] == "got-past", r["message"]
                await pilot.pause(0.2)
                text = screen_text(app)
                assert "got past" in text and "--isolated on" in text, text
        finally:
            feed.stop()
            assert feed.join(5) or not feed.started
        left = [l["ifname"] for l in ip_json("link", "show", netns=info.host_netns)
                if l["ifname"].startswith("vniso")]
        assert left == []
