"""How the main screen follows the app's state: what it watches, and the one guard for state that
arrives while its panes are torn down (the feed posts until it is stopped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input

from vnet_tui.core.model import Topology
from vnet_tui.live.feed import Sample

from .header import StatusHeader
from .panes import Pane
from .protocol import VnetAppState, vnet_app


class FollowsApp(Screen):
    """The main screen's half that watches the app (main.py's MainScreen is the other)."""

    _topo_shown = False  # a topology has been shown (the first moves to the Containers pane)

    if TYPE_CHECKING:
        def pane(self, name: str) -> Pane: ...
        def show_topology(self, topo: Topology) -> None: ...
        def show_sample(self, sample: Sample) -> None: ...
        def show_detail(self) -> None: ...
        def set_sort(self, mode: str) -> None: ...

    @property
    def vnet(self) -> VnetAppState:
        return vnet_app(self)

    def follow_app(self) -> None:
        """Watch the app's state (on mount); show what came before this screen did."""
        app = self.vnet
        h = self.query_one(StatusHeader)
        h.server, h.read_write, h.why = app.feed.label, app.read_write, app.why
        # the header says the operator's choices and the feed's problem as the app has them
        for state in ("interval", "paused", "problem", "filter_text"):
            self.watch(app, state, self._header_follows(state))  # type: ignore[arg-type]
        self.watch(app, "sort_mode", self._sort_follows)  # type: ignore[arg-type]
        self.watch(app, "topo", self._topo_follows, init=False)  # type: ignore[arg-type]
        self.watch(app, "sample", self._sample_follows, init=False)  # type: ignore[arg-type]
        self.watch(app, "policy_words", lambda: self._follow(self.show_detail), init=False)  # type: ignore[arg-type]
        self.watch(app, "guest_ips", self._guest_ips_follow, init=False)  # type: ignore[arg-type]
        if app.topo is not None:  # the feed was quicker than this screen
            self._show_new_topology(app.topo)
            if app.sample is not None:
                self.show_sample(app.sample)

    def _follow(self, show: Callable[[], None]) -> None:
        """Run ``show`` if the panes are there to show it: the feed posts until it is stopped, and a
        message that arrives while the app exits (or, under load, in the moment its screens are
        removed) is dropped, never a NoMatches."""
        if not self._panes_up():
            return
        try:
            show()
        except NoMatches:  # torn down while it was being shown
            if self._panes_up():
                raise

    composed_panes: list[Pane] = []  # compose fills it

    def _panes_up(self) -> bool:
        # the panes as composed, not a query: a query matches every node of the screen (43), and this
        # runs for every sample
        return self.is_mounted and self.is_attached and bool(self.composed_panes) \
            and all(p.is_attached for p in self.composed_panes)

    def _header_follows(self, state: str) -> Callable[[object], None]:
        def follow(value: object) -> None:
            setattr(self.query_one(StatusHeader), state, value)
        return follow

    def _sort_follows(self, mode: str) -> None:
        if mode != self.query_one(StatusHeader).sort:
            self._follow(lambda: self.set_sort(mode))

    def _topo_follows(self, topo: Optional[Topology]) -> None:
        if topo is not None:
            self._follow(lambda: self._show_new_topology(topo))

    def _show_new_topology(self, topo: Topology) -> None:
        self.query_one(StatusHeader).server = self.vnet.feed.label
        first = not self._topo_shown
        self._topo_shown = True
        self.show_topology(topo)
        if first and topo.containers and not isinstance(self.focused, Input):
            self.pane("containers").focus()  # start on an adapter (unless the operator is typing a filter)

    def _sample_follows(self, sample: Optional[Sample]) -> None:
        if sample is not None:
            self._follow(lambda: self.show_sample(sample))

    def _guest_ips_follow(self) -> None:
        topo = self.vnet.topo
        if topo is not None:
            self._follow(lambda: self.show_topology(topo))
