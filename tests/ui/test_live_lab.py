"""The TUI against a real lab: what it lists, both ends, live counters, live structure."""

from __future__ import annotations

import subprocess
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest

from tests.helpers import udp_burst, unique
from vnet_tui.core.server import Server
from vnet_tui.live.watcher import Watcher
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.detail import DetailView

from .conftest import show_json
from .pilot import SIZE, loaded, pane_column, screen_text, wait_for

pytestmark = [pytest.mark.live, pytest.mark.qemu]


@asynccontextmanager
async def running(lab: str, interval: float = 1.0) -> AsyncIterator[tuple[VnetApp, Any]]:
    """The app on lab ``lab``; its watcher has let go of every namespace afterwards."""
    feed = Watcher(Server(lab=lab), interval=interval)
    app = VnetApp(feed)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            yield app, pilot
    finally:
        feed.stop()
        assert feed.join(5) or not feed.started, "the watcher did not stop"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def ipv4(cidr: str) -> str:
    return cidr.split("/")[0]


async def test_panes_list_what_show_json_lists(lab_info):
    shown = show_json(lab_info.name)
    async with running(lab_info.name) as (app, pilot):
        assert sorted(pane_column(app, "host", "name")) == sorted(i["ifname"] for i in shown["host"]["interfaces"])
        want_ct = sorted((c["name"], i["ifname"], i["mac"]) for c in shown["containers"]
                         for i in c["interfaces"] if i["kind"] != "loopback")
        got_ct = sorted(zip(pane_column(app, "containers", "owner"), pane_column(app, "containers", "name"),
                            pane_column(app, "containers", "mac")))
        assert got_ct == want_ct
        want_vm = sorted((v["name"], a["id"], a["guest_mac"], a["host_ifname"]) for v in shown["vms"]
                         for a in v["adapters"])
        got_vm = sorted(zip(*(pane_column(app, "vms", c) for c in ("owner", "name", "mac", "hostend"))))
        assert got_vm == want_vm and len(want_vm) == 1
        assert f"lab {lab_info.name}" in screen_text(app) and "read-write" in screen_text(app)


async def test_selecting_an_adapter_shows_both_ends(lab_info):
    ct = lab_info.containers[1]
    async with running(lab_info.name) as (app, pilot):
        app.go_to("containers", app.main.pane("containers").ordered_rows[1].key)
        await pilot.pause()
        text = screen_text(app)
        assert f"guest end · {ct.name}" in text and f"host end · lab {lab_info.name}" in text
        assert ct.mac in text and ct.host_mac in text and ct.netns in text and ipv4(ct.ipv4) in text
        title = str(app.main.query_one(DetailView).border_title)
        assert f"{ct.name}:{ct.ifname}" in title and ct.host_ifname in title
        vm = lab_info.vms[0]
        app.go_to("vms", app.main.pane("vms").ordered_rows[0].key)
        await pilot.pause()
        text = screen_text(app)
        assert f"guest end · {vm.name}" in text and vm.guest_mac in text and vm.tap in text


async def test_udp_burst_moves_the_right_rows(lab_info):
    src, dst, other = lab_info.containers
    interval = 1.0
    async with running(lab_info.name, interval) as (app, pilot):
        ct = app.main.pane("containers")
        host = app.main.pane("host")
        keys = {r.name.split("/")[0]: r.key for r in ct.rows_by_key.values()}
        hkeys = {r.name: r.key for r in host.rows_by_key.values()}
        await pilot.pause(interval * 1.2)  # every end has a baseline
        udp_burst(src.netns, ipv4(dst.ipv4), count=60, size=1000)
        sent = time.monotonic()

        def rate(pane, key, col):
            cell = pane.get_cell(key, col)
            return cell.sort_value

        def moved():
            return (rate(ct, keys[src.name], "tx") > 20_000 and rate(ct, keys[dst.name], "rx") > 20_000
                    and rate(host, hkeys[src.host_ifname], "rx") > 20_000
                    and rate(host, hkeys[dst.host_ifname], "tx") > 20_000)

        await wait_for(pilot, moved, timeout=10, what="the burst's rows to move")
        print(f"rows moved {time.monotonic() - sent:.2f} s after the burst")  # how fast: bench (tui_change)
        assert rate(ct, keys[other.name], "rx") < 5_000  # only ARP broadcasts reach the third one
        assert rate(ct, keys[dst.name], "tx") < 5_000


