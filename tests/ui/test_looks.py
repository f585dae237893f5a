"""The palette of rows, cells and the detail's words comes from app.tcss (ui/looks.py)."""

from __future__ import annotations

from vnet_tui.ui.looks import LOOKS, ROLES

from .pilot import loaded, recorded_app


async def test_every_look_is_read_from_app_tcss_and_reaches_the_rows() -> None:
    app = recorded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        plain = [r for r in ROLES if not getattr(LOOKS, r.replace("-", "_"))]
        assert not plain, f"roles without a rule in app.tcss (.looks--ROLE): {plain}"
        assert LOOKS.owner.bold and LOOKS.note.dim and LOOKS.aside.italic
        assert LOOKS.up.color is not None and LOOKS.up.color != LOOKS.down.color
        pane = app.main.pane("containers")
        row = next(r for r in pane.rows_by_key.values() if r.host is not None)
        assert row.cells["owner"].style == LOOKS.owner
        assert row.cells["state"].style == LOOKS.of_state(row.cells["state"].plain)
