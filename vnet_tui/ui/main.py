"""The main screen: header, the three panes, the detail pane, filter bar, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from vnet_tui.core.model import Topology
from vnet_tui.live.feed import Sample

from .detail import DetailView
from .filter import FilterBar
from .header import StatusHeader
from .panes import Pane
from .rowbuild import RowCache, all_rows
from .rows import Row, matches

if TYPE_CHECKING:
    from .app import VnetApp

PANES = ("host", "containers", "vms")


class MainScreen(Screen):
    """Host, Containers and VMs visible together, and the selected adapter."""

    def __init__(self) -> None:
        super().__init__(id="main")
        self.rows: dict[str, list[Row]] = {p: [] for p in PANES}
        self.row_cache = RowCache()
        self.last_pane = "host"

    @property
    def vnet(self) -> "VnetApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        with Vertical(id="panes"):
            for p in PANES:
                yield Pane(p)
        yield DetailView(id="detail")
        yield FilterBar()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.vnet.main_ready()

    def pane(self, name: str) -> Pane:
        return self.query_one(f"#{name}", Pane)

    # -- data --------------------------------------------------------------
    def show_topology(self, topo: Topology) -> None:
        """New structure: rows added/removed/changed in place, never a rebuild."""
        self.rows = all_rows(topo, self.row_cache)
        self.refilter()
        adapters = sum(1 for r in self.rows["containers"] if r.host) + sum(1 for r in self.rows["vms"] if r.guest)
        self.query_one(StatusHeader).counts = (
            f"{len(topo.containers)} containers · {len(topo.vms)} VMs · {adapters} adapters")

    def refilter(self) -> None:
        q = self.vnet.filter_text
        for p in PANES:
            rows = [r for r in self.rows[p] if matches(r, q)] if q else self.rows[p]
            pane = self.pane(p)
            pane.show_rows(rows)
            if self.vnet.sample is not None:
                pane.show_rates(self.vnet.sample, full=True)
        self.show_detail()

    def show_sample(self, sample: Sample) -> None:
        for p in PANES:
            self.pane(p).show_rates(sample)
        self.show_detail()

    def set_sort(self, mode: str) -> None:
        for p in PANES:
            self.pane(p).set_sort(mode)
        self.query_one(StatusHeader).sort = mode

    # -- selection ---------------------------------------------------------
    def selected_row(self) -> Optional[Row]:
        """The row under the cursor of the focused pane (or of the last one focused)."""
        focused = self.focused
        if isinstance(focused, Pane):
            self.last_pane = focused.pane
        return self.pane(self.last_pane).current

    def show_detail(self) -> None:
        self.query_one(DetailView).show(self.selected_row(), self.vnet.sample, self.vnet.feed.history)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, Pane):
            self.last_pane = event.data_table.pane
            self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, Pane):
            self.last_pane = event.data_table.pane
            self.vnet.action_detail()

    def on_descendant_focus(self, event: object) -> None:
        if isinstance(self.focused, Pane) and self.focused.pane != self.last_pane:
            self.last_pane = self.focused.pane
            self.show_detail()

    def go_to(self, pane: str, key: str) -> None:
        p = self.pane(pane)
        if key in p.rows_by_key:
            p.focus()
            p.move_cursor(row=p.get_row_index(key))
            self.last_pane = pane
            self.show_detail()

    # -- filter ------------------------------------------------------------
    def open_filter(self) -> None:
        self.query_one(FilterBar).open()

    def on_filter_bar_filter_changed(self, event: FilterBar.FilterChanged) -> None:
        self.vnet.filter_text = event.text
        self.query_one(StatusHeader).filter_text = event.text
        self.refilter()

    def on_filter_bar_filter_done(self, event: FilterBar.FilterDone) -> None:
        self.pane(self.last_pane).focus()