async def test_interfaces_added_changed_removed_outside_show_up(lab_info):
    host_ns = lab_info.host_netns
    name = "vt" + unique("")[:6]
    async with running(lab_info.name) as (app, pilot):
        try:
            ip("-n", host_ns, "link", "add", name, "type", "veth", "peer", "name", name + "p")
            t0 = time.monotonic()
            await wait_for(pilot, lambda: name in pane_column(app, "host", "name"), timeout=10, what="new link")
            added = time.monotonic() - t0
            veth = lab_info.containers[0].host_ifname
            ip("-n", host_ns, "link", "set", veth, "down")
            t0 = time.monotonic()
            host = app.main.pane("host")
            key = next(r.key for r in host.rows_by_key.values() if r.name == veth)
            await wait_for(pilot, lambda: host.get_cell(key, "state").plain == "down", timeout=10,
                           what="state down")
            ip("-n", host_ns, "link", "set", veth, "up")
            ip("-n", host_ns, "link", "del", name)
            t0 = time.monotonic()
            await wait_for(pilot, lambda: name not in pane_column(app, "host", "name"), timeout=10,
                           what="link gone")
            removed = time.monotonic() - t0
            print(f"added after {added * 1000:.0f} ms, removed after {removed * 1000:.0f} ms")
        finally:
            subprocess.run(["ip", "-n", host_ns, "link", "del", name], capture_output=True)
            subprocess.run(["ip", "-n", host_ns, "link", "set", lab_info.containers[0].host_ifname, "up"],
                           capture_output=True)


async def test_container_namespace_appears_and_vanishes(lab_info):
    ns = f"vl-{lab_info.name}-ct199"
    async with running(lab_info.name) as (app, pilot):
        try:
            ip("netns", "add", ns)
            ip("-n", lab_info.host_netns, "link", "add", "veth199.0", "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            await wait_for(pilot, lambda: "ct199" in pane_column(app, "containers", "owner"), timeout=10,
                           what="new container")
            assert "ct199:eth0" in pane_column(app, "host", "peer")
            ip("netns", "del", ns)
            await wait_for(pilot, lambda: "ct199" not in pane_column(app, "containers", "owner"), timeout=10,
                           what="container gone")
            await wait_for(pilot, lambda: "veth199.0" not in pane_column(app, "host", "name"), timeout=10,
                           what="its host end gone with it")
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


async def test_filter_and_sort_on_the_live_lab(lab_info):
    a, b, c = lab_info.containers
    async with running(lab_info.name, interval=0.5) as (app, pilot):
        await pilot.press("slash", *b.mac, "enter")
        assert pane_column(app, "containers", "owner") == [b.name]
        assert pane_column(app, "host", "name") == [b.host_ifname]
        await pilot.press("slash", "escape")
        assert len(pane_column(app, "containers", "owner")) == 3
        app.main.pane("containers").focus()
        await pilot.press("s")  # sort by rx rate
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            udp_burst(a.netns, ipv4(c.ipv4), count=20, size=1000)
            await pilot.pause(0.1)
            if pane_column(app, "containers", "owner")[0] == c.name:
                break
        assert pane_column(app, "containers", "owner")[0] == c.name


async def test_lab_taken_down_under_the_app_stops_the_feed_and_leaves_nothing():
    from vnet_tui.lab import down, exists, up

    name = unique("u")
    up(name, containers=1, vms=0)
    try:
        async with running(name) as (app, pilot):
            down(name)
            await wait_for(pilot, lambda: app.main.query_one("#header").problem, timeout=10, what="feed stopped")
            assert "gone" in screen_text(app)
            assert app.feed.join(2)
    finally:
        if exists(name):
            down(name)
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"vl-{name}-" not in out


async def test_change_keys_open_the_forms_on_the_selected_adapter(lab_info):
    from vnet_tui.ui.forms import DeleteAdapterScreen, EditAdapterScreen

    ct = lab_info.containers[0]
    async with running(lab_info.name) as (app, pilot):
        app.go_to("containers", app.main.pane("containers").ordered_rows[0].key)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditAdapterScreen), what="the edit form")
        assert (app.screen.target, app.screen.ifname) == (ct.name, ct.ifname)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main, what="back on the panes")
        app.go_to("vms", app.main.pane("vms").ordered_rows[0].key)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteAdapterScreen), what="the delete form")
        await pilot.press("escape")
