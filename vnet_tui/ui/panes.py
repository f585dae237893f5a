"""The three panes: Host, Containers, VMs — DataTables updated in place.

A structural change (rows appear, vanish, or the filter changes) adds and
removes only those rows; a tick updates only the cells whose text
changed (``update_cell``) and, when sorting by rate, reorders rows with
``DataTable.sort`` — a table is never cleared and rebuilt on a tick.
"""

from __future__ import annotations

from typing import Iterable, Optional

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from vnet_tui.core.rates import Rate
from vnet_tui.core.units import human_rate
from vnet_tui.live.feed import Sample

from .rows import Row, SortText

RATES = [("rx", "rx/s"), ("tx", "tx/s")]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "host": [("name", "interface"), ("kind", "kind"), ("state", "state"), ("mac", "MAC"),
             ("addr", "addresses"), ("master", "master"), ("peer", "peer")] + RATES,
    "containers": [("owner", "container"), ("runtime", "runtime"), ("name", "guest end"), ("state", "state"), ("mac", "MAC"),
                   ("addr", "addresses"), ("hostend", "host end"), ("master", "bridge")] + RATES,
    "vms": [("owner", "VM"), ("vmstate", "VM state"), ("name", "adapter"), ("mac", "guest MAC"),
            ("addr", "guest IPs"), ("hostend", "host tap"), ("state", "tap state"), ("master", "bridge")] + RATES,
}
TITLES = {"host": "Host", "containers": "Containers", "vms": "VMs"}
SORTS = ("name", "rx", "tx")
# which columns stay when the pane is narrow: first the row's name and its rates, then the rest
# by how much an operator needs them in a list (MACs and addresses are in the detail pane)
PRIORITY: dict[str, list[str]] = {
    "host": ["name", "rx", "tx", "state", "peer", "kind", "master", "addr", "mac"],
    "containers": ["owner", "name", "rx", "tx", "state", "hostend", "runtime", "addr", "master", "mac"],
    "vms": ["owner", "name", "rx", "tx", "vmstate", "hostend", "state", "addr", "master", "mac"],
}
ALWAYS = {"owner", "name", "rx", "tx"}  # never dropped: the container or VM, the row's name, its rates
# shown only when some row has something in them: a VM's guest IPs come from lab guest agents alone
WHEN_FILLED: dict[str, set[str]] = {"vms": {"addr"}}
RATE_WIDTH = 9  # "1023.9K/s"


def fit_columns(pane: str, widths: dict[str, int], room: int, padding: int = 1) -> list[str]:
    """The columns that fit in ``room`` cells, by priority, in the pane's own order.

    ``widths`` holds each column's content width (header included);
    every column also takes ``padding`` cells on each side.
    """
    keep: set[str] = set()
    used = 0
    for col in PRIORITY[pane]:
        if widths.get(col, 0) < 0:  # WHEN_FILLED and empty in every row
            continue
        w = widths.get(col, 0) + 2 * padding
        if col in ALWAYS or used + w <= room:
            keep.add(col)
            used += w
    return [k for k, _ in COLUMNS[pane] if k in keep]


def rate_values(rate: Optional[Rate], swap: bool) -> tuple[float, float]:
    """(rx, tx) bytes/s as the row shows them; -1 before the first rate."""
    if rate is None:
        return -1.0, -1.0
    return (rate.tx_bps, rate.rx_bps) if swap else (rate.rx_bps, rate.tx_bps)


def rate_text(v: float) -> str:
    """Same text as ``units.human_rate``, about 4× faster (it runs for every changed cell)."""
    if v < 0:
        return "·"
    if v < 1024:
        return f"{v:.0f}B/s"
    if v < 1048576:
        return f"{v / 1024:.1f}K/s"
    if v < 1073741824:
        return f"{v / 1048576:.1f}M/s"
    return human_rate(v)


_UNITS = {"B": 1.0, "K": 1024.0, "M": 1048576.0, "G": 1073741824.0, "T": 1099511627776.0}
_RATE_CELLS: dict[tuple[str, bool], SortText] = {}


