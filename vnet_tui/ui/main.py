"""The main screen: header, the three panes, the detail pane, filter bar, footer.

It follows the app's state (``watch``, follow.py): a new topology or
sample, the policy and guest addresses read, the operator's choices
(interval, pause, sort, filter) and the feed's problem; the app never
looks inside it.  The keys that act on the selected adapter (``enter p a
e d``) are bound here, their actions in mainkeys.py; the app binds only
the keys that act on any screen.
"""

from __future__ import annotations

import gc
from typing import Optional

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable

from vnet_tui.core.gcpause import gc_held_off
from vnet_tui.core.gcsteady import enable_steady
from vnet_tui.core.model import Topology
from vnet_tui.live.feed import Sample

from .detail import DetailView
from .filter import FilterBar
from .follow import FollowsApp
from .footer import KeyFooter
from .header import StatusHeader
from .keys import main_bindings
from .layout import DETAIL_BIG, DETAIL_FULL, plan
from .looks import LOOKS
from .mainkeys import MainKeys
from .panes import Pane
from .rowbuild import RowCache, all_rows, changed_rows
from .rows import Row, matches

PANES = ("host", "containers", "vms")
FIRST_ROWS = 150  # a big server's first paint: this many rows a pane (more than any screen shows) …
FILL_STEP = 1000  # … then this many more after each refresh, until every row is in
FILL_WAIT = 2.0  # s: the fill starts after the first sample is drawn, or this long after the first rows
FREEZE_ABOVE = 1000  # rows built anew by one topology past which they are frozen (MainScreen._freeze)


def _is_adapter(pane: str, r: Row) -> bool:
    """Whether the row shows an adapter: a container row with a host end, a VM row with a guest end."""
    return bool(r.host) if pane == "containers" else bool(r.guest) if pane == "vms" else False


def _adapters(rows: dict[str, list[Row]]) -> int:
    """Adapters the rows show."""
    return sum(1 for p, rs in rows.items() for r in rs if _is_adapter(p, r))


