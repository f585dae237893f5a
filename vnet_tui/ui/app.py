"""The vnet-tui app: runs a feed in a thread worker and routes its messages.

Layout and widgets live in main.py, detail.py, help.py; keys in keys.py;
colours and sizes in app.tcss.  The feed (live.watcher.Watcher, or a
recording) never touches a widget: its callbacks post coalescing messages.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Optional

from textual import work
from textual.actions import SkipAction
from textual.app import App
from textual.reactive import var
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.live.feed import Feed, Sample, step_interval
from vnet_tui.live.privilege import privilege

from . import changes
from .detail import DetailScreen, DetailView, host_ifname
from .header import StatusHeader
from .help import HelpScreen
from .keys import bindings
from .main import MainScreen
from .messages import CountersUpdated, FeedFailed, GuestIpsRead, PolicyRead, RecoveryNotes, TopologyChanged
from .palette import VnetCommands
from .panes import SORTS, Pane
from .rows import Row


POLICY_EVERY = 3.0  # seconds between reads of the shown host end's policy
POLICY_SETTLE = 0.25  # seconds the selection rests before its policy is read
GUEST_IPS_EVERY = 5.0  # seconds between asking the lab VMs' guest agents for their addresses


class VnetApp(App):
    """Host, containers and VMs of one server, live."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "vnet-tui"
    BINDINGS = bindings()
    COMMANDS = App.COMMANDS | {VnetCommands}

    # the feed's latest topology and sample: screens and widgets follow them (watch), none polls the app;
    # always_update: each message is news, and comparing 10,000 rows to learn so would cost more
    topo: var[Optional[Topology]] = var(None, always_update=True, init=False)
    sample: var[Optional[Sample]] = var(None, always_update=True, init=False)

    def __init__(self, feed: Feed, read_only: bool = False, caps: Optional[int] = None,
                 server: Optional[Server] = None) -> None:
        super().__init__()
        self.feed = feed
        self.server = server if server is not None else getattr(feed, "server", None)
        self.read_write, self.why = privilege(read_only, caps)
        self.filter_text = ""
        self.sort_mode = "name"
        self.detail_key: Optional[tuple[str, str]] = None  # (pane, row key) shown full size
        self.loaded = False  # the first topology and sample are on screen
        self.interval = feed.interval
        self.paused = False
        self.policy_words: dict[str, list[str]] = {}  # the shown host end's policy (read.summary), by ifname
        self.policy_asked: Optional[str] = None  # the host end whose policy is shown (and re-read)
        self._policy_timer: Optional[Timer] = None  # the read of a new selection's policy, once it rests
        self.guest_ips: dict = {}  # lab VMs' NIC addresses as their agents last said (discovery.guestips)
        self.vm_facts: tuple = ()  # the VMs and NICs the guest addresses were last asked for

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    @property
    def main(self) -> MainScreen:
        return self.screen_stack[0]  # type: ignore[return-value]

    def main_ready(self) -> None:
        """The main screen is composed: fill the header, start the feed."""
        h = self.main.query_one(StatusHeader)
        h.server, h.read_write, h.why = self.feed.label, self.read_write, self.why
        h.interval = self.interval
        self.main.pane("host").focus()
        # until the first topology is on screen, no cyclic GC: discovery and the first rows allocate
        # millions of objects that live as long as the app, and full collections over them were half
        # the cost of building 10,000 rows (5,000 containers); _show_topology freezes them, then enables
        gc.disable()
        self.run_feed()
        if self.server is not None:
            self.set_interval(POLICY_EVERY, self.refresh_policy, name="policy")
            self.set_interval(GUEST_IPS_EVERY, self.refresh_guest_ips, name="guest-ips")
        if self.read_write and self.server is not None:
            self.recover_at_start()

    # -- changes an earlier process left half-made (the write-ahead journal) ----------
    @work(thread=True, group="recovery", description="settle interrupted changes", exit_on_error=False)
    def recover_at_start(self) -> None:
        from vnet_tui.txn import recover

        try:
            notes = recover.at_start()
        except Exception as e:  # at_start never raises; should it, say so rather than stop the app
            notes = [f"interrupted changes not settled: {type(e).__name__}: {e}"]
        if notes:
            self.post_message(RecoveryNotes(notes))

    def on_recovery_notes(self, msg: RecoveryNotes) -> None:
        for note in msg.notes:
            self.notify(note, title="settled at start: an interrupted change", severity="warning", timeout=15,
                        markup=False)

    # -- the shown adapter's policy (read in a worker, never on the UI thread) --------
    def policy_for(self, row: Optional[Row]) -> Optional[list[str]]:
        """The policy words of ``row``'s host end as last read; a new selection starts a read."""
        name = host_ifname(row) if self.server is not None else None
        if name != self.policy_asked:
            self.policy_asked = name
            if name is not None:
                # once the cursor rests: a key held down through a thousand rows asks nothing (the read
                # may run nft as a process of its own: policy/nft.py, past ~1,000 open descriptors)
                if self._policy_timer is not None:
                    self._policy_timer.stop()
                self._policy_timer = self.set_timer(POLICY_SETTLE, lambda: self._read_if_shown(name))
        return self.policy_words.get(name) if name is not None else None

    def _read_if_shown(self, name: str) -> None:
        self._policy_timer = None
        if name == self.policy_asked:
            self.read_policy(name)

    def refresh_policy(self) -> None:
        """Every few seconds, while an adapter's detail is on screen: read its policy again."""
        if self.policy_asked is not None and isinstance(self.screen, (MainScreen, DetailScreen)):
            self.read_policy(self.policy_asked)

    @work(thread=True, group="policy", exclusive=True, exit_on_error=False, description="policy read")
    def read_policy(self, ifname: str) -> None:
        from vnet_tui.policy import read as pread

        assert self.server is not None
        try:
            words = pread.summary(pread.read_many(self.server.host_netns, [ifname])[ifname])
        except Exception:  # gone, not ours to read, no such namespace: nothing shown
            words = []
        self.post_message(PolicyRead(ifname, words))

    def on_policy_read(self, msg: PolicyRead) -> None:
        if msg.ifname != self.policy_asked or self.policy_words.get(msg.ifname) == msg.words:
            return
        self.policy_words = {msg.ifname: msg.words}  # only the shown one: nothing kept for rows gone
        if not self.main_shown():
            return
        try:
            self.main.show_detail()
            self._refresh_big_detail()
        except NoMatches:
            if self.main_shown():
                raise

    # -- lab VMs' guest addresses (their agents, asked in a worker) ------------------
    def refresh_guest_ips(self) -> None:
        from vnet_tui.discovery import guestips

        if any(type(s).__name__ == "PairScreen" for s in self.screen_stack):
            return  # the pair view polls a guest agent every second: an agent takes one client at a time
        if self.topo is not None and self.server is not None and guestips.askable(self.topo.vms):
            self.read_guest_ips(list(self.topo.vms))

    @work(thread=True, group="guest-ips", exclusive=True, exit_on_error=False, description="guest agents")
    def read_guest_ips(self, vms: list) -> None:
        from vnet_tui.discovery import guestips

        ips, silent = guestips.read(vms)
        self.post_message(GuestIpsRead(ips, silent))

    def on_guest_ips_read(self, msg: GuestIpsRead) -> None:
        # a VM that did not answer this time keeps what it said last; VMs gone are forgotten
        alive = {vm.pid for vm in self.topo.vms} if self.topo is not None else set()
        ips = {k: v for k, v in self.guest_ips.items() if k[0] in msg.silent and k[0] in alive}
        ips.update(msg.ips)
        if ips == self.guest_ips:
            return
        self.guest_ips = ips
        if self.topo is None or not self.main_shown():
            return
        try:
            self.main.show_topology(self.topo)
            self._refresh_big_detail()
        except NoMatches:
            if self.main_shown():
                raise

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

    def main_shown(self) -> bool:
        """The main screen is there to show a message: composed, and not being torn down.

        The feed's thread posts until it is stopped; a message that arrives
        while the app exits (or, under load, in the moment its screens are
        removed) is dropped, never a NoMatches.
        """
        if not self.screen_stack or self._exit or not self.is_running:
            return False
        main = self.screen_stack[0]
        return isinstance(main, MainScreen) and main.is_mounted and main.is_attached and bool(main.query(Pane))

    def on_feed_failed(self, msg: FeedFailed) -> None:
        gc.enable()  # no first topology to wait for
        if not self.main_shown():
            return
        self.main.query_one(StatusHeader).problem = msg.reason
        self.notify(msg.reason, title="live data stopped", severity="error", timeout=10)

    def on_topology_changed(self, msg: TopologyChanged) -> None:
        if not self.main_shown():
            return
        try:
            self._show_topology(msg)
        except NoMatches:  # torn down while it was being shown
            if self.main_shown():
                raise

    def _show_topology(self, msg: TopologyChanged) -> None:
        first = self.topo is None
        self.topo = msg.topo
        h = self.main.query_one(StatusHeader)
        h.server, h.problem = self.feed.label, ""  # a topology after a stop: `r` started the feed again
        self.main.show_topology(msg.topo)
        if self.policy_asked is not None and not first:  # a change may have been a policy's
            self.read_policy(self.policy_asked)
        vms = tuple((vm.pid, vm.running, tuple(a.guest_mac for a in vm.adapters)) for vm in msg.topo.vms)
        if vms != self.vm_facts:  # a VM new, gone or changed: ask its agent now, not at the next round
            self.vm_facts = vms
            self.refresh_guest_ips()
        if first and msg.topo.containers and not isinstance(self.main.focused, Input):
            self.main.pane("containers").focus()  # start on an adapter (unless the operator is typing a filter)
        if first:
            # what was just built lives as long as the app: keep the cyclic GC from walking it again
            # and again (with 1,000 containers full collections cost tens of ms, at random moments)
            gc.freeze()
            gc.enable()
        self._refresh_big_detail()

    def on_counters_updated(self, msg: CountersUpdated) -> None:
        if not self.main_shown():
            return
        self.sample = msg.sample
        try:
            self.main.show_sample(msg.sample)
            self._refresh_big_detail()
        except NoMatches:
            if self.main_shown():
                raise
            return
        self.loaded = self.topo is not None

    def on_unmount(self) -> None:
        self.feed.stop()

    # -- state the palette and tests read ---------------------------------
    def selected_row(self) -> Optional[Row]:
        return self.main.selected_row()

    def visible_rows(self) -> dict[str, list[Row]]:
        return {p: list(self.main.pane(p).rows_by_key.values()) for p in ("host", "containers", "vms")}

    def go_to(self, pane: str, key: str) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.main.go_to(pane, key)

    def _refresh_big_detail(self) -> None:
        if isinstance(self.screen, DetailScreen) and self.detail_key:
            pane, key = self.detail_key
            try:
                row = self.main.pane(pane).rows_by_key.get(key)
                self.screen.query_one(DetailView).show(row, self.sample, self.feed.history, self.policy_for(row))
            except NoMatches:  # the detail screen is closing
                pass

    # -- actions (keys.py binds them) --------------------------------------
    def action_detail(self) -> None:
        row = self.selected_row()
        if row is None or isinstance(self.screen, DetailScreen):
            return
        self.detail_key = (self.main.last_pane, row.key)
        self.push_screen(DetailScreen(), callback=lambda _: setattr(self, "detail_key", None))
        self.call_after_refresh(self._refresh_big_detail)

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
        self.main.set_sort(self.sort_mode)
        self.notify(f"sorted by {self.sort_mode}{' rate' if self.sort_mode != 'name' else ''}", timeout=2)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.feed.set_paused(self.paused)
        self.main.query_one(StatusHeader).paused = self.paused

    def action_interval(self, direction: int) -> None:
        self.interval = step_interval(self.interval, direction)
        self.feed.set_interval(self.interval)
        self.main.query_one(StatusHeader).interval = self.interval

    def action_resync(self) -> None:
        self.feed.resync()
        self.notify("resync: re-reading every namespace and VM", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_add(self) -> None:
        await changes.add(self)

    async def action_edit(self) -> None:
        await changes.edit(self)

    async def action_delete(self) -> None:
        await changes.delete(self)

    async def action_undo(self) -> None:
        await changes.undo(self)

    def action_pair(self) -> None:
        from .pair import open_pair_view

        open_pair_view(self)

    def action_reserved(self, what: str) -> None:
        self.notify(f"{what}: coming soon (not in this build)", timeout=3)
