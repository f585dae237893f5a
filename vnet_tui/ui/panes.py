"""The three panes: Host, Containers, VMs — tables updated in place.

A structural change (rows appear, vanish, or the filter changes) adds and
removes only those rows; a tick updates only the cells whose text
changed (``update_cell``) and, when sorting by rate, reorders rows with
``DataTable.sort`` — a table is never cleared and rebuilt on a tick.
What reaches into DataTable's internals to make that cheap is in
fasttable.py; this file holds what a pane shows.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from vnet_tui.core.text import visible
from vnet_tui.live.feed import Sample

from .cells import (COLUMNS, RATE_WIDTH, SORTS, TITLES, WHEN_FILLED, fit_columns, rate_cell, rate_text, rate_values,
                    same_width)
from .fasttable import FastTable
from .looks import CLASSES as LOOKS_CLASSES
from .looks import LOOKS
from .rows import Row, SortText

__all__ = ["COLUMNS", "SORTS", "TITLES", "Pane", "fit_columns"]  # the column tables live in cells.py

NO_RATE = ("·", "·")
BULK = 32  # more rows than this gone at once: refill the table instead


class Pane(FastTable):
    """One pane: its rows keyed by ``Row.key``; knows the Row behind the cursor."""

    BINDINGS = [
        Binding("enter", "select_cursor", "detail", id="row-detail",
                tooltip="Open the selected adapter: both ends side by side"),
        Binding("home,g", "scroll_top", "first row", show=False, id="row-first", tooltip="First row"),
        Binding("end,G", "scroll_bottom", "last row", show=False, id="row-last", tooltip="Last row"),
        Binding("j", "cursor_down", "down", show=False, id="row-down", tooltip="Next row"),
        Binding("k", "cursor_up", "up", show=False, id="row-up", tooltip="Previous row"),
    ]

    COMPONENT_CLASSES = FastTable.COMPONENT_CLASSES | {
        "pane--name", "pane--count", "pane--no-match", "pane--query"} | LOOKS_CLASSES
    # the title's parts, and the palette of the rows' cells (looks.py), in app.tcss

    def __init__(self, pane: str) -> None:
        super().__init__(id=pane, cursor_type="row", zebra_stripes=True)
        self.pane = pane
        self.border_title = TITLES[pane]
        self.columns_spec = COLUMNS[pane]
        self.rows_by_key: dict[str, Row] = {}
        self.sort_mode = "name"
        self._rates: dict[str, tuple[str, str]] = {}  # the rate texts on screen, per row
        self._values: dict[str, tuple[float, float]] = {}  # the rates behind them
        # rows off screen whose rate moved while sorting by name: their value is in _values, their cells
        # are written when they come on screen (render_lines) — a tick formats what is seen, not the server
        self._stale: set[str] = set()
        self.by_end: dict[tuple[int, int], list[str]] = {}  # end -> the rows that show its rates
        self.shown_cols: list[str] = [k for k, _ in self.columns_spec]  # the columns shown (fit_columns)
        self._cell_widths: Optional[dict[str, int]] = None  # widest cell per column over the rows (None: measure)
        self._cell_cols: list[str] = self.shown_cols[:-2]  # shown columns that are not rates

    on_cursor: Optional[Callable[["Pane"], None]] = None  # told at once when the focused pane's cursor moves

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        """DataTable's, then ``on_cursor`` for the focused pane: the detail pane follows in the same frame as
        the cursor (DataTable's RowHighlighted arrives after a refresh: a key press cost two frames)."""
        super().watch_cursor_coordinate(old, new)
        if old != new and self.on_cursor is not None and self.has_focus:
            self.on_cursor(self)

    def on_mount(self) -> None:
        LOOKS.read(self)  # before the first rows are built
        self._add_columns()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.call_after_refresh(LOOKS.read, self))

    def show_title(self, total: int, query: str) -> None:
        """The title: the pane's name, how many rows it shows, and "no matches" when ``query`` hides all;
        a pane without rows takes no focus."""
        shown = self.row_count
        st = self.get_component_rich_style
        name = (TITLES[self.pane], st("pane--name", partial=True))
        if query and not shown and total:
            title = Text.assemble(name, ("  no matches for ", st("pane--no-match", partial=True)),
                                  (visible(query), st("pane--query", partial=True)))
        elif query:
            title = Text.assemble(name, (f"  {shown} of {total}", st("pane--count", partial=True)))
        else:
            title = Text.assemble(name, (f"  {total}", st("pane--count", partial=True)))
        self.border_title = title
        self.can_focus = shown > 0

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

    def visible_rows(self) -> list[Row]:
        """The rows on screen now (by scroll position and height), in screen order."""
        rows = self.rows_by_key
        return [row for key in self.keys_on_screen() if (row := rows.get(key)) is not None]

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
            self._stale.discard(k)
            self.forget_row_key(k)
        quiet: list[tuple[str, str, Text]] = []  # changed cells that leave their column's width alone
        shown = set(self._cell_cols)
        changed = False
        for r in rows:
            old = self.rows_by_key.get(r.key)
            if old is None or old is r:  # new, or unchanged (rowbuild reuses it)
                continue
            changed = True
            self._rewrite(old, r, shown, quiet)
        if quiet:
            self.set_cells(quiet)
        self._note_widths(added)
        for r in added:
            cells = [self._sortable(r, k, r.cells.get(k, Text(""))) for k in self._cell_cols]
            self.add_row(*cells, rate_cell("·", -1.0), rate_cell("·", -1.0), key=r.key)
            self._rates[r.key] = NO_RATE
        self.rows_by_key = new
        if gone or added or any(r.end != old.end for r in rows if (old := before_rows.get(r.key))):
            self._index_ends(rows)
        if gone or added:
            self.resort(keep=before.key if before else None)
        if gone or added or changed:
            self.refit()
        if gone:
            self.forget_stale_renders()
        return bool(gone or added)

    def _index_ends(self, rows: "Iterable[Row]") -> None:
        """``by_end`` made again from ``rows``: the rows that show each end's rates."""
        self.by_end = {}
        for r in rows:
            if r.end is not None:
                self.by_end.setdefault(r.end, []).append(r.key)

    def _rewrite(self, old: Row, r: Row, shown: "set[str]", quiet: list[tuple[str, str, Text]]) -> None:
        """Write the shown cells of ``r`` that differ from ``old``'s: those that leave their column's width
        alone are gathered in ``quiet`` (for one ``set_cells``), the others written at once."""
        self._note_widths((r,))
        for col, cell in r.cells.items():
            was = old.cells.get(col)
            if was != cell and col in shown:
                if self._same_width(col, was, cell):
                    quiet.append((r.key, col, self._sortable(r, col, cell)))
                else:
                    self.update_cell(r.key, col, self._sortable(r, col, cell), update_width=True)

    def replace_rows(self, rows: list[Row], sample: Optional[Sample]) -> None:
        """Rows the pane holds, changed in place: the same keys, names and order (MainScreen._show_changed).
        Only their cells that differ are written; a row whose end changed gets its rates again."""
        held = self.rows_by_key
        quiet: list[tuple[str, str, Text]] = []
        shown = set(self._cell_cols)
        ends_moved = False
        for r in rows:
            old = held.get(r.key)
            if old is None or old is r:
                continue
            self._rewrite(old, r, shown, quiet)
            held[r.key] = r
            if r.end != old.end:
                ends_moved = True
                self._values.pop(r.key, None)
        if quiet:
            self.set_cells(quiet)
        if ends_moved:
            self._index_ends(held.values())
            if sample is not None:
                self.show_rates(sample, full=True)
        self.refit()

    def _refill(self, rows: list[Row], keep: Optional[str], columns: bool = False) -> None:
        """Clear and add ``rows`` (with the rates already known), in sort order; ``columns``: them too."""
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        keys = {r.key for r in rows}
        self.keep_row_keys(keys)
        self._values = {k: v for k, v in self._values.items() if k in keys}
        self._rates = {k: (v if k not in self._stale else self._texts(k)) for k, v in self._rates.items() if k in keys}
        self._stale.clear()
        for r in rows:
            values = self._values.get(r.key, (-1.0, -1.0))
            texts = self._rates.setdefault(r.key, NO_RATE)
            cells = [self._sortable(r, k, r.cells.get(k, Text(""))) for k in self._cell_cols]
            self.add_row(*cells, rate_cell(texts[0], values[0]), rate_cell(texts[1], values[1]), key=r.key)
        self._index_ends(rows)
        self.rows_by_key = {r.key: r for r in rows}
        self._cell_widths = None
        self.resort(keep=keep)
        if not columns:
            self.refit()

    def _same_width(self, col: str, was: Optional[Text], cell: Text) -> bool:
        """``same_width`` (cells.py) for this column: the first one is shown behind its sort key."""
        column = self.columns.get(ColumnKey(col))
        return column is not None and col != self.columns_spec[0][0] and same_width(column.content_width, was, cell)

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
        Sorting by name, a row off screen only keeps its new value: its
        cells are written when it comes on screen (``render_lines``), so a
        tick's work follows what is seen, not the server's size.  Sorting
        by rate, every row's cell is written (the order needs them).
        """
        rates = sample.rates
        if full or sample.changed is None:
            rows = self.rows_by_key.values()
        else:
            by_end, by_key = self.by_end, self.rows_by_key
            rows = [by_key[k] for e in by_end.keys() & sample.changed for k in by_end[e]]
        values_of, moved = self._values, []
        for row in rows:
            if row.end is None:
                continue
            values = rate_values(rates.get(row.end), row.swap)
            if values_of.get(row.key) != values:  # idle ends: nothing to format
                values_of[row.key] = values
                moved.append(row.key)
        if not moved:
            return
        if self.sort_mode == "name":
            seen = self.on_screen_rows()
            self._stale.update(k for k in moved if k not in seen)
            moved = [k for k in moved if k in seen]
        elif self._stale:
            moved += self._stale
            self._stale.clear()
        updates = self._rate_updates(moved)
        if updates:
            self.set_cells(updates)
            if self.sort_mode != "name":
                self.resort()

    def _texts(self, key: str) -> tuple[str, str]:
        rx, tx = self._values.get(key, (-1.0, -1.0))
        return rate_text(rx), rate_text(tx)

    def _rate_updates(self, keys: "Iterable[str]") -> list[tuple[str, str, Text]]:
        """The rate cells of ``keys`` whose text differs from what the table holds."""
        shown, values_of = self._rates, self._values
        updates: list[tuple[str, str, Text]] = []
        for key in keys:
            rx, tx = values_of.get(key, (-1.0, -1.0))
            texts = (rate_text(rx), rate_text(tx))
            if shown.get(key) == texts:
                continue
            shown[key] = texts
            updates.append((key, "rx", rate_cell(texts[0], rx)))
            updates.append((key, "tx", rate_cell(texts[1], tx)))
        return updates

    def render_lines(self, crop: Region) -> list[Strip]:
        """Rows that came on screen with a rate that moved while they were off it get their cells first."""
        if self._stale:
            stale = self._stale
            late = [k for k in self.keys_on_screen() if k in stale]  # the screen's rows, not the server's
            if late:
                self._stale.difference_update(late)
                self.set_cells(self._rate_updates(late))
        return super().render_lines(crop)

    def set_sort(self, mode: str) -> None:
        self.sort_mode = mode
        if mode != "name" and self._stale:  # the order needs every row's cell
            late, self._stale = self._stale, set()
            self.set_cells(self._rate_updates(late))
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
