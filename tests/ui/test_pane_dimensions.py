"""FastTable._update_dimensions (ui/fasttable.py: widths from each cell's cell_len) gives what DataTable's own gives.

DataTable renders and measures every new row through the console: 5,000
rows cost seconds of a first paint.  FastTable's version reads the widths
off the cells; this test runs both on the same rows (every pane of the
recorded topology, with rates and an untrusted name) and compares the
columns' widths and the virtual size.  It names the Textual version the
override was written against: a new Textual must be checked again.
"""

from __future__ import annotations

import textual
from textual.widgets import DataTable

from .pilot import SIZE, loaded, recorded_app

WRITTEN_FOR = "8.2."


def widths_and_size(pane, how) -> tuple[list[int], tuple[int, int]]:  # type: ignore[no-untyped-def]
    for c in pane.columns.values():
        c.content_width = 0
    how(pane, list(pane.rows))
    return [c.content_width for c in pane.columns.values()], tuple(pane.virtual_size)


async def test_the_same_widths_and_size_as_datatables_own():
    assert textual.__version__.startswith(WRITTEN_FOR), (
        f"FastTable._update_dimensions mirrors textual {WRITTEN_FOR}x's DataTable._update_dimensions; "
        f"check it against {textual.__version__} and update WRITTEN_FOR")
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("host", "containers", "vms"):
            pane = app.main.pane(name)
            assert pane.row_count > 0
            theirs = widths_and_size(pane, DataTable._update_dimensions)
            ours = widths_and_size(pane, type(pane)._update_dimensions)
            assert ours == theirs, name
