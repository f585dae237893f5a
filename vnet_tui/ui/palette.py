"""Command palette: every key's action, and 'go to' any adapter by name.

The provider reads the app's state when the palette opens: the selected
adapter (for 'detail of …') and every row of the three panes.  It lists
every key of keys.py, the app's and the main screen's.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from vnet_tui.core.text import visible

from .footer import CHANGE_KEYS
from .keys import KEYS
from .protocol import VnetAppState


def highlight(matcher: Matcher, name: str) -> Content:
    """Like ``Matcher.highlight`` but literal: names are never parsed as markup."""
    content = Content(name)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for o in offsets:
        if not name[o].isspace():
            content = content.stylize(matcher.match_style, o, o + 1)
    return content


class VnetCommands(Provider):
    """Actions of vnet-tui and the adapters on screen."""

    @property
    def vnet(self) -> VnetAppState:
        return cast(VnetAppState, self.app)  # a provider is no DOM node: vnet_app() is for those

    def _actions(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.vnet
        cur = app.selected_row()
        for k in KEYS:
            if k.id in ("next-pane", "prev-pane", "quit"):
                continue
            if not app.read_write and k.id in CHANGE_KEYS:  # read-only: not offered
                continue
            name = k.tooltip.split(":")[0].split(" (")[0]
            if k.id == "detail" and cur is not None:
                name = f"Open the detail of {cur.name}"
            elif k.id == "pair-view" and cur is not None:
                name = f"Open the pair view of {cur.name}"
            on = app.main if k.on == "main" else None  # a main-screen key runs there, whatever screen is up
            yield name, f"key {k.shown_as}", partial(app.run_action, k.action, on)

    def _adapters(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.vnet
        for pane, rows in app.visible_rows().items():
            for row in rows:
                yield f"Go to {visible(row.name)}", f"{pane} pane", partial(app.go_to, pane, row.key)

    async def discover(self) -> Hits:
        for name, help_text, cb in self._actions():
            yield DiscoveryHit(Content(name), cb, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, cb in list(self._actions()) + list(self._adapters()):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, highlight(matcher, name), cb, text=name, help=help_text)