class MainScreen(MainKeys, FollowsApp):
    """Host, Containers and VMs visible together, and the selected adapter."""

    BINDINGS = [Binding("escape", "clear_filter", "clear filter", id="clear-filter",
                        tooltip="Clear the filter kept with enter")] + main_bindings()
    SHOWS_POLICY = True  # the app reads the shown host end's policy again while this is up

    def __init__(self) -> None:
        super().__init__(id="main")
        self.rows: dict[str, list[Row]] = {p: [] for p in PANES}
        self.row_cache = RowCache()
        self.last_pane = "host"
        self.detail_choice: Optional[bool] = None  # the operator's `i`; None: by the terminal's height
        self._hot: frozenset[tuple[int, int]] = frozenset()  # the ends last told to the feed (tell_hot)
        self._fill_limit: Optional[int] = None  # rows a pane holds while a big first topology fills in
        self._fill_waits = False  # the fill waits for the first sample (refilter, show_sample)
        self._detail_for: tuple[object, object] = (None, None)  # (row, sample) the detail pane last showed
        self._shown_serial: Optional[int] = None  # the feed's number of the topology on screen (Change.serial)
        self._adapters = 0  # adapters the rows show (the header's count), kept up to date by a change's rows
        self._row_pos: dict[str, dict[str, int]] = {}  # pane -> row key -> its place in self.rows[pane]
        self._shown_looks = -1  # the palette (LOOKS.generation) the rows were last all built in

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        self.composed_panes = [Pane(p) for p in PANES]
        for pane in self.composed_panes:
            pane.on_cursor = self._cursor_moved
        with Vertical(id="panes"):
            yield from self.composed_panes
        yield DetailView(id="detail")
        yield FilterBar()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.pane("host").focus()
        self.follow_app()
        self.relayout()

    def on_resize(self) -> None:
        self.relayout()

    # -- layout ------------------------------------------------------------
    def relayout(self) -> None:
        """Size the panes by their rows and the detail pane by what is left (layout.py)."""
        w, h = self.size
        if h <= 0:
            return
        filter_open = self.query_one(FilterBar).has_class("open")
        room = h - 2 - (1 if filter_open else 0)  # header, footer, filter bar
        panes = [self.pane(p) for p in PANES]
        p = plan(w, room, [x.row_count for x in panes], self.detail_choice)
        self.set_class(p.compact, "compact")
        for pane, n in zip(panes, p.panes):
            if pane.styles.height is None or pane.styles.height.value != n:
                pane.styles.height = n
        detail = self.query_one(DetailView)
        was_folded = detail.has_class("folded")
        detail.set_class(not p.detail_open, "folded")
        detail.set_class(p.detail_open and p.detail >= DETAIL_BIG, "tall")
        detail.set_class(p.detail_open and p.detail < DETAIL_FULL, "short")  # facts and counters, no sparklines
        if detail.styles.height is None or detail.styles.height.value != p.detail:
            detail.styles.height = p.detail
        if was_folded != detail.has_class("folded"):
            detail._title_shown = None
            self.show_detail()

    def toggle_detail(self) -> None:
        """`i`: fold or unfold the detail pane (overrides the choice made by the terminal's height)."""
        detail = self.query_one(DetailView)
        self.detail_choice = detail.has_class("folded")
        self.relayout()

    def set_titles(self) -> None:
        """Each pane's title: its name, how many rows it shows, and "no matches" when a filter hides all."""
        q = self.vnet.filter_text
        for p in PANES:
            pane = self.pane(p)
            pane.show_title(len(self.rows[p]), q)

    def pane(self, name: str) -> Pane:
        return self.query_one(f"#{name}", Pane)

    def row_at(self, pane: str, key: str) -> Optional[Row]:
        """The row ``key`` of ``pane`` as shown now (None: gone, or hidden by the filter)."""
        try:
            return self.pane(pane).rows_by_key.get(key)
        except NoMatches:
            return None

    # -- data --------------------------------------------------------------
    def show_topology(self, topo: Topology) -> None:
        """New structure: rows added/removed/changed in place, never a rebuild.

        A topology that says what changed since the one on screen (``Topology.change``) updates those
        rows alone (``_show_changed``): at 5,000 containers an outside `ip link set … down` no longer
        walks 10,000 rows."""
        if self._show_changed(topo):
            adapters = self._adapters
        else:
            built = self.row_cache.built
            self.rows = self._all_rows(topo)
            self._row_pos, self._shown_looks = {}, LOOKS.generation
            self.refilter()
            if self.row_cache.built - built > FREEZE_ABOVE and self._fill_limit is None:
                self._freeze()
            adapters = self._adapters = _adapters(self.rows)
        self._shown_serial = topo.change.serial if topo.change is not None else None
        self.query_one(StatusHeader).counts = (
            f"{len(topo.containers)} containers · {len(topo.vms)} VMs · {adapters} adapters")

    def _all_rows(self, topo: Topology) -> dict[str, list[Row]]:
        """Every pane's rows, built with the cyclic GC held off: at 5,000 containers the complete picture's
        10,000 rows (after the first screenful's) met three or four full collections, 0.1-0.3 s each, over
        the objects made so far; what lives on is frozen after (``_freeze``)."""
        with gc_held_off():
            return all_rows(topo, self.row_cache, self.vnet.guest_ips)

    def _show_changed(self, topo: Topology) -> bool:
        """Update only the rows ``topo.change`` names, if it counts from the topology on screen and every
        row is shown (no filter, the first fill done); False: the caller shows it whole."""
        ch = topo.change
        if ch is None or ch.after is None or ch.after != self._shown_serial or self._fill_limit is not None \
                or self.vnet.filter_text or LOOKS.generation != self._shown_looks:
            return False  # (a new palette: every row is built again, in its colours)
        fresh = changed_rows(topo, self.row_cache, self.vnet.guest_ips)
        if fresh is None:
            return False
        for p in PANES:
            if not self._row_pos.get(p) and self.rows[p]:
                self._row_pos[p] = {r.key: n for n, r in enumerate(self.rows[p])}
        swaps: dict[str, list[tuple[int, Row]]] = {}
        for p, rows in fresh.items():
            pos, held = self._row_pos.get(p, {}), self.rows[p]
            if p == "vms" and [r.key for r in rows] != [r.key for r in held]:
                return False
            for r in rows:
                n = pos.get(r.key)
                if n is None:
                    return False  # a row that was not there: the whole picture
                if held[n] is not r:
                    swaps.setdefault(p, []).append((n, r))
        for p, changes in swaps.items():
            held = self.rows[p] = list(self.rows[p])
            for n, r in changes:
                self._adapters += _is_adapter(p, r) - _is_adapter(p, held[n])
                held[n] = r
            self.pane(p).replace_rows([r for _, r in changes], self.vnet.sample)
        if swaps:
            self.show_detail()
        return True

    def refilter(self) -> None:
        q = self.vnet.filter_text
        limit = self._fill_limit
        if limit is None and not any(self.pane(p).row_count for p in PANES) \
                and max(len(r) for r in self.rows.values()) > FIRST_ROWS:
            limit = self._fill_limit = FIRST_ROWS  # a big server's first rows: a screenful first
        for p in PANES:
            rows = [r for r in self.rows[p] if matches(r, q)] if q else self.rows[p]
            pane = self.pane(p)
            pane.show_rows(rows if limit is None else rows[:limit])
            if self.vnet.sample is not None:
                pane.show_rates(self.vnet.sample, full=True)
        self.set_titles()
        self.keep_focus_on_rows()
        self.relayout()
        self.show_detail()
        if limit is not None:
            # the rest fills in after the first screenful has had its first sample drawn: a fill step
            # before it held the first picture's sample back by 0.1-0.3 s at 5,000 containers
            # (or FILL_WAIT at most: a feed that stopped or is paused brings no sample)
            self._fill_waits = self.vnet.sample is None
            if self._fill_waits:
                self.set_timer(FILL_WAIT, self._fill_after_sample)
            else:
                self.call_after_refresh(self._fill_more)

    def _fill_after_sample(self) -> None:
        if self._fill_waits and self._fill_limit is not None:
            self._fill_waits = False
            self.call_after_refresh(self._fill_more)

    def _fill_more(self) -> None:
        """After the screen showed what it holds: FILL_STEP more rows a pane, until all are in."""
        if self._fill_limit is None:
            return
        self._fill_limit += FILL_STEP
        if self._fill_limit >= max(len(r) for r in self.rows.values()):
            self._fill_limit = None
        self.refilter()
        if self._fill_limit is None:
            self._freeze()
            enable_steady()  # (off while the rows filled in: app.py)

    @property
    def filling(self) -> bool:
        """A big server's rows are still filling in (a screenful first, the rest after the first sample)."""
        return self._fill_limit is not None

    @staticmethod
    def _freeze() -> None:
        """Many new rows, all in, living as long as their panes: out of the cyclic GC's way, as the first
        picture is (app.py).  At 5,000 containers a full collection over 10,000 rows' objects took 0.4 s,
        every few seconds, at random moments (a key press, an outside change).  The young generations are
        collected first, so little garbage is frozen with them."""
        gc.collect(1)
        gc.freeze()

    def keep_focus_on_rows(self) -> None:
        """If the focused pane holds no row (a filter hid them all), move to the first that does."""
        focused = self.focused
        if isinstance(focused, Pane) and focused.row_count:
            return
        if focused is not None and not isinstance(focused, Pane):
            return  # the filter bar, typing
        self.focus_rows()

    def focus_rows(self) -> None:
        """Focus the last pane used if it has rows, else the first pane that has."""
        for p in [self.last_pane] + [p for p in PANES if p != self.last_pane]:
            if self.pane(p).row_count:
                self.pane(p).focus()
                self.last_pane = p
                return

    def show_sample(self, sample: Sample) -> None:
        for p in PANES:
            self.pane(p).show_rates(sample)
        self.show_detail()
        self._fill_after_sample()  # the first screenful's first sample: the rest fills in
        # once drawn: on a big server the first "hot" set is what starts the watcher reading the rest of the
        # containers (live/watcher.py), work that slowed the very first screen when it started before it
        self.call_after_refresh(self.tell_hot)

    def tell_hot(self) -> None:
        """Tell the feed which ends are on screen (and the selected adapter's): on a server past its
        sweep budget, those are read every sweep and the rest in turns."""
        set_hot = getattr(self.vnet.feed, "set_hot", None)
        if set_hot is None:
            return
        hot: set[tuple[int, int]] = set()
        for p in PANES:
            for row in self.pane(p).visible_rows():
                if row.end is not None:
                    hot.add(row.end)
        row = self.selected_row()
        for end in (row.guest, row.host) if row is not None else ():
            if end is not None and end.key is not None:
                hot.add(end.key)
        frozen = frozenset(hot)
        if frozen != self._hot:
            self._hot = frozen
            set_hot(frozen)

    def set_sort(self, mode: str) -> None:
        self.query_one(StatusHeader).sort = mode
        for p in PANES:
            self.pane(p).set_sort(mode)

    # -- selection ---------------------------------------------------------
    def selected_row(self) -> Optional[Row]:
        """The row under the cursor of the focused pane (or of the last one focused)."""
        focused = self.focused
        if isinstance(focused, Pane):
            self.last_pane = focused.pane
        return self.pane(self.last_pane).current

    def show_detail(self) -> None:
        row = self.selected_row()
        self._detail_for = (row, self.vnet.sample)
        self.query_one(DetailView).show(row, self.vnet.sample, self.vnet.feed.history, self.vnet.policy_for(row))

    def _cursor_moved(self, pane: Pane) -> None:
        self.last_pane = pane.pane
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, Pane):
            self.last_pane = event.data_table.pane
            shown_row, shown_sample = self._detail_for
            if self.selected_row() is not shown_row or self.vnet.sample is not shown_sample:
                self.show_detail()  # (the cursor's move showed it already, in its own frame: on_cursor)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, Pane):
            self.last_pane = event.data_table.pane
            self.action_detail()

    def on_descendant_focus(self, event: object) -> None:
        if isinstance(self.focused, Pane) and self.focused.pane != self.last_pane:
            self.last_pane = self.focused.pane
            self.show_detail()

    def visible_rows(self) -> dict[str, list[Row]]:
        """Each pane's rows as they are on screen (filtered), in order."""
        return {p: list(self.pane(p).rows_by_key.values()) for p in ("host", "containers", "vms")}

    def go_to(self, pane: str, key: str) -> None:
        p = self.pane(pane)
        if key in p.rows_by_key:
            p.focus()
            p.move_cursor(row=p.get_row_index(key))
            self.last_pane = pane
            self.show_detail()

    # -- filter ------------------------------------------------------------
    def open_filter(self) -> None:
        self.query_one(FilterBar).open()
        self.relayout()

    def on_filter_bar_filter_changed(self, event: FilterBar.FilterChanged) -> None:
        self.vnet.filter_text = event.text  # the header follows
        self.refilter()
        self.refresh_bindings()

    def on_filter_bar_filter_done(self, event: FilterBar.FilterDone) -> None:
        self.relayout()
        self.focus_rows()

    def action_clear_filter(self) -> None:
        """Esc on the panes: drop a kept filter."""
        if self.vnet.filter_text:
            self.query_one(FilterBar).value = ""
            self.on_filter_bar_filter_changed(FilterBar.FilterChanged(self.query_one(FilterBar), ""))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        if action == "clear_filter":
            return bool(self.vnet.filter_text)  # shown in the footer only while a filter is kept
        return True
