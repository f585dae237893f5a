"""A tick writes the rate cells of the rows on screen; a row off screen keeps its new value and gets its
cells when it comes on screen (issue 14: work follows what is seen).  Sorting by rate writes every row."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from vnet_tui.core.rates import Rate
from vnet_tui.live.feed import Sample
from vnet_tui.ui.panes import COLUMNS, Pane
from vnet_tui.ui.rows import Row, natural_key

ROWS = 300


def row(i: int) -> Row:
    name = f"ct{i:03d}"
    cells = {k: Text(f"{k}-{name}") for k, _ in COLUMNS["containers"] if k not in ("rx", "tx")}
    return Row(key=f"c:{name}", cells=cells, name=name, end=(7, i), natural=natural_key(name))


class OnePane(App):
    def compose(self) -> ComposeResult:
        yield Pane("containers")


async def holding(pilot, app: OnePane) -> tuple[Pane, list[Row]]:
    """The pane, focused, holding ROWS rows (no rates yet)."""
    pane = app.query_one(Pane)
    pane.focus()
    rows = [row(i) for i in range(ROWS)]
    pane.show_rows(rows)
    await pilot.pause()
    return pane, rows


def shown_rx(pane: Pane, key: str) -> str:
    return pane.get_cell(key, "rx").plain


async def test_off_screen_rates_wait_for_the_screen_and_are_right_when_seen() -> None:
    app = OnePane()
    async with app.run_test(size=(120, 20)) as pilot:
        pane, rows = await holding(pilot, app)
        first = {r.end: Rate(1024.0, 2048.0, 1.0, 1.0) for r in rows}
        pane.show_rates(Sample(1.0, {}, first, None), full=True)
        await pilot.pause()
        seen = pane.on_screen_rows()
        assert 5 < len(seen) < 30 and "c:ct000" in seen
        assert shown_rx(pane, "c:ct000") == "1.0K/s"
        last = rows[-1].key
        assert last not in seen and shown_rx(pane, last) == "·"  # never on screen: never written
        assert last in pane._stale and pane._values[last] == (1024.0, 2048.0)

        # a tick that moves every end: only the rows on screen are written
        second = {r.end: Rate(3 * 1024.0, 2048.0, 1.0, 1.0) for r in rows}
        pane.show_rates(Sample(2.0, {}, second, frozenset(second)))
        await pilot.pause()
        assert shown_rx(pane, "c:ct000") == "3.0K/s"
        assert shown_rx(pane, last) == "·" and pane._values[last] == (3 * 1024.0, 2048.0)

        # scrolled to the end: those rows are drawn with the value of the last tick
        pane.action_scroll_bottom()
        await pilot.pause()
        await app.screen.wait_for_refresh()
        await pilot.pause()
        assert last in pane.on_screen_rows()
        assert shown_rx(pane, last) == "3.0K/s" and last not in pane._stale
        assert "3.0K/s" in app.export_screenshot() and "ct299" in app.export_screenshot()


async def test_sorting_by_rate_writes_every_row_and_orders_by_the_latest_values() -> None:
    app = OnePane()
    async with app.run_test(size=(120, 20)) as pilot:
        pane, rows = await holding(pilot, app)
        rates = {r.end: Rate(float(i), 0.0, 1.0, 1.0) for i, r in enumerate(rows)}  # the last row is fastest
        pane.show_rates(Sample(1.0, {}, rates, None), full=True)
        await pilot.pause()
        assert pane._stale  # sorting by name: the rows below the screen wait
        pane.set_sort("rx")
        await pilot.pause()
        assert not pane._stale
        assert [pane.coordinate_to_cell_key((i, 0)).row_key.value for i in range(3)] == \
            ["c:ct299", "c:ct298", "c:ct297"]
        # while sorting by rate a tick writes rows off screen too (their order depends on them)
        faster = dict(rates)
        faster[rows[0].end] = Rate(10_000.0, 0.0, 1.0, 1.0)
        pane.show_rates(Sample(2.0, {}, faster, frozenset({rows[0].end})))
        await pilot.pause()
        assert pane.coordinate_to_cell_key((0, 0)).row_key.value == "c:ct000"
        assert shown_rx(pane, "c:ct000") == "9.8K/s"
