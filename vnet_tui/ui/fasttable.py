"""FastTable: a DataTable that sets many cells at once and measures rows off their cells.

Every speed-up of the panes that reaches into DataTable's private state
(``_data``, ``_row_locations``, its render caches, ``_update_count``,
``_update_dimensions``) lives here and nowhere else.  They were written
against Textual ``WRITTEN_FOR``; tests/ui/test_fasttable.py and
tests/ui/test_pane_dimensions.py hold each one to DataTable's own result
on that version and fail, naming it, on another: a new Textual is
checked again before it is trusted.  ``set_cells`` falls back to
``update_cell`` if the internals are not shaped as expected.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

WRITTEN_FOR = "8.2."  # the Textual version whose DataTable internals this mirrors

RENDER_CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")


class FastTable(DataTable):
    """A DataTable of one-line Text cells, updated in place at a few thousand rows."""

    RENDER_CACHES = RENDER_CACHES

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._row_key: dict[str, RowKey] = {}  # made once: RowKey hashes in Python, set_cells runs per second
        self._col_key: dict[str, ColumnKey] = {}

    def forget_row_key(self, key: str) -> None:
        """A row went: its cached RowKey goes too."""
        self._row_key.pop(key, None)

    def keep_row_keys(self, keys: "set[str]") -> None:
        """Only these rows remain (a refill)."""
        self._row_key = {k: v for k, v in self._row_key.items() if k in keys}

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

    def keys_on_screen(self) -> list[str]:
        """The keys of the rows on screen now (by scroll position and height), in screen order."""
        top = max(0, int(self.scroll_offset.y))
        height = max(0, self.size.height - (self.header_height if self.show_header else 0))
        locations = self._row_locations
        out: list[str] = []
        for index in range(top, min(self.row_count, top + height)):
            key = locations.get_key(index)
            if key is not None and key.value is not None:
                out.append(key.value)
        return out

    def on_screen_rows(self) -> "set[str]":
        """``keys_on_screen`` as a set."""
        return set(self.keys_on_screen())

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
        caches = [getattr(self, n, None) for n in RENDER_CACHES]
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
            self._forget_rendered(changed, changed_cells, caches)  # type: ignore[arg-type]
        except Exception:  # internals not as expected: the slow, always-right way
            self._update_count += 1
            self.refresh()
            return
        header = self.header_height if self.show_header else 0
        top = self.scroll_offset.y
        bottom = top + self.size.height - header  # rows [top, bottom) are on screen
        width = self.size.width
        assert locations is not None
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
