"""The three panes: Host, Containers, VMs — DataTables updated in place.

A structural change (rows appear, vanish, or the filter changes) adds and
removes only those rows; a tick updates only the cells whose text
changed (``update_cell``) and, when sorting by rate, reorders rows with
``DataTable.sort`` — a table is never cleared and rebuilt on a tick.
"""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from vnet_tui.core.rates import Rate
from vnet_tui.core.units import human_rate
from vnet_tui.live.feed import Sample

from .rows import Row, SortText

RATES = [("rx", "rx/s"), ("tx", "tx/s")]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "host": [("name", "interface"), ("kind", "kind"), ("state", "state"), ("mac", "MAC"),
             ("addr", "addresses"), ("master", "master"), ("peer", "peer")] + RATES,
    "containers": [("owner", "container"), ("name", "guest end"), ("state", "state"), ("mac", "MAC"),
                   ("addr", "addresses"), ("hostend", "host end"), ("master", "bridge")] + RATES,
    "vms": [("owner", "VM"), ("vmstate", "VM state"), ("name", "adapter"), ("mac", "guest MAC"),
            ("hostend", "host tap"), ("state", "tap state"), ("master", "bridge")] + RATES,
}
TITLES = {"host": "Host", "containers": "Containers", "vms": "VMs"}
SORTS = ("name", "rx", "tx")


def rate_cell(rate: Optional[Rate], swap: bool, which: str) -> SortText:
    """A rate cell (bytes/s) that sorts by its value; '·' before the first rate."""
    if rate is None:
        return SortText("·", style="dim", sort=-1.0, justify="right")
    rx, tx = (rate.tx_bps, rate.rx_bps) if swap else (rate.rx_bps, rate.tx_bps)
    v = rx if which == "rx" else tx
    return SortText(human_rate(v), style="dim" if v == 0 else "bold", sort=v, justify="right")


class Pane(DataTable):
    """One pane: its rows keyed by ``Row.key``; knows the Row behind the cursor."""

    BINDINGS = [Binding("enter", "select_cursor", "detail", id="row-detail",
                        tooltip="Open the selected adapter: both ends side by side")]

    def __init__(self, pane: str) -> None:
        super().__init__(id=pane, cursor_type="row", zebra_stripes=True)
        self.pane = pane
        self.border_title = TITLES[pane]
        self.columns_spec = COLUMNS[pane]
        self.rows_by_key: dict[str, Row] = {}
        self.sort_mode = "name"
        self._rates: dict[str, tuple[Text, Text]] = {}

    def on_mount(self) -> None:
        for key, label in self.columns_spec:
            if key in ("rx", "tx"):  # fixed: "1023.9K/s" fits; cells change on every tick
                self.add_column(Text(label, justify="right"), key=key, width=9)
            else:
                self.add_column(Text(label), key=key)

    @property
    def current(self) -> Optional[Row]:
        """The Row under the cursor."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        return self.rows_by_key.get(key or "")

    def show_rows(self, rows: list[Row]) -> bool:
        """Make the table hold exactly ``rows``; returns whether rows came or went."""
        before = self.current
        new = {r.key: r for r in rows}
        gone = [k for k in self.rows_by_key if k not in new]
        added = [r for r in rows if r.key not in self.rows_by_key]
        for k in gone:
            self.remove_row(k)
            self._rates.pop(k, None)
        for r in rows:
            old = self.rows_by_key.get(r.key)
            if old is None:
                continue
            for col, cell in r.cells.items():
                if old.cells.get(col) != cell:
                    self.update_cell(r.key, col, self._sortable(r, col, cell), update_width=True)
        for r in added:
            rx, tx = self._rates.get(r.key, (rate_cell(None, False, "rx"), rate_cell(None, False, "tx")))
            cells = [self._sortable(r, k, r.cells.get(k, Text(""))) for k, _ in self.columns_spec[:-2]]
            self.add_row(*cells, rx, tx, key=r.key)
        self.rows_by_key = new
        if gone or added:
            self.resort(keep=before.key if before else None)
        return bool(gone or added)

    def _sortable(self, row: Row, col: str, cell: Text) -> Text:
        if col != self.columns_spec[0][0]:
            return cell
        s = SortText(sort=row.natural)
        s.append_text(cell)
        return s

    def show_rates(self, sample: Sample) -> None:
        """Update the rate cells whose text changed; reorder if sorting by rate."""
        changed = False
        for key, row in self.rows_by_key.items():
            rate = sample.rates.get(row.end) if row.end else None
            if row.end is None:
                continue
            cells = (rate_cell(rate, row.swap, "rx"), rate_cell(rate, row.swap, "tx"))
            old = self._rates.get(key)
            if old is not None and old[0] == cells[0] and old[1] == cells[1]:
                continue
            self._rates[key] = cells
            try:
                self.update_cell(key, "rx", cells[0])
                self.update_cell(key, "tx", cells[1])
            except (CellDoesNotExist, RowDoesNotExist):
                continue
            changed = True
        if changed and self.sort_mode != "name":
            self.resort()

    def set_sort(self, mode: str) -> None:
        self.sort_mode = mode
        self.resort()

    def resort(self, keep: Optional[str] = None) -> None:
        """Order rows by the sort mode, keeping the cursor on the same row."""
        if keep is None:
            cur = self.current
            keep = cur.key if cur else None
        first = self.columns_spec[0][0]
        if self.sort_mode == "name":
            self.sort(first, key=lambda c: c.sort_value)
        else:
            self.sort(self.sort_mode, first, key=lambda cs: (-cs[0].sort_value, cs[1].sort_value))
        if keep is not None and keep in self.rows_by_key:
            try:
                self.move_cursor(row=self.get_row_index(keep), animate=False)
            except RowDoesNotExist:
                pass