def shown_value(text: str) -> float:
    """The bytes/s a rate text shows ("1.2K/s" → 1228.8; "·" → -1): what rate columns sort by."""
    body = text[:-2] if text.endswith("/s") else text
    try:
        return float(body[:-1]) * _UNITS[body[-1]]
    except (KeyError, ValueError, IndexError):
        return -1.0


def rate_cell(text: str, v: float) -> SortText:
    """A rate cell that sorts by the value it shows.

    Cells are shared: one per (text, idle) — with a thousand ends moving
    every second most show one of a few hundred texts, and building a
    Text for each was a fifth of the UI's streaming work.  Nothing renders
    into a cell (DataTable renders copies), so sharing is safe.
    """
    idle = v <= 0
    cell = _RATE_CELLS.get((text, idle))
    if cell is None:
        if len(_RATE_CELLS) >= 8192:
            _RATE_CELLS.clear()
        cell = _RATE_CELLS[(text, idle)] = SortText(text, style="dim" if idle else "bold", sort=shown_value(text),
                                                    justify="right")
    return cell


NO_RATE = ("·", "·")
BULK = 32  # more rows than this gone at once: refill the table instead


class Pane(DataTable):
    """One pane: its rows keyed by ``Row.key``; knows the Row behind the cursor."""

    BINDINGS = [
        Binding("enter", "select_cursor", "detail", id="row-detail",
                tooltip="Open the selected adapter: both ends side by side"),
        Binding("home,g", "scroll_top", "first row", show=False, id="row-first", tooltip="First row"),
        Binding("end,G", "scroll_bottom", "last row", show=False, id="row-last", tooltip="Last row"),
        Binding("j", "cursor_down", "down", show=False, id="row-down", tooltip="Next row"),
        Binding("k", "cursor_up", "up", show=False, id="row-up", tooltip="Previous row"),
    ]

    def __init__(self, pane: str) -> None:
        super().__init__(id=pane, cursor_type="row", zebra_stripes=True)
        self.pane = pane
        self.border_title = TITLES[pane]
        self.columns_spec = COLUMNS[pane]
        self.rows_by_key: dict[str, Row] = {}
        self._row_key: dict[str, RowKey] = {}  # made once: RowKey hashes in Python, set_cells runs per second
        self._col_key: dict[str, ColumnKey] = {}
        self.sort_mode = "name"
        self._rates: dict[str, tuple[str, str]] = {}  # the rate texts on screen, per row
        self._values: dict[str, tuple[float, float]] = {}  # the rates behind them
        self.by_end: dict[tuple[int, int], list[str]] = {}  # end -> the rows that show its rates
        self.shown_cols: list[str] = [k for k, _ in self.columns_spec]  # the columns shown (fit_columns)
        self._cell_widths: Optional[dict[str, int]] = None  # widest cell per column over the rows (None: measure)
        self._cell_cols: list[str] = self.shown_cols[:-2]  # shown columns that are not rates

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        labels = dict(self.columns_spec)
        for key in self.shown_cols:
            if key in ("rx", "tx"):  # fixed: "1023.9K/s" fits; cells change on every tick
                self.add_column(Text(labels[key], justify="right"), key=key, width=RATE_WIDTH)
            else:
                self.add_column(Text(labels[key]), key=key)
        self._cell_cols = [k for k in self.shown_cols if k not in ("rx", "tx")]

    # -- fitting the pane's width --------------------------------------------
    def content_widths(self) -> dict[str, int]:
        """Each column's widest text (its header included), over every row the pane holds.

        The rows' part is kept between calls (``_note_widths`` for rows added or changed) and
        measured again only after rows went: at 5,000 rows it is 50,000 cells.  A cell that got
        narrower keeps its column's width until then."""
        if self._cell_widths is None:
            self._cell_widths = {}
            self._note_widths(self.rows_by_key.values())
        cells = self._cell_widths
        widths = {k: Text(label).cell_len for k, label in self.columns_spec}
        widths["rx"] = widths["tx"] = RATE_WIDTH
        for k, n in cells.items():
            if n > widths.get(k, 0):
                widths[k] = n
        for k in WHEN_FILLED.get(self.pane, ()):
            if not cells.get(k):
                widths[k] = -1
        return widths

    def _note_widths(self, rows: "Iterable[Row]") -> None:
        cells = self._cell_widths
        if cells is None:
            return  # measured whole at the next content_widths
        for r in rows:
            for k, cell in r.cells.items():
                n = cell.cell_len
                if n > cells.get(k, 0):
                    cells[k] = n

    def refit(self) -> bool:
        """Drop or bring back columns so that the rows fit the pane's width; True if they changed."""
        room = self.size.width - 1  # the vertical scrollbar's column
        if room <= 0:
            return False
        shown = fit_columns(self.pane, self.content_widths(), room, self.cell_padding)
        if shown == self.shown_cols:
            return False
        cur = self.current
        self.shown_cols = shown
        self._refill(list(self.rows_by_key.values()), cur.key if cur else None, columns=True)
        return True

    def on_resize(self) -> None:
        self.refit()

    async def _on_idle(self, event: events.Idle) -> None:
        """DataTable widens columns for new rows when idle, without forgetting lines it rendered
        at the old widths; with ``set_cells`` repainting only changed rows, the header could stay
        at the old widths (seen in a screenshot).  A width change forgets every rendered line."""
        before = [c.content_width for c in self.columns.values()]
        await super()._on_idle(event)
        if [c.content_width for c in self.columns.values()] != before:
            self._update_count += 1
            self.refresh()

    def _update_dimensions(self, new_rows: "list[RowKey] | set[RowKey]") -> None:
        """DataTable's own version renders every new row and measures each cell through the console
        (5,000 rows: ~3 s of a first paint); every cell here is one line of Text, whose width is its
        ``cell_len``, and every row is one line high — so the widths come from the cells, and the
        virtual size as DataTable computes it (textual 8.2's ``_update_dimensions``, minus auto height;
        tests/ui/test_pane_dimensions.py holds the two to the same result)."""
        columns = self.ordered_columns
        data = self._data
        for row_key in new_rows:
            cells = data.get(row_key)
            if cells is None or row_key not in self._row_locations:
                continue  # removed before the idle that measures it
            row = self.rows.get(row_key)
            if row is not None and (row.label is not None or row.auto_height):
                return super()._update_dimensions(new_rows)  # not ours: DataTable's own way
            for column in columns:
                cell = cells.get(column.key)
                w = cell.cell_len if isinstance(cell, Text) else len(str(cell))
                if w > column.content_width:
                    column.content_width = w
        width = sum(c.get_render_width(self) for c in self.columns.values()) + self._row_label_column_width
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)

    def visible_rows(self) -> list[Row]:
        """The rows on screen now (by scroll position and height), in screen order."""
        top = max(0, int(self.scroll_offset.y))
        height = max(0, self.size.height - (self.header_height if self.show_header else 0))
        locations, rows = self._row_locations, self.rows_by_key
        out: list[Row] = []
        for index in range(top, min(self.row_count, top + height)):
            key = locations.get_key(index)
            row = rows.get(key.value) if key is not None else None
            if row is not None:
                out.append(row)
        return out

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
        before_rows = self.rows_by_key
        new = {r.key: r for r in rows}
        gone = [k for k in self.rows_by_key if k not in new]
        added = [r for r in rows if r.key not in self.rows_by_key]
        if len(gone) > BULK:  # remove_row is O(rows): many at once (a filter) is cheaper as a refill
            self._refill(rows, before.key if before else None)
            return True
        if gone:
            self._cell_widths = None
        for k in gone:
            self.remove_row(k)
            self._rates.pop(k, None)
            self._values.pop(k, None)
            self._row_key.pop(k, None)
        quiet: list[tuple[str, str, Text]] = []  # changed cells that leave their column's width alone
        shown = set(self._cell_cols)
        changed = False
        for r in rows:
            old = self.rows_by_key.get(r.key)
            if old is None or old is r:  # new, or unchanged (rowbuild reuses it)
                continue
            changed = True
            self._note_widths((r,))
            for col, cell in r.cells.items():
                was = old.cells.get(col)
                if was != cell and col in shown:
                    if self._same_width(col, was, cell):
                        quiet.append((r.key, col, self._sortable(r, col, cell)))
                    else:
                        self.update_cell(r.key, col, self._sortable(r, col, cell), update_width=True)
        if quiet:
            self.set_cells(quiet)
        self._note_widths(added)
        for r in added:
            cells = [self._sortable(r, k, r.cells.get(k, Text(""))) for k in self._cell_cols]
            self.add_row(*cells, rate_cell("·", -1.0), rate_cell("·", -1.0), key=r.key)
            self._rates[r.key] = NO_RATE
        self.rows_by_key = new
        if gone or added or any(r.end != old.end for r in rows if (old := before_rows.get(r.key))):
            self.by_end = {}
            for r in rows:
                if r.end is not None:
                    self.by_end.setdefault(r.end, []).append(r.key)
        if gone or added:
            self.resort(keep=before.key if before else None)
        if gone or added or changed:
            self.refit()
        if gone:
            self.forget_stale_renders()
        return bool(gone or added)

    RENDER_CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")

    def forget_stale_renders(self) -> None:
        """Drop DataTable's cached renders once rows are gone.

        Every cache key holds the table's update count, which ``remove_row``
        (and the sort after it) bump: nothing cached before can be found
        again, yet it stays — rows long gone, their Strips and each Strip's
        FIFOCaches — until the LRU (1,000 to 10,000 entries) pushes it out.
        Under link churn that is most of the caches.  The rows on screen are
        drawn again at the next refresh, as they would be anyway.
        """
        for name in self.RENDER_CACHES:
            cache = getattr(self, name, None)
            if isinstance(cache, LRUCache):
                cache.clear()


    def _refill(self, rows: list[Row], keep: Optional[str], columns: bool = False) -> None:
        """Clear and add ``rows`` (with the rates already known), in sort order; ``columns``: them too."""
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        keys = {r.key for r in rows}
        self._row_key = {k: v for k, v in self._row_key.items() if k in keys}
        self._rates = {k: v for k, v in self._rates.items() if k in keys}
        self._values = {k: v for k, v in self._values.items() if k in keys}
        self.by_end = {}
        for r in rows:
            values = self._values.get(r.key, (-1.0, -1.0))
            texts = self._rates.setdefault(r.key, NO_RATE)
            cells = [self._sortable(r, k, r.cells.get(k, Text(""))) for k in self._cell_cols]
            self.add_row(*cells, rate_cell(texts[0], values[0]), rate_cell(texts[1], values[1]), key=r.key)
            if r.end is not None:
                self.by_end.setdefault(r.end, []).append(r.key)
        self.rows_by_key = {r.key: r for r in rows}
        self._cell_widths = None
        self.resort(keep=keep)
        if not columns:
            self.refit()

    def _same_width(self, col: str, was: Optional[Text], cell: Text) -> bool:
        """Would ``update_cell(..., update_width=True)`` leave the column as wide as it is?

        True when the new text fits and the old one was not the widest (the
        column cannot shrink); then the cell can be set without re-measuring
        the column (which, for a narrower text, measures every row).
        """
        column = self.columns.get(ColumnKey(col))
        if column is None or not isinstance(was, Text) or not isinstance(cell, Text) \
                or "\n" in cell.plain or "\n" in was.plain:
            return False
        if col == self.columns_spec[0][0]:  # shown behind its sort key
            return False
        width = column.content_width
        old, new = was.cell_len, cell.cell_len
        return new <= width and (old < width or new == old)

    def _sortable(self, row: Row, col: str, cell: Text) -> Text:
        if col != self.columns_spec[0][0]:
            return cell
        s = SortText(sort=row.natural)
        s.append_text(cell)
        return s

    def show_rates(self, sample: Sample, full: bool = False) -> None:
        """Update the rate cells whose text changed; reorder if sorting by rate.

        Only the rows of the ends the sample says changed are looked at,
        unless ``full`` (rows just came) or the sample does not know.
        """
        updates: list[tuple[str, str, Text]] = []
        shown = self._rates
        rates = sample.rates
        if full or sample.changed is None:
            rows = self.rows_by_key.values()
        else:
            by_end, by_key = self.by_end, self.rows_by_key
            rows = [by_key[k] for e in by_end.keys() & sample.changed for k in by_end[e]]
        for row in rows:
            if row.end is None:
                continue
            key = row.key
            values = rate_values(rates.get(row.end), row.swap)
            if self._values.get(key) == values:  # idle ends: nothing to format
                continue
            self._values[key] = values
            rx, tx = values
            texts = (rate_text(rx), rate_text(tx))
            if shown.get(key) == texts:
                continue
            shown[key] = texts
            updates.append((key, "rx", rate_cell(texts[0], rx)))
            updates.append((key, "tx", rate_cell(texts[1], tx)))
        if updates:
            self.set_cells(updates)
            if self.sort_mode != "name":
                self.resort()

    def set_cells(self, updates: list[tuple[str, str, Text]]) -> None:
        """``update_cell`` for many cells, repainting only the rows on screen.

        ``update_cell`` bumps the table's update count, which throws away
        every cached render and makes the next refresh draw every visible
        line again; with 2,000 rows and ~200 ends moving per second (a
        bridge's multicast) that was most of a tick, for rows mostly off
        screen.  This stores the values, forgets only the cached renders
        of the rows that changed, and repaints only those of them that are
        visible.  It falls back to ``update_cell`` if DataTable's internals
        ever change shape.
        """
        data = getattr(self, "_data", None)
        caches = [getattr(self, n, None) for n in ("_cell_render_cache", "_row_render_cache",
                                                     "_row_renderable_cache", "_line_cache")]
        locations = getattr(self, "_row_locations", None)
        if not isinstance(data, dict) or not isinstance(getattr(self, "_update_count", None), int) \
                or not all(isinstance(c, LRUCache) for c in caches) or not hasattr(locations, "get"):
            for row, col, value in updates:
                try:
                    self.update_cell(row, col, value)
                except (CellDoesNotExist, RowDoesNotExist):
                    pass
            return
        changed: set[RowKey] = set()
        changed_cells: set[tuple[RowKey, ColumnKey]] = set()
        row_key, col_key = self._row_key, self._col_key
        for row, col, value in updates:
            rk = row_key.get(row) or row_key.setdefault(row, RowKey(row))
            ck = col_key.get(col) or col_key.setdefault(col, ColumnKey(col))
            cells = data.get(rk)
            if cells is not None:
                cells[ck] = value
                changed.add(rk)
                changed_cells.add((rk, ck))
        if not changed:
            return
        try:
            self._forget_rendered(changed, changed_cells, caches)
        except Exception:  # internals not as expected: the slow, always-right way
            self._update_count += 1
            self.refresh()
            return
        header = self.header_height if self.show_header else 0
        top = self.scroll_offset.y
        bottom = top + self.size.height - header  # rows [top, bottom) are on screen
        width = self.size.width
        for rk in changed:
            i = locations.get(rk)
            if i is not None and top <= i < bottom:
                self.refresh(Region(0, header + i - top, width, 1))

    def _forget_rendered(self, rows: set[RowKey], cells: set[tuple[RowKey, ColumnKey]],
                         caches: list[LRUCache]) -> None:
        """Drop the cached renders drawn from these cells' old values (the rows' other cells stay)."""
        cell_cache, row_cache, renderable_cache, line_cache = caches
        for k in [k for k in cell_cache.keys() if (k[0], k[1]) in cells]:  # (row key, column key, ...)
            cell_cache.discard(k)
        for k in [k for k in row_cache.keys() if k[0] in rows]:  # (row key, ...)
            row_cache.discard(k)
        if any(self.rows[rk].height != 1 for rk in rows):
            raise ValueError("rows taller than one line")
        where = {i for rk in rows if (i := self._row_locations.get(rk)) is not None}
        for k in [k for k in renderable_cache.keys() if k[1] in where]:  # (update count, row index)
            renderable_cache.discard(k)
        header = self.header_height if self.show_header else 0
        ys = {header + i for i in where}
        for k in [k for k in line_cache.keys() if k[0] in ys]:  # (content line, ...): header, then a line a row
            line_cache.discard(k)

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
