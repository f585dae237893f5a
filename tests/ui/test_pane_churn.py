"""Rows that come and go (link churn) leave nothing behind in a pane: its keys and DataTable's render caches
stay bounded by the rows it holds, not by how many it ever held."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from vnet_tui.core.rates import Rate
from vnet_tui.live.feed import Sample
from vnet_tui.ui.panes import COLUMNS, Pane
from vnet_tui.ui.rows import Row, natural_key

BASE, CHURN, CYCLES = 8, 6, 60


def row(name: str, n: int) -> Row:
    cells = {k: Text(f"{k}-{name}") for k, _ in COLUMNS["containers"] if k not in ("rx", "tx")}
    return Row(key=f"c:{name}", cells=cells, name=name, end=(7, n), natural=natural_key(name))


class OnePane(App):
    def compose(self) -> ComposeResult:
        yield Pane("containers")


def cache_sizes(pane: Pane) -> dict[str, int]:
    return {n: len(getattr(pane, n)) for n in Pane.RENDER_CACHES}


def live_strips() -> int:
    from textual.strip import Strip

    return sum(1 for o in gc.get_objects() if type(o) is Strip)


async def churn(monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[Pane, int, dict[str, int], int]:
    app = OnePane()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(Pane)
        pane.focus()
        base = [row(f"ct{i}", i) for i in range(BASE)]
        pane.show_rows(base)
        await pilot.pause()
        most = BASE
        peak: dict[str, int] = {}
        strips_after_first = 0
        for cycle in range(CYCLES):
            extra = [row(f"x{cycle}-{j}", 1000 + cycle * CHURN + j) for j in range(CHURN)]
            rows = base + extra
            most = max(most, len(rows))
            pane.show_rows(rows)
            rates = {r.end: Rate(100.0 * (cycle + 1), 50.0, 1.0, 1.0) for r in rows}
            pane.show_rates(Sample(float(cycle), {}, rates, None))
            pane.move_cursor(row=cycle % len(rows))
            await pilot.pause()  # drawn: the caches fill
            pane.show_rows(base)
            await pilot.pause()
            if cycle == 10:
                gc.collect()
                strips_after_first = live_strips()
            for k, v in cache_sizes(pane).items():
                peak[k] = max(peak.get(k, 0), v)
        assert set(pane.rows_by_key) == {r.key for r in base}  # the path under test did its job
        gc.collect()
        return pane, most, peak, live_strips() - strips_after_first


async def test_churn_keeps_pane_caches_bounded_by_rows() -> None:
    pane, most, peak, strips_grown = await churn()
    cols = len(COLUMNS["containers"])
    assert len(pane._row_key) <= BASE  # keys of rows that are gone are gone
    assert set(pane._row_key) <= set(pane.rows_by_key)
    assert set(pane._rates) <= set(pane.rows_by_key) and set(pane._values) <= set(pane.rows_by_key)
    # a cell is cached at most a few ways (cursor / hover on or off) for the rows held at once
    assert peak["_cell_render_cache"] <= 4 * most * cols, peak
    assert peak["_row_render_cache"] <= 4 * most * 2, peak
    assert peak["_row_renderable_cache"] <= 4 * most, peak
    assert peak["_line_cache"] <= 4 * (most + 1), peak
    # and the Strips they held went with them (50 more cycles after the first count)
    assert strips_grown <= most, strips_grown


async def test_without_forgetting_the_caches_grow_with_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound above is not loose: with the caches left to DataTable's LRU they grow past it."""
    monkeypatch.setattr(Pane, "forget_stale_renders", lambda self: None)
    pane, most, peak, _ = await churn()
    assert peak["_cell_render_cache"] > 4 * most * len(COLUMNS["containers"]), peak
