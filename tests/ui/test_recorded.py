"""Pilot tests on a recorded topology: layout, detail, filter, sort, keys, untrusted names."""

from __future__ import annotations

import copy

from vnet_tui.core.model import Topology
from vnet_tui.live.feed import Sample
from vnet_tui.ui.detail import DetailScreen, DetailView
from vnet_tui.ui.help import HelpScreen
from vnet_tui.ui.keys import KEYS
from vnet_tui.ui.messages import CountersUpdated, TopologyChanged
from vnet_tui.ui.pair import PairScreen

from .pilot import SIZE, loaded, pane_column, recorded_app, screen_text, small_topology, wait_for


async def test_three_panes_and_detail_visible_together_at_120x40():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for pane in ("host", "containers", "vms"):
            assert app.main.pane(pane).region.height >= 5, pane
        text = screen_text(app)
        for word in ("Host", "Containers", "VMs", "Adapter", "read-only (no CAP_NET_ADMIN)", "every 1 s", "live"):
            assert word in text, word
        assert pane_column(app, "host", "name") == ["br0", "lo", "veth101.0", "veth102.0", "veth103.0",
                                                   "vme0000c9a1.0", "vme0000c9a2.0"]
        assert pane_column(app, "containers", "owner") == ["ct101", "ct102", "ct103"]
        assert pane_column(app, "vms", "hostend") == ["vme0000c9a1.0", "vme0000c9a2.0"]


async def test_selecting_an_adapter_shows_both_ends():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.main.focused is app.main.pane("containers")  # where it starts
        await pilot.press("tab", "shift+tab", "down")
        detail = str(app.main.query_one(DetailView).border_title)
        assert "ct102:eth0" in detail and "veth102.0" in detail
        text = screen_text(app)
        assert "guest end · ct102" in text and "host end · lab demo" in text
        assert "c4:37:72:00:66:01" in text and "fe:56:54:00:66:01" in text  # both MACs
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        big = screen_text(app)
        assert "vl-demo-ct102" in big and "vl-demo-host" in big and "peak" in big
        await pilot.press("escape")
        assert app.screen is app.main


async def test_vm_adapter_detail_shows_guest_mac_and_tap_seen_from_the_guest():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("shift+tab", "shift+tab")  # VMs (backwards from Containers, past Host)
        assert app.main.focused is app.main.pane("vms")
        # the tap receives 99 B/s = the guest sends 99 B/s
        assert pane_column(app, "vms", "rx")[0] == "4.9K/s" and pane_column(app, "vms", "tx")[0] == "99B/s"
        text = screen_text(app)
        assert "guest end · vm201" in text and "c4:37:72:00:01:c9" in text and "vme0000c9a1.0" in text
        assert "counted at the host tap" in text


async def test_filter_by_name_mac_ip_and_container():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"ct102")
        assert pane_column(app, "containers", "owner") == ["ct102"]
        assert pane_column(app, "host", "name") == ["veth102.0"]  # the peer is ct102
        assert pane_column(app, "vms", "name") == []
        await pilot.press("escape")  # clears
        assert len(pane_column(app, "containers", "owner")) == 3
        for query, pane, col, expect in [
            ("c4:37:72:00:67", "containers", "owner", ["ct103"]),  # MAC
            ("198.18.1.1/", "containers", "owner", ["ct101"]),  # IP
            ("vm202", "vms", "owner", ["vm202"]),  # VM name
            ("vme0000c9a1", "host", "name", ["vme0000c9a1.0"]),  # tap
        ]:
            await pilot.press("slash", *query, "enter")
            assert pane_column(app, pane, col) == expect, query
            assert "filter: " + query in screen_text(app)
            await pilot.press("slash", "escape")


async def test_sort_cycles_name_rx_tx_and_keeps_the_cursor_on_its_row():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        host = app.main.pane("host")
        await pilot.press("shift+tab", "down", "down", "down")  # Host, veth102.0
        assert host.current.name == "veth102.0"
        await pilot.press("s")
        assert app.sort_mode == "rx"
        assert pane_column(app, "host", "name")[:2] == ["veth101.0", "veth102.0"]  # 1.2K/s, 512 B/s
        assert pane_column(app, "containers", "owner")[:2] == ["ct101", "ct102"]
        assert host.current.name == "veth102.0"
        await pilot.press("s")
        assert app.sort_mode == "tx"
        assert pane_column(app, "host", "name")[:3] == ["veth101.0", "vme0000c9a1.0", "veth102.0"]
        await pilot.press("s")
        assert app.sort_mode == "name"
        assert pane_column(app, "host", "name")[:3] == ["br0", "lo", "veth101.0"]
        assert host.current.name == "veth102.0"


