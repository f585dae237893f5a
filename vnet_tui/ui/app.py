"""The vnet-tui app: owns the feed and the state; screens and widgets follow the state.

The feed (live.watcher.Watcher, or a recording) runs in a thread worker
and never touches a widget: its callbacks post coalescing messages, and
the app turns them into state — ``topo``, ``sample``, ``problem`` — that
the screens watch (main.py, detail.py, the pair view); the operator's
choices (``interval``, ``paused``, ``sort_mode``, ``filter_text``) are
state too.  The app never looks inside a screen.  Side reads (policy,
guest addresses, recovery) are in readers.py; layout and widgets in
main.py, detail.py, help.py; keys in keys.py (the App binds those that act
on any screen, the main screen those that act on the selected adapter);
colours in app.tcss.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Optional

from textual import work
from textual.actions import SkipAction
from textual.reactive import var
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from vnet_tui.core.gcsteady import enable_steady
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.live.feed import Feed, Sample, step_interval
from vnet_tui.live.privilege import privilege

from . import changes
from .cells import SORTS
from .help import HelpScreen
from .keys import bindings
from .main import MainScreen
from .messages import CountersUpdated, FeedFailed, TopologyChanged
from .palette import VnetCommands
from .readers import Readers
from .rows import Row


class VnetApp(Readers):
    """Host, containers and VMs of one server, live."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "vnet-tui"
    BINDINGS = bindings()
    COMMANDS = Readers.COMMANDS | {VnetCommands}

    # the feed's latest topology and sample: screens and widgets follow them (watch), none polls the app;
    # always_update: each message is news, and comparing 10,000 rows to learn so would cost more
    topo: var[Optional[Topology]] = var(None, always_update=True, init=False)
    """The feed's latest topology (None until the first)."""
    sample: var[Optional[Sample]] = var(None, always_update=True, init=False)
    """The feed's latest counters and rates (None until the first)."""
    problem: var[str] = var("", init=False)
    """Why the feed stopped ('' while it runs)."""
    interval: var[float] = var(1.0, init=False)
    """Seconds between samples."""
    paused: var[bool] = var(False, init=False)
    """Counters frozen by the operator."""
    sort_mode: var[str] = var("name", init=False)
    """The panes' order: name, rx or tx (rate)."""
    filter_text: var[str] = var("", init=False)
    """The panes' filter ('' for none)."""

    def __init__(self, feed: Feed, read_only: bool = False, caps: Optional[int] = None,
                 server: Optional[Server] = None) -> None:
        super().__init__()
        self.feed = feed
        self.server = server if server is not None else getattr(feed, "server", None)
        self.read_write, self.why = privilege(read_only, caps)
        self.loaded = False  # the first topology and sample are on screen
        self.interval = feed.interval
        self.init_readers()

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    @property
    def main(self) -> MainScreen:
        """The main screen (the pair view, the palette and tests ask it for rows and the selection)."""
        return self.screen_stack[0]  # type: ignore[return-value]

    def on_mount(self) -> None:
        """Start the feed (the screens show what it brings whenever they are up to it)."""
        # until the first topology is on screen, no cyclic GC: discovery and the first rows allocate
        # millions of objects that live as long as the app, and full collections over them were half
        # the cost of building 10,000 rows (5,000 containers); on_topology_changed freezes them, then enables
        gc.disable()
        self.run_feed()
        self.start_readers()
        if self.read_write and self.server is not None:
            self.recover_at_start()

    # -- the feed ----------------------------------------------------------
    @work(thread=True, group="live", description="netlink watcher", exclusive=True, exit_on_error=False)
    def run_feed(self) -> None:
        self.feed.run(
            lambda t: self.post_message(TopologyChanged(t)),
            lambda s: self.post_message(CountersUpdated(s)),
            lambda why: self.post_message(FeedFailed(why)),
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "live" and event.state == WorkerState.ERROR:
            self.post_message(FeedFailed(f"{event.worker.description}: {event.worker.error}"))

    def taking_feed(self) -> bool:
        """The app is there to take a feed message: the feed's thread posts until it is stopped, and a
        message that arrives while the app exits is dropped."""
        return bool(self.screen_stack) and not self._exit and self.is_running

    def on_feed_failed(self, msg: FeedFailed) -> None:
        gc.enable()  # no first topology to wait for
        if not self.taking_feed():
            return
        self.problem = msg.reason
        self.notify(msg.reason, title="live data stopped", severity="error", timeout=10)

    def on_topology_changed(self, msg: TopologyChanged) -> None:
        if not self.taking_feed():
            return
        first = self.topo is None
        self.problem = ""  # a topology after a stop: `r` started the feed again
        self.topo = msg.topo  # the screens follow
        if self.policy_asked is not None and not first:  # a change may have been a policy's
            self.read_policy(self.policy_asked)
        self.ask_guests_if_vms_changed(msg.topo)
        if first:
            # what was just built lives as long as the app: keep the cyclic GC from walking it again
            # and again (with 1,000 containers full collections cost tens of ms, at random moments)
            gc.freeze()
            if not (self.screen_stack and self.main.filling):
                enable_steady()
            # (a big server's panes are still filling in their rows: the main screen enables it once they
            # are all in and frozen, so no full collection walks them while they come, as before the first)

    def on_counters_updated(self, msg: CountersUpdated) -> None:
        if not self.taking_feed():
            return
        self.sample = msg.sample  # the screens follow
        self.loaded = self.topo is not None

    def on_unmount(self) -> None:
        self.feed.stop()

    # -- state the palette, the pair view and tests read -------------------
    def selected_row(self) -> Optional[Row]:
        return self.main.selected_row()

    def visible_rows(self) -> dict[str, list[Row]]:
        return self.main.visible_rows()

    def go_to(self, pane: str, key: str) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.main.go_to(pane, key)

    # -- actions of the keys that act on any screen (keys.py binds them; the selection's are main.py's) --
    def action_toggle_detail(self) -> None:
        self.main.toggle_detail()

    def action_filter(self) -> None:
        if isinstance(self.focused, Input):
            raise SkipAction()  # a priority binding (keys.py): `/` typed in a field is the field's
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.main.open_filter()

    def action_cycle_sort(self) -> None:
        self.sort_mode = SORTS[(SORTS.index(self.sort_mode) + 1) % len(SORTS)]
        self.notify(f"sorted by {self.sort_mode}{' rate' if self.sort_mode != 'name' else ''}", timeout=2)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.feed.set_paused(self.paused)

    def action_interval(self, direction: int) -> None:
        self.interval = step_interval(self.interval, direction)
        self.feed.set_interval(self.interval)

    def action_resync(self) -> None:
        self.feed.resync()
        self.notify("resync: re-reading every namespace and VM", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_undo(self) -> None:
        await changes.undo(self)

    def action_reserved(self, what: str) -> None:
        self.notify(f"{what}: coming soon (not in this build)", timeout=3)
