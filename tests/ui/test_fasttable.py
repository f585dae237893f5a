"""FastTable (ui/fasttable.py) draws what DataTable draws, on the Textual version it was written for.

``set_cells`` stores values in DataTable's private ``_data`` and forgets
only the cached renders of the cells that changed; if it forgot too
little, the screen would keep old texts.  This sets cells its way, then
the same cells with ``update_cell`` (which throws every cached render
away), and compares the screens.  ``_update_dimensions`` has its own
test (test_pane_dimensions.py).  A new Textual fails here first, by name.
"""

from __future__ import annotations

import textual

from vnet_tui.ui.cells import rate_cell
from vnet_tui.ui.fasttable import WRITTEN_FOR

from .pilot import SIZE, loaded, recorded_app, screen_text


def test_written_for_this_textual():
    assert textual.__version__.startswith(WRITTEN_FOR), (
        f"ui/fasttable.py mirrors textual {WRITTEN_FOR}x's DataTable internals (_data, _row_locations, the "
        f"render caches, _update_dimensions); check it against {textual.__version__} and update WRITTEN_FOR")


async def test_set_cells_draws_what_update_cell_draws():
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        pane = app.main.pane("containers")
        first, second = list(pane.rows_by_key)[:2]
        cells = [(first, "rx", rate_cell("9.9K/s", 10137.6)), (second, "tx", rate_cell("1.0M/s", 1048576.0))]
        pane.set_cells(cells)
        await pilot.pause()
        ours = screen_text(app)
        assert "9.9K/s" in ours and "1.0M/s" in ours
        for row, col, value in cells:
            pane.update_cell(row, col, value)
        await pilot.pause()
        assert screen_text(app) == ours
        assert [r.key for r in pane.visible_rows()] == [r.key.value for r in pane.ordered_rows]  # all fit