async def test_untrusted_names_render_literally():
    topo = small_topology()
    evil = "[bold]x[/]\x1b[31m\u202e"
    topo.containers[0].name = evil
    topo.host.interfaces[2].peer.owner = evil
    topo.host.interfaces[2].alias = "[red]alias"
    app = recorded_app(topo)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        shown = "[bold]x[/]\\x1b[31m\\u202e"
        assert shown in pane_column(app, "containers", "owner")
        assert shown + ":eth0" in pane_column(app, "host", "peer")
        text = screen_text(app)
        assert shown in text and "\x1b" not in text
        await pilot.press("shift+tab", "down", "down")  # Host, veth101.0: its detail shows the alias
        assert "[red]alias" in screen_text(app)
        await pilot.press("ctrl+p", *"go to [bold")
        await pilot.pause(0.3)
        assert "[bold]x[/]" in screen_text(app)


async def test_every_key_has_an_id_is_in_help_and_p_opens_the_pair_view():
    app = recorded_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        assert all(b.id for b in app.BINDINGS)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for k in KEYS:
            assert k.tooltip in text.replace("\n", " ") or k.tooltip[:40] in text, k.id
        await pilot.press("escape")
        await pilot.press("p")  # the pair view (ui/pair) on the selected adapter
        assert isinstance(app.screen, PairScreen)
        await pilot.press("escape")
        await pilot.press("a")  # a recording is read-only: the change keys say why
        assert any("changes are off" in (n.title or "") for n in app._notifications)


async def test_pause_and_interval_show_in_the_header():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        assert "paused" in screen_text(app)
        await pilot.press("space", "plus", "plus")
        text = screen_text(app)
        assert "live" in text and "every 5 s" in text
        await pilot.press("minus", "minus", "minus", "minus", "minus")
        assert "every 0.25 s" in screen_text(app)
        assert app.feed.interval == 0.25


async def test_palette_offers_actions_and_goes_to_an_adapter():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p", *"go to vm202")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.focused is app.main.pane("vms"), what="VMs pane focused")
        assert app.main.pane("vms").current.name == "vm202/net0"


def test_live_messages_coalesce_and_keep_what_changed():
    topo = small_topology()
    a, b = TopologyChanged(topo), TopologyChanged(copy.deepcopy(topo))
    assert a.can_replace(b)
    older = CountersUpdated(Sample(1.0, {}, {}, frozenset({(1, 2)})))
    newer = CountersUpdated(Sample(2.0, {}, {}, frozenset({(1, 3)})))
    assert not older.can_replace(a)
    assert older.can_replace(newer)  # Textual asks the older one
    assert newer.sample.changed == {(1, 2), (1, 3)} and newer.sample.at == 2.0


async def test_structure_changes_update_rows_in_place():
    topo = small_topology()
    app = recorded_app(topo)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        host = app.main.pane("host")
        before = host.get_row("h:3")
        new = Topology.from_json(topo.to_json())
        del new.host.interfaces[4]  # veth103.0 gone
        new.host.interfaces[2].state = "down"
        app.post_message(TopologyChanged(new))
        await wait_for(pilot, lambda: "veth103.0" not in pane_column(app, "host", "name"))
        assert host.get_cell("h:3", "state").plain == "down"
        assert host.get_row("h:3")[0] == before[0]  # the same row, updated


async def test_mouse_selects_a_row_and_a_second_click_opens_its_detail():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.click("#vms", offset=(10, 3))  # border, header, vm201, vm202
        assert app.main.focused is app.main.pane("vms")
        assert app.main.pane("vms").current.name == "vm202/net0"
        assert "vm202" in str(app.main.query_one(DetailView).border_title)
        await pilot.click("#vms", offset=(10, 3))
        assert isinstance(app.screen, DetailScreen)
