"""An outside change the feed describes (Topology.change) updates only the rows it names, and the panes end up
exactly as a whole rebuild of the same topology would show them (issue 14: work follows what changed)."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import pair
from vnet_tui.core.server import Server
from vnet_tui.live.watcher import Watcher
from vnet_tui.ui import main as uimain
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.looks import LOOKS
from vnet_tui.ui.header import StatusHeader
from vnet_tui.ui.rowbuild import Index, RowCache, all_rows

from .pilot import SIZE, loaded, wait_for

pytestmark = pytest.mark.live


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def cells(app: VnetApp, pane: str) -> list[tuple[str, dict[str, str]]]:
    """Each row the pane holds, in order: its key, its cells, its ends, and its non-rate cells as the table holds
    them."""
    t = app.main.pane(pane)
    out = []
    for i in range(t.row_count):
        key = t.coordinate_to_cell_key((i, 0)).row_key.value
        row = t.rows_by_key[key]
        out.append((key, {k: v.plain for k, v in row.cells.items()}, ends(row),
                    {c: t.get_cell(key, c).plain for c in t.shown_cols if c not in ("rx", "tx")}))
    return out


def rebuilt(app: VnetApp, pane: str) -> list[tuple[str, dict[str, str]]]:
    """The same pane's rows built whole from the app's topology, with a cache of their own."""
    rows = all_rows(app.topo, RowCache(), app.guest_ips)[pane]
    return [(r.key, {k: v.plain for k, v in r.cells.items()}, ends(r)) for r in rows]


def ends(row):
    """The facts of both ends a row carries (the detail pane shows them)."""
    return tuple(None if e is None else (e.iface, e.vm_adapter) for e in (row.guest, row.host))


async def test_outside_changes_update_only_their_rows_and_match_a_whole_rebuild(monkeypatch):
    taken: list[int] = []
    calls: list[bool] = []  # each topology shown: through the shortcut or not
    real = uimain.MainScreen._show_changed

    followed: list[int] = []  # lookups patched from the last ones (Index.following), each as a fresh Index's
    wrong: list[str] = []
    following = Index.following.__func__

    def checked(cls, prev, topo, guest_ips=None):
        ix = following(cls, prev, topo, guest_ips)
        if ix is not None:
            followed.append(topo.change.serial)
            fresh = Index(topo, guest_ips)
            for m in ("host_by_index", "host_by_name", "ct_by_name", "ct_by_inode", "vm_by_name"):
                got, want = getattr(ix, m), getattr(fresh, m)
                if got.keys() != want.keys() or any(got[k] is not want[k] for k in want):
                    wrong.append(f"{m} after serial {topo.change.serial}")
        return ix

    def counting(self, topo):
        done = real(self, topo)
        calls.append(done)
        if done:
            taken.append(topo.change.serial)
        return done

    monkeypatch.setattr(uimain.MainScreen, "_show_changed", counting)
    monkeypatch.setattr(Index, "following", classmethod(checked))
    with netns(4) as (host, a, b, c):
        pair(host, [a, b, c])
        ip("-n", host, "link", "add", "x0", "type", "veth", "peer", "name", "x1")  # a pair inside the host
        feed = Watcher(Server(netns=host), interval=0.5)
        app = VnetApp(feed)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot)
                hp, cp = app.main.pane("host"), app.main.pane("containers")

                def host_state(name: str) -> str:
                    row = next(r for r in hp.rows_by_key.values() if r.name == name)
                    return hp.get_cell(row.key, "state").plain

                ip("-n", host, "link", "set", "veth2.0", "down")
                await wait_for(pilot, lambda: host_state("veth2.0") == "down", what="host end down")
                ip("-n", b, "link", "set", "eth0", "down")
                await wait_for(pilot, lambda: "down" in [cp.get_cell(k, "state").plain for k in cp.rows_by_key],
                               what="guest end down")
                ip("-n", host, "link", "set", "veth3.0", "nomaster")
                await wait_for(pilot, lambda: any(hp.get_cell(r.key, "master").plain == "" for r in
                                                  hp.rows_by_key.values() if r.name == "veth3.0"), what="nomaster")
                ip("-n", host, "link", "set", "x0", "up")  # x1's row shows x0 as its other end
                await wait_for(pilot, lambda: host_state("x0") != "down", what="x0 up")
                ip("-n", c, "addr", "add", "198.18.5.5/24", "dev", "eth0")
                await wait_for(pilot, lambda: any("+" in cp.get_cell(k, "addr").plain  # "198.18.0.3/24 +1"
                                                  for k in cp.rows_by_key), what="address")
                await pilot.pause()
                shown = len(calls)
                monkeypatch.setattr(LOOKS, "generation", LOOKS.generation + 1)  # as a new theme does
                ip("-n", host, "link", "set", "veth1.0", "down")
                await wait_for(pilot, lambda: host_state("veth1.0") == "down", what="another host end down")
                assert calls[shown] is False, "a new palette: every row is built again, not only the changed"
                await pilot.pause()
                assert len(taken) >= 3, f"the changed rows alone were shown {len(taken)} times"
                assert len(followed) >= 3 and not wrong, (followed, wrong)
                whole = all_rows(app.topo, RowCache(), app.guest_ips)
                counts = app.main.query_one(StatusHeader).counts
                assert counts.endswith(f" {uimain._adapters(whole)} adapters"), counts
                for pane in ("host", "containers", "vms"):
                    held = cells(app, pane)
                    assert [(k, c, e) for k, c, e, _ in held] == rebuilt(app, pane), pane
                    for key, row_cells, _, table in held:  # what the table draws is what the row says
                        assert all(table[col] == row_cells[col] for col in table
                                   if col in row_cells and col != "name"), (pane, key, table, row_cells)
        finally:
            feed.stop()
            assert feed.join(5) or not feed.started
