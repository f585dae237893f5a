"""The main screen's keys: what ``enter p a e d`` do with the selected adapter.

They are the main screen's (keys.py marks them ``on="main"``), not the
app's: they act on its selection.  The screens above it that still take
them (the detail screen, the pair view) run these same actions through
``keys.MainKeysAbove``; the palette runs them on the main screen too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from textual.screen import Screen

from . import changes
from .detail import DetailScreen
from .protocol import vnet_app
from .rows import Row


class MainKeys(Screen):
    """The main screen's half that acts on its selection (main.py's MainScreen is the rest)."""

    if TYPE_CHECKING:
        last_pane: str

        def selected_row(self) -> Optional[Row]: ...
        def row_at(self, pane: str, key: str) -> Optional[Row]: ...

    def action_detail(self) -> None:
        """``enter``: the selected adapter's detail, full size (it follows that row)."""
        row = self.selected_row()
        if row is None or isinstance(self.app.screen, DetailScreen):
            return
        pane, key = self.last_pane, row.key
        self.app.push_screen(DetailScreen(lambda: self.row_at(pane, key)))

    def action_pair(self) -> None:
        """``p``: the pair view of the selected adapter."""
        from .pair import open_pair_view  # deferred: the pair view's stack loads when first opened

        open_pair_view(self.app)  # type: ignore[arg-type]

    async def action_add(self) -> None:
        await changes.add(vnet_app(self))

    async def action_edit(self) -> None:
        await changes.edit(vnet_app(self))

    async def action_delete(self) -> None:
        await changes.delete(vnet_app(self))
